import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AeadAlgorithm, CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import { NobleCryptoProvider } from '../../common/crypto/noble-crypto-provider.ts';
import { isCryptoError } from '../../common/crypto/crypto-error.ts';
import { NodeCryptoProvider } from './node-crypto-provider.ts';

// Random inputs through both backends must give byte-identical outputs.
const node = new NodeCryptoProvider();
const noble = new NobleCryptoProvider();
const bytes = (min = 0, max = 300) => fc.uint8Array({ minLength: min, maxLength: max });
const key32 = bytes(32, 32);
const runs = { numRuns: 60 };

describe('node and noble backends agree', () => {
  it('sha256, sha512, hmac-sha256, hmac-sha512', () => {
    fc.assert(
      fc.property(bytes(), bytes(0, 100), (data, key) => {
        expect(node.sha256(data)).toEqual(noble.sha256(data));
        expect(node.sha512(data)).toEqual(noble.sha512(data));
        expect(node.hmacSha256(key, data)).toEqual(noble.hmacSha256(key, data));
        expect(node.hmacSha512(key, data)).toEqual(noble.hmacSha512(key, data));
      }),
      runs,
    );
  });

  it('hkdf-sha256', () => {
    fc.assert(
      fc.property(bytes(0, 80), bytes(0, 80), bytes(0, 200), fc.integer({ min: 0, max: 600 }), (ikm, salt, info, length) => {
        expect(node.hkdfSha256(ikm, salt, info, length)).toEqual(noble.hkdfSha256(ikm, salt, info, length));
      }),
      runs,
    );
  });

  it.each(['chacha20-poly1305', 'aes-256-gcm'] as AeadAlgorithm[])('%s seal/open across backends', (alg) => {
    fc.assert(
      fc.property(key32, bytes(12, 12), bytes(0, 2000), fc.option(bytes(0, 100), { nil: undefined }), (key, nonce, pt, ad) => {
        const a = node.aeadSeal(alg, key, nonce, pt, ad);
        expect(a).toEqual(noble.aeadSeal(alg, key, nonce, pt, ad));
        expect(noble.aeadOpen(alg, key, nonce, a, ad)).toEqual(pt);
        expect(node.aeadOpen(alg, key, nonce, a, ad)).toEqual(pt);
      }),
      runs,
    );
  });

  it('aead rejects any flipped bit identically in both backends', () => {
    fc.assert(
      fc.property(key32, bytes(12, 12), bytes(1, 200), bytes(0, 20), fc.nat(), (key, nonce, pt, ad, pick) => {
        const sealed = node.aeadSeal('chacha20-poly1305', key, nonce, pt, ad);
        const bad = sealed.slice();
        const bit = pick % (bad.length * 8);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        for (const c of [node, noble]) {
          expect(() => c.aeadOpen('chacha20-poly1305', key, nonce, bad, ad)).toThrowError(expect.objectContaining({ code: 'crypto/auth-failed' }));
        }
      }),
      runs,
    );
  });

  it('x25519 of random keys and public key derivation', () => {
    fc.assert(
      fc.property(key32, key32, (a, b) => {
        const pa = node.x25519PublicKey(a);
        expect(pa).toEqual(noble.x25519PublicKey(a));
        const pb = noble.x25519PublicKey(b);
        expect(node.x25519(a, pb)).toEqual(noble.x25519(a, pb));
        expect(node.x25519(b, pa)).toEqual(node.x25519(a, pb));
      }),
      { numRuns: 30 },
    );
  });

  it('x25519 of arbitrary 32-byte public values: same result or same error', () => {
    fc.assert(
      fc.property(key32, key32, (sk, pk) => {
        const outcome = (c: CryptoProvider) => {
          try {
            return c.x25519(sk, pk);
          } catch (e) {
            return isCryptoError(e) ? e.code : e;
          }
        };
        expect(outcome(node)).toEqual(outcome(noble));
      }),
      { numRuns: 30 },
    );
  });

  it('ed25519 sign (deterministic), verify, conversions', () => {
    fc.assert(
      fc.property(key32, bytes(), (seed, msg) => {
        const pub = node.ed25519PublicKey(seed);
        expect(pub).toEqual(noble.ed25519PublicKey(seed));
        const sig = node.ed25519Sign(seed, msg);
        expect(sig).toEqual(noble.ed25519Sign(seed, msg));
        expect(noble.ed25519Verify(pub, msg, sig)).toBe(true);
        expect(node.ed25519Verify(pub, msg, sig)).toBe(true);
        const other = msg.length > 0 ? msg.slice(1) : Uint8Array.of(1);
        expect(node.ed25519Verify(pub, other, sig)).toBe(false);
        expect(noble.ed25519Verify(pub, other, sig)).toBe(false);
        expect(node.ed25519PublicToX25519(pub)).toEqual(noble.ed25519PublicToX25519(pub));
        expect(node.ed25519SecretToX25519(seed)).toEqual(noble.ed25519SecretToX25519(seed));
        // The X25519 twin of the secret matches the twin of the public key.
        expect(node.x25519PublicKey(node.ed25519SecretToX25519(seed))).toEqual(node.ed25519PublicToX25519(pub));
      }),
      { numRuns: 30 },
    );
  });

  it('generated key pairs are consistent in both backends', () => {
    for (const c of [node, noble]) {
      const ed = c.ed25519GenerateKeyPair();
      expect(node.ed25519PublicKey(ed.secretKey)).toEqual(ed.publicKey);
      expect(noble.ed25519PublicKey(ed.secretKey)).toEqual(ed.publicKey);
      expect(ed.secretKey).toHaveLength(32);
      expect(c.ed25519GenerateKeyPair().secretKey).not.toEqual(ed.secretKey);
      const x = c.x25519GenerateKeyPair();
      expect(noble.x25519PublicKey(x.secretKey)).toEqual(x.publicKey);
      expect(node.x25519PublicKey(x.secretKey)).toEqual(x.publicKey);
      expect(x.secretKey).toHaveLength(32);
      expect(c.x25519GenerateKeyPair().secretKey).not.toEqual(x.secretKey);
      expect(c.randomBytes(33)).toHaveLength(33);
      expect(c.randomBytes(32)).not.toEqual(c.randomBytes(32));
    }
  });

  it('scrypt with small N, progress reported up to 1', async () => {
    await fc.assert(
      fc.asyncProperty(bytes(0, 40), bytes(0, 40), fc.constantFrom(2, 16, 64), fc.integer({ min: 1, max: 4 }), async (pw, salt, N, r) => {
        const params = { N, r, p: 1, dkLen: 32 };
        const seen: number[] = [];
        const a = await node.scrypt(pw, salt, params, (f) => seen.push(f));
        expect(a).toEqual(await noble.scrypt(pw, salt, params));
        expect(seen.at(-1)).toBe(1);
      }),
      { numRuns: 15 },
    );
  });
});

