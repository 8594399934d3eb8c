import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signedPrekeyMessage as wireSignedPrekeyMessage } from '@discordopus/sdk';
import { NodeCryptoProvider } from '../../node/crypto/node-crypto-provider.ts';
import { LocalIdentityKeyring } from '../../node/identity/identity-keyring.ts';
import { NobleCryptoProvider } from '../crypto/noble-crypto-provider.ts';
import type { CryptoProvider } from '../crypto/crypto-provider.ts';
import { CryptoError } from '../crypto/crypto-error.ts';
import { cryptoErrorCode } from '../crypto/crypto-test-support.ts';
import { utf8 } from '../crypto/bytes.ts';
import {
  createPrekeyBundle,
  decodePrekeyBundle,
  decodeX3dhHeader,
  encodePrekeyBundle,
  encodeX3dhHeader,
  generateOneTimePrekeys,
  generateSignedPrekey,
  signedPrekeyMessage,
  verifyPrekeyBundle,
  x3dhIdentityFromKeyPair,
  x3dhInitiate,
  x3dhRespond,
} from './x3dh.ts';
import { initRatchetInitiator, initRatchetResponder, ratchetDecrypt, ratchetEncrypt } from './double-ratchet.ts';

const node = new NodeCryptoProvider();
const noble = new NobleCryptoProvider();

const code = cryptoErrorCode;

function setup(crypto: CryptoProvider) {
  const alice = x3dhIdentityFromKeyPair(crypto, crypto.ed25519GenerateKeyPair());
  const bobKeys = crypto.ed25519GenerateKeyPair();
  const bob = x3dhIdentityFromKeyPair(crypto, bobKeys);
  const spk = generateSignedPrekey(crypto, bob, 7);
  const [otpk] = generateOneTimePrekeys(crypto, 100, 1);
  return { alice, bob, bobKeys, spk, otpk: otpk! };
}

describe.each([
  ['node', node, node],
  ['noble', noble, noble],
  ['node→noble', node, noble],
] as const)('X3DH (%s)', (_name, initiatorCrypto, responderCrypto) => {
  it.each([true, false])('both sides derive the same secret and AD (one-time prekey: %s), and a ratchet session runs on it', (withOtpk) => {
    const { alice, bob, bobKeys, spk, otpk } = setup(initiatorCrypto);
    const bundle = decodePrekeyBundle(encodePrekeyBundle(createPrekeyBundle(bob.publicKey, spk, withOtpk ? otpk : undefined)));
    const init = x3dhInitiate(initiatorCrypto, alice, bundle);
    const header = decodeX3dhHeader(encodeX3dhHeader(init.header));
    expect(header.oneTimePrekeyId).toBe(withOtpk ? 100 : undefined);
    expect(header.signedPrekeyId).toBe(7);
    const resp = x3dhRespond(responderCrypto, x3dhIdentityFromKeyPair(responderCrypto, bobKeys), spk.secretKey, withOtpk ? otpk.secretKey : undefined, header);
    expect(resp.sharedSecret).toEqual(init.sharedSecret);
    expect(resp.associatedData).toEqual(init.associatedData);
    expect(init.associatedData).toEqual(Uint8Array.of(...alice.publicKey, ...bob.publicKey));

    const a = ratchetEncrypt(initiatorCrypto, initRatchetInitiator(initiatorCrypto, { ...init }), utf8('hi bob'));
    const bobState = initRatchetResponder(responderCrypto, { ...resp, ourRatchetKeyPair: { publicKey: spk.publicKey, secretKey: spk.secretKey } });
    expect(ratchetDecrypt(responderCrypto, bobState, a.message, 1).plaintext).toEqual(utf8('hi bob'));
  });
});

