import { describe, expect, it } from 'vitest';
import { userIdFromPublicKey } from '@discordopus/sdk';
import { VerifiedUserIds, envelopeWireSchema } from './verified-user-ids.ts';

const id = (n: number) => userIdFromPublicKey(new Uint8Array(32).fill(n));

describe('VerifiedUserIds', () => {
  it('accepts well-formed user IDs and refuses everything else, also once cached', () => {
    const verified = new VerifiedUserIds();
    const good = id(1);
    // A one-character change breaks the checksum.
    const typo = `${good.slice(0, -1)}${good.endsWith('q') ? 'p' : 'q'}`;
    for (let i = 0; i < 2; i++) {
      expect(verified.check(good)).toBe(true);
      for (const bad of [typo, good.toUpperCase(), `${good} `, good.slice(0, -1), '', 42, null, undefined, { toString: () => good }, [good]]) {
        expect(verified.check(bad)).toBe(false);
      }
    }
    expect(verified.size).toBe(1);
  });

  it('stays within its capacity under a flood of distinct IDs', () => {
    const verified = new VerifiedUserIds(10);
    for (let n = 0; n < 35; n++) expect(verified.check(id(n))).toBe(true);
    expect(verified.size).toBeLessThanOrEqual(10);
    expect(verified.check(id(0))).toBe(true);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new VerifiedUserIds(0)).toThrow(RangeError);
  });
});

describe('envelopeWireSchema', () => {
  it('checks the recipient through the cache and keeps the protocol rules', () => {
    const schema = envelopeWireSchema(new VerifiedUserIds());
    const to = id(2);
    expect(schema.parse({ to, payload: 'AA' })).toEqual({ to, payload: 'AA' });
    expect(schema.parse({ to, payload: 'AA', seq: 7 })).toEqual({ to, payload: 'AA', seq: 7 });
    for (const bad of [{ to: 'x', payload: 'AA' }, { to, payload: 'A' }, { to, payload: 'AA', extra: 1 }, { to, payload: 'AA', seq: -1 }, { to }, null]) {
      expect(schema.safeParse(bad).success).toBe(false);
    }
    expect(schema.safeParse({ to: 'x', payload: 'AA' }).error?.issues[0]?.path).toEqual(['to']);
  });
});
