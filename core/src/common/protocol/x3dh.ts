import { signedPrekeyMessage } from '@discordopus/sdk';
import type { CryptoProvider, KeyPair } from '../crypto/crypto-provider.ts';
import { CryptoError } from '../crypto/crypto-error.ts';
import { ByteReader, ByteWriter } from '../crypto/byte-codec.ts';
import { utf8 } from '../crypto/bytes.ts';

// The wire protocol owns the signed prekey encoding (the server verifies it too): one definition.
export { signedPrekeyMessage };

/**
 * Signal's X3DH key agreement (https://signal.org/docs/specifications/x3dh/) with one change:
 * identity keys are Ed25519 and sign prekeys directly (no XEdDSA); their X25519 twins
 * (birational map) take part in the DHs.
 *
 * SK = HKDF-SHA256(ikm = 32×0xFF ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], salt = 32 zero bytes,
 *                  info = "DiscordOpus X3DH v1", 32 bytes)
 * AD = IK_A ‖ IK_B (the two raw 32-byte Ed25519 identity public keys, initiator first).
 *
 * The local identity comes in as an {@link X3dhIdentity}, so its secret can stay inside the
 * kernel's IdentityKeyring; {@link x3dhIdentityFromKeyPair} builds one from a key pair.
 */

export const X3DH_VERSION = 1;
const KDF_INFO = utf8('DiscordOpus X3DH v1');
const KDF_PREFIX = new Uint8Array(32).fill(0xff);
const KDF_SALT = new Uint8Array(32);

/** The local identity as X3DH uses it: its public key and DHs with its X25519 twin. */
export interface X3dhIdentity {
  /** Ed25519 identity public key. */
  readonly publicKey: Uint8Array;
  /** X25519 between the identity key's X25519 twin secret and `theirX25519Public`. */
  dh(theirX25519Public: Uint8Array): Uint8Array;
}

/** Signs with the Ed25519 identity key (signed prekeys). */
export interface X3dhSigner {
  sign(message: Uint8Array): Uint8Array;
}

export interface SignedPrekeyPublic {
  readonly id: number;
  /** X25519 public key. */
  readonly publicKey: Uint8Array;
  /** Ed25519 signature by the identity key over `signedPrekeyMessage(id, publicKey)`. */
  readonly signature: Uint8Array;
}

/** A signed prekey with its secret, as its owner keeps it. */
export interface SignedPrekey extends SignedPrekeyPublic {
  readonly secretKey: Uint8Array;
}

export interface OneTimePrekeyPublic {
  readonly id: number;
  readonly publicKey: Uint8Array;
}

export interface OneTimePrekey extends OneTimePrekeyPublic {
  readonly secretKey: Uint8Array;
}

/** What a responder publishes (through the server) so that others can start sessions. */
export interface PrekeyBundle {
  /** Ed25519 identity public key. */
  readonly identityKey: Uint8Array;
  readonly signedPrekey: SignedPrekeyPublic;
  readonly oneTimePrekey?: OneTimePrekeyPublic | undefined;
}

/** Sent by the initiator with its first message(s), so the responder can derive the same secret. */
export interface X3dhInitialHeader {
  /** Initiator's Ed25519 identity public key. */
  readonly identityKey: Uint8Array;
  /** Initiator's ephemeral X25519 public key. */
  readonly ephemeralKey: Uint8Array;
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId?: number | undefined;
}

export interface X3dhResult {
  /** 32-byte secret for `initRatchetInitiator` / `initRatchetResponder`. */
  readonly sharedSecret: Uint8Array;
  /** IK_A ‖ IK_B, to bind into every ratchet message. */
  readonly associatedData: Uint8Array;
}

export interface X3dhInitiatorResult extends X3dhResult {
  readonly header: X3dhInitialHeader;
  /** The responder's signed prekey: the initiator's first remote ratchet key. */
  readonly theirRatchetKey: Uint8Array;
}

function checkId(fn: string, id: unknown): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`${fn}: prekey id must be a u32`);
  return id;
}