describe('X3DH failures', () => {
  it('rejects a bundle whose signature does not match (tampered key, id or signature)', () => {
    const { bob, spk } = setup(node);
    const good = createPrekeyBundle(bob.publicKey, spk);
    verifyPrekeyBundle(node, good);
    const flipped = spk.publicKey.slice();
    flipped[0]! ^= 1;
    const sig = spk.signature.slice();
    sig[5]! ^= 1;
    const other = x3dhIdentityFromKeyPair(node, node.ed25519GenerateKeyPair());
    for (const bad of [
      { ...good, signedPrekey: { ...good.signedPrekey, publicKey: flipped } },
      { ...good, signedPrekey: { ...good.signedPrekey, id: 8 } },
      { ...good, signedPrekey: { ...good.signedPrekey, signature: sig } },
      { ...good, identityKey: other.publicKey },
    ]) {
      expect(code(() => verifyPrekeyBundle(node, bad))).toBe('crypto/invalid-signature');
      expect(code(() => x3dhInitiate(node, other, bad))).toBe('crypto/invalid-signature');
    }
  });

  it('rejects small-order prekeys even when validly signed', () => {
    const { alice, bob, otpk } = setup(node);
    const zero = new Uint8Array(32);
    const signature = bob.sign(signedPrekeyMessage(1, zero));
    const badSpk = createPrekeyBundle(bob.publicKey, { id: 1, publicKey: zero, signature });
    expect(code(() => verifyPrekeyBundle(node, badSpk))).toBe('crypto/invalid-public-key');
    expect(code(() => x3dhInitiate(node, alice, badSpk))).toBe('crypto/invalid-public-key');
    const spk = generateSignedPrekey(node, bob, 2);
    const badOtpk = createPrekeyBundle(bob.publicKey, spk, { id: otpk.id, publicKey: Uint8Array.of(1, ...new Uint8Array(31)) });
    expect(code(() => verifyPrekeyBundle(node, badOtpk))).toBe('crypto/invalid-public-key');
    expect(code(() => x3dhInitiate(node, alice, badOtpk))).toBe('crypto/invalid-public-key');
  });

  it('responder: missing one-time prekey, small-order ephemeral key, wrong arguments', () => {
    const { alice, bob, spk, otpk } = setup(node);
    const init = x3dhInitiate(node, alice, createPrekeyBundle(bob.publicKey, spk, otpk));
    expect(code(() => x3dhRespond(node, bob, spk.secretKey, undefined, init.header))).toBe('crypto/unknown-prekey');
    expect(code(() => x3dhRespond(node, bob, spk.secretKey, otpk.secretKey, { ...init.header, ephemeralKey: new Uint8Array(32) }))).toBe('crypto/invalid-public-key');
    expect(() => x3dhRespond(node, bob, spk.secretKey, otpk.secretKey, { ...init.header, oneTimePrekeyId: undefined })).toThrow(TypeError);
    expect(() => x3dhRespond(node, bob, spk.secretKey.subarray(1), otpk.secretKey, init.header)).toThrow(RangeError);
    expect(() => x3dhInitiate(node, alice, { ...createPrekeyBundle(bob.publicKey, spk), identityKey: 'x' as unknown as Uint8Array })).toThrow(TypeError);
    expect(() => generateSignedPrekey(node, bob, -1)).toThrow(RangeError);
    expect(() => generateSignedPrekey(node, {} as never, 1)).toThrow(TypeError);
    expect(() => x3dhInitiate(node, { publicKey: alice.publicKey } as never, createPrekeyBundle(bob.publicKey, spk))).toThrow(TypeError);
    expect(() => x3dhRespond(node, { ...bob, publicKey: bob.publicKey.subarray(1) }, spk.secretKey, otpk.secretKey, init.header)).toThrow(RangeError);
    expect(() => x3dhIdentityFromKeyPair(node, { publicKey: alice.publicKey, secretKey: new Uint8Array(31) })).toThrow(RangeError);
    // A wrong signed prekey secret gives a different secret: the first message will not decrypt.
    const wrong = x3dhRespond(node, bob, node.randomBytes(32), otpk.secretKey, init.header);
    expect(wrong.sharedSecret).not.toEqual(init.sharedSecret);
  });

  it('decoders reject truncated, padded, unknown-version and bad-flag input', () => {
    const { alice, bob, spk, otpk } = setup(node);
    const bundle = encodePrekeyBundle(createPrekeyBundle(bob.publicKey, spk, otpk));
    const header = encodeX3dhHeader(x3dhInitiate(node, alice, decodePrekeyBundle(bundle)).header);
    for (const [decode, bytes] of [
      [decodePrekeyBundle, bundle],
      [decodeX3dhHeader, header],
    ] as const) {
      expect(code(() => decode(bytes.subarray(0, bytes.length - 1)))).toBe('crypto/malformed');
      expect(code(() => decode(Uint8Array.of(...bytes, 0)))).toBe('crypto/malformed');
      expect(code(() => decode(new Uint8Array(0)))).toBe('crypto/malformed');
      const v = bytes.slice();
      v[0] = 2;
      expect(code(() => decode(v))).toBe('crypto/unsupported-version');
      const flag = bytes.slice();
      flag[decode === decodePrekeyBundle ? 133 : 69] = 5;
      expect(code(() => decode(flag))).toBe('crypto/malformed');
      expect(() => decode('x' as unknown as Uint8Array)).toThrow(TypeError);
    }
  });

  it('decoders never throw anything but CryptoError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, versioned) => {
        const input = versioned && bytes.length > 0 ? Uint8Array.of(1, ...bytes.subarray(1)) : bytes;
        for (const decode of [decodePrekeyBundle, decodeX3dhHeader]) {
          try {
            decode(input);
          } catch (e) {
            expect(e).toBeInstanceOf(CryptoError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('X3DH with the kernel IdentityKeyring as the local identity', () => {
  for (const crypto of [node, noble]) {
    it(`agrees with the key-pair identity both ways, with and without a one-time prekey (${crypto.name})`, () => {
      const aliceKeys = crypto.ed25519GenerateKeyPair();
      const bobKeys = crypto.ed25519GenerateKeyPair();
      const aliceRing = new LocalIdentityKeyring(crypto, aliceKeys.secretKey, 'alice');
      const bobRing = new LocalIdentityKeyring(crypto, bobKeys.secretKey, 'bob');
      const alicePair = x3dhIdentityFromKeyPair(crypto, aliceKeys);
      const bobPair = x3dhIdentityFromKeyPair(crypto, bobKeys);
      // Ed25519 is deterministic: the keyring signs a prekey exactly as the key pair does.
      const spk = generateSignedPrekey(crypto, bobRing, 7);
      expect(spk.signature).toEqual(bobPair.sign(signedPrekeyMessage(7, spk.publicKey)));
      const [otpk] = generateOneTimePrekeys(crypto, 8, 1);
      for (const oneTime of [otpk!, undefined]) {
        const bundle = createPrekeyBundle(bobRing.publicKey, spk, oneTime);
        for (const [initiator, responder] of [[aliceRing, bobPair], [alicePair, bobRing], [aliceRing, bobRing]] as const) {
          const init = x3dhInitiate(crypto, initiator, bundle);
          const resp = x3dhRespond(crypto, responder, spk.secretKey, oneTime?.secretKey, init.header);
          expect(resp.sharedSecret).toEqual(init.sharedSecret);
          expect(resp.associatedData).toEqual(init.associatedData);
          expect(init.associatedData).toEqual(Uint8Array.of(...aliceKeys.publicKey, ...bobKeys.publicKey));
        }
      }
    });
  }

  it('refuses a small-order ephemeral key', () => {
    const bob = new LocalIdentityKeyring(node, node.ed25519GenerateKeyPair().secretKey, 'bob');
    const spk = generateSignedPrekey(node, bob, 1);
    const header = { identityKey: node.ed25519GenerateKeyPair().publicKey, ephemeralKey: new Uint8Array(32), signedPrekeyId: 1 };
    expect(code(() => x3dhRespond(node, bob, spk.secretKey, undefined, header))).toBe('crypto/invalid-public-key');
  });
});

describe('signedPrekeyMessage', () => {
  it('is the wire protocol\'s definition, re-exported', () => {
    expect(signedPrekeyMessage).toBe(wireSignedPrekeyMessage);
  });
});
