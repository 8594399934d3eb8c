import { describe, expect, it } from 'vitest';
import { parseIpcCall } from './ipc-call.ts';

describe('parseIpcCall', () => {
  it('accepts a method with object, array or no params', () => {
    expect(parseIpcCall({ method: 'contacts.list' })).toEqual({ method: 'contacts.list', params: undefined });
    expect(parseIpcCall({ method: 'contacts.add', params: { userId: 'x' } })).toEqual({ method: 'contacts.add', params: { userId: 'x' } });
    expect(parseIpcCall({ method: 'a.b', params: [1] }).params).toEqual([1]);
  });

  it.each([
    ['null', null],
    ['a string', 'contacts.list'],
    ['an array', ['contacts.list']],
    ['no method', {}],
    ['a malformed method', { method: 'contacts/../x' }],
    ['an overlong method', { method: `a.${'b'.repeat(100)}` }],
    ['string params', { method: 'a.b', params: 'x' }],
    ['null params', { method: 'a.b', params: null }],
    ['extra keys', { method: 'a.b', channel: 'other' }],
  ])('refuses %s with bridge/invalid-request', (_name, payload) => {
    expect(() => parseIpcCall(payload)).toThrow(expect.objectContaining({ code: 'bridge/invalid-request' }));
  });
});
