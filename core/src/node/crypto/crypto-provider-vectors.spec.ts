import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import { NobleCryptoProvider } from '../../common/crypto/noble-crypto-provider.ts';
import { isCryptoError } from '../../common/crypto/crypto-error.ts';
import { fromHex, toHex } from '../../common/crypto/bytes.ts';
import { NodeCryptoProvider } from './node-crypto-provider.ts';

// Known-answer tests: every vector runs through both backends.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const vectorDir = path.resolve(repoRoot, '../shared/vectors/wycheproof');

interface WycheproofFile<G> {
  testGroups: (G & { tests: Record<string, any>[] })[];
}
function wycheproof<G = Record<string, any>>(name: string): WycheproofFile<G> {
  return JSON.parse(readFileSync(path.join(vectorDir, name), 'utf8')) as WycheproofFile<G>;
}

const backends: CryptoProvider[] = [new NodeCryptoProvider(), new NobleCryptoProvider()];
const h = fromHex;

describe.each(backends)('$name backend: known answers', (crypto) => {
  it('RFC 5869 HKDF-SHA256 cases 1-3', () => {
    const range = (from: number, to: number) => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);
    const ikm1 = new Uint8Array(22).fill(0x0b);
    expect(toHex(crypto.hkdfSha256(ikm1, range(0x00, 0x0c), range(0xf0, 0xf9), 42))).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
    expect(toHex(crypto.hkdfSha256(range(0x00, 0x4f), range(0x60, 0xaf), range(0xb0, 0xff), 82))).toBe(
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
    );
    expect(toHex(crypto.hkdfSha256(ikm1, new Uint8Array(0), new Uint8Array(0), 42))).toBe(
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    );
  });

  it('RFC 7748 section 5.2 and 6.1 X25519', () => {
    expect(toHex(crypto.x25519(h('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'), h('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c')))).toBe(
      'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    );
    expect(toHex(crypto.x25519(h('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'), h('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493')))).toBe(
      '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
    );
    const alice = h('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = h('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    expect(toHex(crypto.x25519PublicKey(alice))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(toHex(crypto.x25519PublicKey(bob))).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(toHex(crypto.x25519(alice, crypto.x25519PublicKey(bob)))).toBe(shared);
    expect(toHex(crypto.x25519(bob, crypto.x25519PublicKey(alice)))).toBe(shared);
  });

  it('RFC 8032 section 7.1 Ed25519 tests 1-3', () => {
    const cases = [
      ['9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', '', 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'],
      ['4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', '72', '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00'],
      ['c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7', 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025', 'af82', '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a'],
    ] as const;
    for (const [sk, pk, msg, sig] of cases) {
      expect(toHex(crypto.ed25519PublicKey(h(sk)))).toBe(pk);
      expect(toHex(crypto.ed25519Sign(h(sk), h(msg)))).toBe(sig);
      expect(crypto.ed25519Verify(h(pk), h(msg), h(sig))).toBe(true);
    }
  });

  it('Wycheproof X25519 (low-order points rejected with crypto/invalid-public-key)', () => {
    let checked = 0;
    for (const group of wycheproof('x25519_test.json').testGroups) {
      for (const t of group.tests) {
        const run = () => crypto.x25519(h(t.private), h(t.public));
        if (t.shared === '0'.repeat(64)) {
          expect(run, `tcId ${t.tcId}`).toThrowError(expect.objectContaining({ code: 'crypto/invalid-public-key' }));
        } else {
          expect(toHex(run()), `tcId ${t.tcId}`).toBe(t.shared);
        }
        checked++;
      }
    }
    expect(checked).toBe(518);
  });

  it('Wycheproof Ed25519 verify', () => {
    let checked = 0;
    for (const group of wycheproof<{ publicKey: { pk: string } }>('ed25519_test.json').testGroups) {
      const pk = h(group.publicKey.pk);
      for (const t of group.tests) {
        expect(crypto.ed25519Verify(pk, h(t.msg), h(t.sig)), `tcId ${t.tcId} ${t.comment}`).toBe(t.result === 'valid');
        checked++;
      }
    }
    expect(checked).toBe(151);
  });

  it('Wycheproof HKDF-SHA256', () => {
    for (const group of wycheproof('hkdf_sha256_test.json').testGroups) {
      for (const t of group.tests) {
        const run = () => crypto.hkdfSha256(h(t.ikm), h(t.salt), h(t.info), t.size);
        if (t.result === 'valid') expect(toHex(run()), `tcId ${t.tcId}`).toBe(t.okm);
        else expect(run, `tcId ${t.tcId}`).toThrow(RangeError);
      }
    }
  });

  it('Wycheproof HMAC-SHA256 (truncated tags compared on their length)', () => {
    for (const group of wycheproof<{ tagSize: number }>('hmac_sha256_test.json').testGroups) {
      for (const t of group.tests) {
        const tag = toHex(crypto.hmacSha256(h(t.key), h(t.msg)).subarray(0, group.tagSize / 8));
        expect(tag === t.tag, `tcId ${t.tcId}`).toBe(t.result === 'valid');
      }
    }
  });

  it('RFC 4231 HMAC-SHA512 (test cases 1, 2 and 6: short, text and over-long keys)', () => {
    const cases = [
      ['0b'.repeat(20), toHex(new TextEncoder().encode('Hi There')),
        '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854'],
      [toHex(new TextEncoder().encode('Jefe')), toHex(new TextEncoder().encode('what do ya want for nothing?')),
        '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737'],
      ['aa'.repeat(131), toHex(new TextEncoder().encode('Test Using Larger Than Block-Size Key - Hash Key First')),
        '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598'],
    ] as const;
    for (const [key, msg, tag] of cases) expect(toHex(crypto.hmacSha512(h(key), h(msg)))).toBe(tag);
  });

  it.each([
    ['chacha20_poly1305_test.json', 'chacha20-poly1305'],
    ['aes_gcm_test.json', 'aes-256-gcm'],
  ] as const)('Wycheproof %s', (file, algorithm) => {
    let checked = 0;
    for (const group of wycheproof<{ keySize: number; ivSize: number }>(file).testGroups) {
      // Our interface is 256-bit keys and 96-bit nonces; other sizes are programmer errors.
      if (group.keySize !== 256) continue;
      for (const t of group.tests) {
        const [key, iv, aad, msg] = [h(t.key), h(t.iv), h(t.aad), h(t.msg)];
        const sealed = h(t.ct + t.tag);
        if (group.ivSize !== 96) {
          expect(() => crypto.aeadSeal(algorithm, key, iv, msg, aad)).toThrow(RangeError);
          continue;
        }
        if (t.result === 'valid') {
          expect(toHex(crypto.aeadSeal(algorithm, key, iv, msg, aad)), `tcId ${t.tcId}`).toBe(t.ct + t.tag);
          expect(toHex(crypto.aeadOpen(algorithm, key, iv, sealed, aad)), `tcId ${t.tcId}`).toBe(t.msg);
        } else {
          let error: unknown;
          try {
            crypto.aeadOpen(algorithm, key, iv, sealed, aad);
          } catch (e) {
            error = e;
          }
          expect(isCryptoError(error, 'crypto/auth-failed'), `tcId ${t.tcId}`).toBe(true);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });
});