function checkKey(fn: string, name: string, value: unknown, length = 32): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${fn}: ${name} must be a Uint8Array`);
  if (value.length !== length) throw new RangeError(`${fn}: ${name} must be ${length} bytes, got ${value.length}`);
  return value;
}

function checkIdentity(fn: string, identity: X3dhIdentity): void {
  checkKey(fn, 'ourIdentity.publicKey', identity?.publicKey);
  if (typeof identity.dh !== 'function') throw new TypeError(`${fn}: ourIdentity.dh must be a function`);
}

/**
 * An {@link X3dhIdentity} and {@link X3dhSigner} over an Ed25519 key pair held in memory, for
 * tests and benchmarks; the kernel passes its IdentityKeyring instead.
 */
export function x3dhIdentityFromKeyPair(crypto: CryptoProvider, identity: KeyPair): X3dhIdentity & X3dhSigner {
  const fn = 'x3dhIdentityFromKeyPair';
  const secretKey = checkKey(fn, 'identity.secretKey', identity?.secretKey).slice();
  const publicKey = checkKey(fn, 'identity.publicKey', identity.publicKey).slice();
  const twin = crypto.ed25519SecretToX25519(secretKey);
  return {
    publicKey,
    dh: (theirX25519Public) => crypto.x25519(twin, theirX25519Public),
    sign: (message) => crypto.ed25519Sign(secretKey, message),
  };
}

/** Makes a fresh signed prekey under `identity` (signs with the Ed25519 identity key). */
export function generateSignedPrekey(crypto: CryptoProvider, identity: X3dhSigner, id: number): SignedPrekey {
  checkId('generateSignedPrekey', id);
  if (typeof identity?.sign !== 'function') throw new TypeError('generateSignedPrekey: identity.sign must be a function');
  const pair = crypto.x25519GenerateKeyPair();
  const signature = identity.sign(signedPrekeyMessage(id, pair.publicKey));
  return { id, publicKey: pair.publicKey, secretKey: pair.secretKey, signature };
}

/** Makes `count` one-time prekeys with ids `firstId`, `firstId + 1`, … */
export function generateOneTimePrekeys(crypto: CryptoProvider, firstId: number, count: number): OneTimePrekey[] {
  checkId('generateOneTimePrekeys', firstId);
  if (!Number.isInteger(count) || count < 0 || firstId + count - 1 > 0xffffffff) throw new RangeError('generateOneTimePrekeys: bad count');
  return Array.from({ length: count }, (_, i) => ({ id: firstId + i, ...crypto.x25519GenerateKeyPair() }));
}

/** The public bundle for one session start (secrets are stripped). */
export function createPrekeyBundle(identityKey: Uint8Array, signedPrekey: SignedPrekeyPublic, oneTimePrekey?: OneTimePrekeyPublic): PrekeyBundle {
  const fn = 'createPrekeyBundle';
  checkKey(fn, 'identityKey', identityKey);
  checkKey(fn, 'signedPrekey.publicKey', signedPrekey?.publicKey);
  checkKey(fn, 'signedPrekey.signature', signedPrekey.signature, 64);
  checkId(fn, signedPrekey.id);
  const bundle: PrekeyBundle = {
    identityKey: identityKey.slice(),
    signedPrekey: { id: signedPrekey.id, publicKey: signedPrekey.publicKey.slice(), signature: signedPrekey.signature.slice() },
  };
  if (oneTimePrekey === undefined) return bundle;
  checkKey(fn, 'oneTimePrekey.publicKey', oneTimePrekey.publicKey);
  checkId(fn, oneTimePrekey.id);
  return { ...bundle, oneTimePrekey: { id: oneTimePrekey.id, publicKey: oneTimePrekey.publicKey.slice() } };
}

function invalidKey(what: string): CryptoError {
  return new CryptoError('crypto/invalid-public-key', `The ${what} in the prekey bundle is not a usable public key; the session was not started. The contact may need to republish their keys.`);
}

/**
 * Checks a bundle from the server: the signed prekey's signature by the identity key, the key
 * lengths, and that no key is a small-order point.
 * @throws CryptoError `crypto/invalid-signature` or `crypto/invalid-public-key`.
 */
export function verifyPrekeyBundle(crypto: CryptoProvider, bundle: PrekeyBundle): void {
  verifyBundleSignature(crypto, bundle);
  // Small-order points give an all-zero DH with any scalar: probe each key once.
  for (const [what, key] of [
    ['identity key', crypto.ed25519PublicToX25519(bundle.identityKey)],
    ['signed prekey', bundle.signedPrekey.publicKey],
    ...(bundle.oneTimePrekey ? [['one-time prekey', bundle.oneTimePrekey.publicKey] as const] : []),
  ] as const) {
    try {
      crypto.x25519(PROBE_SCALAR, key);
    } catch (error) {
      if (error instanceof CryptoError) throw invalidKey(what);
      throw error;
    }
  }
}

const PROBE_SCALAR = new Uint8Array(32).fill(0x42);

function verifyBundleSignature(crypto: CryptoProvider, bundle: PrekeyBundle): void {
  const fn = 'verifyPrekeyBundle';
  checkKey(fn, 'identityKey', bundle?.identityKey);
  checkKey(fn, 'signedPrekey.publicKey', bundle.signedPrekey?.publicKey);
  checkKey(fn, 'signedPrekey.signature', bundle.signedPrekey.signature, 64);
  if (bundle.oneTimePrekey !== undefined) checkKey(fn, 'oneTimePrekey.publicKey', bundle.oneTimePrekey.publicKey);
  const { signedPrekey } = bundle;
  if (!crypto.ed25519Verify(bundle.identityKey, signedPrekeyMessage(signedPrekey.id, signedPrekey.publicKey), signedPrekey.signature)) {
    throw new CryptoError('crypto/invalid-signature', 'The signed prekey in the bundle is not signed by the contact\'s identity key; the session was not started. The server may be tampering with keys: verify the safety number.');
  }
}

/** Wipes the DH outputs and the IKM once the secret is derived (they would re-derive it). */
function deriveSecret(crypto: CryptoProvider, dhs: Uint8Array[]): Uint8Array {
  const ikm = new Uint8Array(32 + 32 * dhs.length);
  ikm.set(KDF_PREFIX);
  dhs.forEach((dh, i) => ikm.set(dh, 32 + 32 * i));
  const secret = crypto.hkdfSha256(ikm, KDF_SALT, KDF_INFO, 32);
  ikm.fill(0);
  for (const dh of dhs) dh.fill(0);
  return secret;
}

function associatedData(initiatorIdentity: Uint8Array, responderIdentity: Uint8Array): Uint8Array {
  const ad = new Uint8Array(64);
  ad.set(initiatorIdentity);
  ad.set(responderIdentity, 32);
  return ad;
}

/**
 * Initiator side: verifies the bundle, then derives the shared secret and the header to send.
 * @throws CryptoError `crypto/invalid-signature` / `crypto/invalid-public-key` for a bad bundle.
 */
export function x3dhInitiate(crypto: CryptoProvider, ourIdentity: X3dhIdentity, theirBundle: PrekeyBundle): X3dhInitiatorResult {
  checkIdentity('x3dhInitiate', ourIdentity);
  // Lengths and signature here; small-order keys make the DHs below throw
  // `crypto/invalid-public-key`, so the probes of verifyPrekeyBundle would be redundant work.
  verifyBundleSignature(crypto, theirBundle);
  const ephemeral = crypto.x25519GenerateKeyPair();
  const spk = theirBundle.signedPrekey.publicKey;
  let dhs: Uint8Array[];
  try {
    dhs = [
      ourIdentity.dh(spk),
      crypto.x25519(ephemeral.secretKey, crypto.ed25519PublicToX25519(theirBundle.identityKey)),
      crypto.x25519(ephemeral.secretKey, spk),
    ];
    if (theirBundle.oneTimePrekey) dhs.push(crypto.x25519(ephemeral.secretKey, theirBundle.oneTimePrekey.publicKey));
  } finally {
    ephemeral.secretKey.fill(0);
  }
  return {
    sharedSecret: deriveSecret(crypto, dhs),
    associatedData: associatedData(ourIdentity.publicKey, theirBundle.identityKey),
    header: {
      identityKey: ourIdentity.publicKey.slice(),
      ephemeralKey: ephemeral.publicKey,
      signedPrekeyId: theirBundle.signedPrekey.id,
      oneTimePrekeyId: theirBundle.oneTimePrekey?.id,
    },
    theirRatchetKey: spk.slice(),
  };
}

/**
 * Responder side. The caller looks up the signed and one-time prekey secrets named by the
 * header's ids (and deletes the one-time prekey once the first message decrypted).
 * @throws CryptoError `crypto/unknown-prekey` when the header names a one-time prekey but none
 *   is given (already used), `crypto/invalid-public-key` for bad keys in the header.
 */
export function x3dhRespond(
  crypto: CryptoProvider,
  ourIdentity: X3dhIdentity,
  ourSignedPrekeySecret: Uint8Array,
  ourOneTimePrekeySecret: Uint8Array | undefined,
  initialHeader: X3dhInitialHeader,
): X3dhResult {
  const fn = 'x3dhRespond';
  checkIdentity(fn, ourIdentity);
  checkKey(fn, 'ourSignedPrekeySecret', ourSignedPrekeySecret);
  checkKey(fn, 'initialHeader.identityKey', initialHeader?.identityKey);
  checkKey(fn, 'initialHeader.ephemeralKey', initialHeader.ephemeralKey);
  if (initialHeader.oneTimePrekeyId !== undefined && ourOneTimePrekeySecret === undefined) {
    throw new CryptoError('crypto/unknown-prekey', `The contact used one-time prekey ${initialHeader.oneTimePrekeyId}, which is no longer available (already used); ask them to start a new session.`);
  }
  if (initialHeader.oneTimePrekeyId === undefined && ourOneTimePrekeySecret !== undefined) {
    throw new TypeError(`${fn}: a one-time prekey secret was given but the header names none`);
  }
  const theirIdentityX = crypto.ed25519PublicToX25519(initialHeader.identityKey);
  const spkSecret = ourSignedPrekeySecret;
  const dhs = [
    crypto.x25519(spkSecret, theirIdentityX),
    ourIdentity.dh(initialHeader.ephemeralKey),
    crypto.x25519(spkSecret, initialHeader.ephemeralKey),
  ];
  if (ourOneTimePrekeySecret !== undefined) dhs.push(crypto.x25519(checkKey(fn, 'ourOneTimePrekeySecret', ourOneTimePrekeySecret), initialHeader.ephemeralKey));
  return { sharedSecret: deriveSecret(crypto, dhs), associatedData: associatedData(initialHeader.identityKey, ourIdentity.publicKey) };
}

function malformed(what: string): CryptoError {
  return new CryptoError('crypto/malformed', `The ${what} is malformed; it was ignored.`);
}

function readVersion(r: ByteReader, what: string): void {
  const version = r.u8();
  if (version !== X3DH_VERSION) throw new CryptoError('crypto/unsupported-version', `The ${what} uses format version ${version}, which this version cannot read; update the app.`);
}

/** version ‖ identity(32) ‖ spk id(u32) ‖ spk(32) ‖ signature(64) ‖ flag ‖ [otpk id(u32) ‖ otpk(32)] */
export function encodePrekeyBundle(bundle: PrekeyBundle): Uint8Array {
  const b = createPrekeyBundle(bundle.identityKey, bundle.signedPrekey, bundle.oneTimePrekey);
  const w = new ByteWriter(170).u8(X3DH_VERSION).fixed(b.identityKey).u32(b.signedPrekey.id).fixed(b.signedPrekey.publicKey).fixed(b.signedPrekey.signature);
  if (b.oneTimePrekey) w.u8(1).u32(b.oneTimePrekey.id).fixed(b.oneTimePrekey.publicKey);
  else w.u8(0);
  return w.finish();
}

/** Parses (does not verify: call `verifyPrekeyBundle`). @throws CryptoError `crypto/malformed`. */
export function decodePrekeyBundle(bytes: Uint8Array): PrekeyBundle {
  checkBytesArg('decodePrekeyBundle', bytes);
  const what = 'prekey bundle';
  const r = new ByteReader(bytes, what);
  readVersion(r, what);
  const identityKey = r.fixed(32);
  const signedPrekey = { id: r.u32(), publicKey: r.fixed(32), signature: r.fixed(64) };
  const flag = r.u8();
  if (flag > 1) throw malformed(what);
  const oneTimePrekey = flag === 1 ? { id: r.u32(), publicKey: r.fixed(32) } : undefined;
  r.end();
  return oneTimePrekey ? { identityKey, signedPrekey, oneTimePrekey } : { identityKey, signedPrekey };
}

/** version ‖ identity(32) ‖ ephemeral(32) ‖ spk id(u32) ‖ flag ‖ [otpk id(u32)] */
export function encodeX3dhHeader(header: X3dhInitialHeader): Uint8Array {
  const fn = 'encodeX3dhHeader';
  const w = new ByteWriter(80).u8(X3DH_VERSION).fixed(checkKey(fn, 'identityKey', header.identityKey)).fixed(checkKey(fn, 'ephemeralKey', header.ephemeralKey)).u32(checkId(fn, header.signedPrekeyId));
  if (header.oneTimePrekeyId !== undefined) w.u8(1).u32(checkId(fn, header.oneTimePrekeyId));
  else w.u8(0);
  return w.finish();
}

/** @throws CryptoError `crypto/malformed` / `crypto/unsupported-version`. */
export function decodeX3dhHeader(bytes: Uint8Array): X3dhInitialHeader {
  checkBytesArg('decodeX3dhHeader', bytes);
  const what = 'session start header';
  const r = new ByteReader(bytes, what);
  readVersion(r, what);
  const identityKey = r.fixed(32);
  const ephemeralKey = r.fixed(32);
  const signedPrekeyId = r.u32();
  const flag = r.u8();
  if (flag > 1) throw malformed(what);
  const oneTimePrekeyId = flag === 1 ? r.u32() : undefined;
  r.end();
  return oneTimePrekeyId === undefined ? { identityKey, ephemeralKey, signedPrekeyId } : { identityKey, ephemeralKey, signedPrekeyId, oneTimePrekeyId };
}

function checkBytesArg(fn: string, bytes: unknown): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${fn}: expected a Uint8Array`);
}
