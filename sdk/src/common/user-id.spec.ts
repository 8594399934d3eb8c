import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { explainUserId, isUserId, parseUserId, userIdFromPublicKey, USER_ID_LENGTH } from './user-id.ts';
import { isAppError } from './errors.ts';

const key = (fill: number) => new Uint8Array(32).fill(fill);
const ALPHABET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

describe('user IDs', () => {
  it('are deterministic, prefixed and of fixed length', () => {
    const id = userIdFromPublicKey(key(7));
    expect(id).toBe(userIdFromPublicKey(key(7)));
    expect(id.startsWith('do1')).toBe(true);
    expect(id).toHaveLength(USER_ID_LENGTH);
    expect(isUserId(id)).toBe(true);
    expect(userIdFromPublicKey(key(8))).not.toBe(id);
  });

  it('rejects every single-character typo instead of resolving it to someone else', () => {
    const id = userIdFromPublicKey(key(1));
    for (let i = 3; i < id.length; i++) {
      for (const c of ALPHABET) {
        if (c === id[i]) continue;
        const typo = id.slice(0, i) + c + id.slice(i + 1);
        expect(isUserId(typo)).toBe(false);
        expect(explainUserId(typo)).toMatch(/Checksum mismatch/);
      }
    }
  });

  it('rejects swapped neighbours and random edits (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 3, max: USER_ID_LENGTH - 2 }), (pub, i) => {
        const id = userIdFromPublicKey(pub);
        if (id[i] === id[i + 1]) return;
        const swapped = id.slice(0, i) + id[i + 1] + id[i] + id.slice(i + 2);
        expect(isUserId(swapped)).toBe(false);
      }),
    );
  });

  it('explains what is wrong with malformed input', () => {
    expect(explainUserId('')).toMatch(/Enter a user ID/);
    expect(explainUserId('bc1qxyz')).toMatch(/starts with "do1"/);
    expect(explainUserId('do1abc')).toMatch(/Too short/);
    expect(explainUserId(`${userIdFromPublicKey(key(2))}q`)).toMatch(/Too long/);
  });

  it('parses pasted IDs with spaces and upper case, and throws a typed error otherwise', () => {
    const id = userIdFromPublicKey(key(3));
    expect(parseUserId(`  ${id.toUpperCase()} `)).toBe(id);
    try {
      parseUserId('do1notavalididatall');
      expect.unreachable();
    } catch (error) {
      expect(isAppError(error, 'identity/invalid-user-id')).toBe(true);
    }
  });

  it('refuses keys of the wrong type or length', () => {
    expect(() => userIdFromPublicKey(new Uint8Array(31))).toThrow(RangeError);
    expect(() => userIdFromPublicKey('x' as unknown as Uint8Array)).toThrow(TypeError);
  });
});
