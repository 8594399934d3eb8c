import { describe, expect, it } from 'vitest';
import { effectivePermissions, grantsFromList, grantsToList, permissionDenied, topicMatches } from './permissions.ts';

describe('permissions', () => {
  it('gives first-party plugins what they request and third-party plugins only what is also granted', () => {
    const requested = { contacts: true, peers: true, events: ['a.*', 'b.done'] };
    expect(effectivePermissions(requested, true, undefined)).toEqual(requested);
    expect(effectivePermissions(requested, false, undefined)).toEqual({});
    expect(effectivePermissions(requested, false, { peers: true, files: true, events: ['b.done', 'c.*'] })).toEqual({ peers: true, events: ['b.done'] });
  });

  it('matches topics exactly, by prefix or all', () => {
    expect(topicMatches('a.*', 'a.x.y')).toBe(true);
    expect(topicMatches('a.*', 'ab.x')).toBe(false);
    expect(topicMatches('a.x', 'a.x')).toBe(true);
    expect(topicMatches('a.x', 'a.xy')).toBe(false);
    expect(topicMatches('*', 'any.thing')).toBe(true);
  });

  it('stores grants as a list of strings and reads them back', () => {
    const grants = { contacts: true, network: true, events: ['x.*'] };
    expect(grantsToList(grants)).toEqual(['contacts', 'network', 'events:x.*']);
    expect(grantsFromList(grantsToList(grants))).toEqual(grants);
    expect(grantsFromList(['bogus', 'peers'])).toEqual({ peers: true });
  });

  it('says whether the manifest or the user is missing a permission', () => {
    expect(permissionDenied('p', 'contacts', true).message).toContain('not granted');
    expect(permissionDenied('p', 'contacts', false).message).toContain('manifest does not request');
  });
});