describe.each([node, noble])('$name backend: bad inputs', (c) => {
  it('rejects non-Uint8Array arguments with TypeError and wrong lengths with RangeError', () => {
    expect(() => c.sha256('abc' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => c.hmacSha256(new Uint8Array(1), [1, 2] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => c.hmacSha512('key' as unknown as Uint8Array, new Uint8Array(1))).toThrow(TypeError);
    expect(() => c.ed25519Sign(new Uint8Array(31), new Uint8Array(1))).toThrow(RangeError);
    expect(() => c.x25519(new Uint8Array(32), new Uint8Array(33))).toThrow(RangeError);
    expect(() => c.aeadSeal('chacha20-poly1305', new Uint8Array(16), new Uint8Array(12), new Uint8Array(1))).toThrow(RangeError);
    expect(() => c.aeadSeal('des' as AeadAlgorithm, new Uint8Array(32), new Uint8Array(12), new Uint8Array(1))).toThrow(TypeError);
    expect(() => c.hkdfSha256(new Uint8Array(1), new Uint8Array(0), new Uint8Array(0), 255 * 32 + 1)).toThrow(RangeError);
    expect(() => c.hkdfSha256(new Uint8Array(1), new Uint8Array(0), new Uint8Array(0), 1.5)).toThrow(TypeError);
    expect(() => c.randomBytes(-1)).toThrow(RangeError);
    expect(() => c.hkdfSha256(new Uint8Array(1), new Uint8Array(0), new Uint8Array(1025), 32)).toThrow(RangeError);
    expect(c.hkdfSha256(new Uint8Array(1), new Uint8Array(0), new Uint8Array(1024), 32)).toHaveLength(32);
  });

  it('rejects bad scrypt parameters', async () => {
    await expect(c.scrypt(new Uint8Array(1), new Uint8Array(1), { N: 3, r: 1, p: 1, dkLen: 32 })).rejects.toThrow(RangeError);
    await expect(c.scrypt(new Uint8Array(1), new Uint8Array(1), { N: 16, r: 0, p: 1, dkLen: 32 })).rejects.toThrow(RangeError);
  });

  it('ed25519Verify returns false for malformed keys and signatures, never throws', () => {
    const { publicKey, secretKey } = c.ed25519GenerateKeyPair();
    const msg = Uint8Array.of(1, 2, 3);
    const sig = c.ed25519Sign(secretKey, msg);
    expect(c.ed25519Verify(publicKey.subarray(1), msg, sig)).toBe(false);
    expect(c.ed25519Verify(publicKey, msg, sig.subarray(1))).toBe(false);
    expect(c.ed25519Verify(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
  });

  it('aeadOpen on input shorter than a tag is auth-failed', () => {
    expect(() => c.aeadOpen('aes-256-gcm', new Uint8Array(32), new Uint8Array(12), new Uint8Array(15))).toThrowError(expect.objectContaining({ code: 'crypto/auth-failed' }));
  });

  it('accepts Buffer inputs and returns plain Uint8Array', () => {
    const out = c.sha256(Buffer.from('abc'));
    expect(out.constructor).toBe(Uint8Array);
    expect(c.x25519PublicKey(Buffer.alloc(32, 7)).constructor).toBe(Uint8Array);
  });

  it('returns arrays that own their whole buffer (no pooled slices carrying other bytes along)', async () => {
    const ownsBuffer = (b: Uint8Array) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.constructor === Uint8Array;
    const ed = c.ed25519GenerateKeyPair();
    const x = c.x25519GenerateKeyPair();
    const k = c.randomBytes(32);
    const n = c.randomBytes(12);
    const sealed = c.aeadSeal('chacha20-poly1305', k, n, Uint8Array.of(1, 2, 3), Uint8Array.of(4));
    const outputs = [
      ed.publicKey, ed.secretKey, x.publicKey, x.secretKey, k, n, sealed,
      c.aeadOpen('chacha20-poly1305', k, n, sealed, Uint8Array.of(4)),
      c.sha256(k), c.sha512(k), c.hmacSha256(k, n), c.hmacSha512(k, n), c.hkdfSha256(k, n, n, 40),
      c.ed25519PublicKey(ed.secretKey), c.ed25519Sign(ed.secretKey, n),
      c.ed25519PublicToX25519(ed.publicKey), c.ed25519SecretToX25519(ed.secretKey),
      c.x25519PublicKey(x.secretKey), c.x25519(x.secretKey, c.x25519GenerateKeyPair().publicKey),
      await c.scrypt(k, n, { N: 16, r: 1, p: 1, dkLen: 32 }),
    ];
    for (const [i, out] of outputs.entries()) expect(ownsBuffer(out), `output ${i}`).toBe(true);
  });

  it('ed25519PublicToX25519 of a non-point is crypto/invalid-public-key', () => {
    // y = 2 is not on the curve (no square root for x).
    const bad = new Uint8Array(32);
    bad[0] = 2;
    expect(() => c.ed25519PublicToX25519(bad)).toThrowError(expect.objectContaining({ code: 'crypto/invalid-public-key' }));
  });
});
