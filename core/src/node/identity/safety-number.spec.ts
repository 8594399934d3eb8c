import { userIdFromPublicKey } from '@discordopus/sdk';
import { describe, expect, it } from 'vitest';
import { NobleCryptoProvider } from '../../common/crypto/noble-crypto-provider.ts';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { compareSafetyNumberPayload, computeSafetyNumber } from './safety-number.ts';
import type { SafetyParty } from './safety-number.ts';

const crypto = new NobleCryptoProvider();

function party(): SafetyParty {
  const { publicKey } = crypto.ed25519GenerateKeyPair();
  return { publicKey, userId: userIdFromPublicKey(publicKey) };
}

describe('computeSafetyNumber', () => {
  const alice = party();
  const bob = party();

  it('gives 60 digits in 12 groups of 5', () => {
    const n = computeSafetyNumber(crypto, alice, bob);
    expect(n.digits).toMatch(/^\d{60}$/);
    expect(n.groups).toHaveLength(12);
    expect(n.groups.join('')).toBe(n.digits);
    expect(n.groups.every((g) => /^\d{5}$/.test(g))).toBe(true);
  });

  it('is the same on both sides (order-independent), digits and payload', () => {
    const ab = computeSafetyNumber(crypto, alice, bob);
    const ba = computeSafetyNumber(crypto, bob, alice);
    expect(ba).toEqual(ab);
    expect(compareSafetyNumberPayload(ab, ba.payload)).toBe(true);
  });

  it('is deterministic and depends on each key', () => {
    const base = computeSafetyNumber(crypto, alice, bob);
    expect(computeSafetyNumber(crypto, alice, bob)).toEqual(base);
    const carol = party();
    const withCarolForAlice = computeSafetyNumber(crypto, carol, bob);
    const withCarolForBob = computeSafetyNumber(crypto, alice, carol);
    for (const other of [withCarolForAlice, withCarolForBob]) {
      expect(other.digits).not.toBe(base.digits);
      // Each party owns one half: exactly one 30-digit half changes.
      const halves = (d: string) => [d.slice(0, 30), d.slice(30)];
      const shared = halves(base.digits).filter((h) => halves(other.digits).includes(h));
      expect(shared).toHaveLength(1);
      expect(compareSafetyNumberPayload(base, other.payload)).toBe(false);
    }
  });

  it('changes when a single bit of either key changes', () => {
    const base = computeSafetyNumber(crypto, alice, bob);
    for (const who of ['a', 'b'] as const) {
      for (const bit of [0, 77, 255]) {
        const target = who === 'a' ? alice : bob;
        const flipped = Uint8Array.from(target.publicKey);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        const changed = { ...target, publicKey: flipped };
        const n = who === 'a' ? computeSafetyNumber(crypto, changed, bob) : computeSafetyNumber(crypto, alice, changed);
        expect(n.digits).not.toBe(base.digits);
        expect(n.payload).not.toBe(base.payload);
      }
    }
  });

  it('also binds the user ID (stable identifier)', () => {
    const base = computeSafetyNumber(crypto, alice, bob);
    const other = computeSafetyNumber(crypto, { ...alice, userId: bob.userId }, bob);
    expect(other.digits).not.toBe(base.digits);
  });

  it('rejects keys of the wrong length', () => {
    expect(() => computeSafetyNumber(crypto, { ...alice, publicKey: new Uint8Array(31) }, bob)).toThrow(RangeError);
  });
});

describe('known answer', () => {
  // Computed independently with Python's hashlib from the same definition (docs/identity.md).
  const a = { publicKey: Buffer.from('8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c', 'hex'), userId: 'do1j6ecy9wdy9v7tudglwzmm239hq2zgm4l' };
  const b = { publicKey: Buffer.from('8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394', 'hex'), userId: 'do1gyzj9jdrmgd3gjn6cq63wnflfye7w42p' };

  for (const provider of [new NodeCryptoProvider(), new NobleCryptoProvider()]) {
    it(`matches the vector with the ${provider.name} provider`, () => {
      expect(provider.ed25519PublicKey(new Uint8Array(32).fill(1))).toEqual(new Uint8Array(a.publicKey));
      expect(userIdFromPublicKey(new Uint8Array(a.publicKey))).toBe(a.userId);
      const n = computeSafetyNumber(provider, { ...a, publicKey: new Uint8Array(a.publicKey) } as SafetyParty, { ...b, publicKey: new Uint8Array(b.publicKey) } as SafetyParty);
      expect(n.digits).toBe('656785647271763026006521924721673823261112459553060609563081');
      expect(n.payload).toBe('AdLSmN1u9uH3ntgHvHU_82drWioIWrOefeP2TEY2kbwZWX25B1YEqPWIAzEn-9Lrco9RgeqMSwR6TyvJrrJpidA');
    });
  }
});

describe('compareSafetyNumberPayload', () => {
  const n = computeSafetyNumber(crypto, party(), party());

  it('accepts its own payload with surrounding spaces', () => {
    expect(compareSafetyNumberPayload(n.payload, ` ${n.payload}\n`)).toBe(true);
  });

  it('refuses text that is not a payload', () => {
    expect(() => compareSafetyNumberPayload(n, 'hello world')).toThrow(expect.objectContaining({ code: 'identity/invalid-safety-payload' }));
    expect(() => compareSafetyNumberPayload(n, '')).toThrow(expect.objectContaining({ code: 'identity/invalid-safety-payload' }));
  });

  it('refuses a truncated payload', () => {
    expect(() => compareSafetyNumberPayload(n, n.payload.slice(0, 40))).toThrow(expect.objectContaining({ code: 'identity/invalid-safety-payload' }));
  });

  it('refuses another version with a message saying to update', () => {
    const bytes = Buffer.from(n.payload, 'base64url');
    bytes[0] = 9;
    expect(() => compareSafetyNumberPayload(n, bytes.toString('base64url'))).toThrow(/version 9.*Update/);
  });
});
