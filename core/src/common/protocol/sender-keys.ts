import type { CryptoProvider } from '../crypto/crypto-provider.ts';
import { CryptoError } from '../crypto/crypto-error.ts';
import { ByteReader, ByteWriter } from '../crypto/byte-codec.ts';
import { MAX_SKIP, MAX_SKIPPED_KEYS, SKIPPED_KEY_TTL_MS } from './double-ratchet.ts';

/**
 * Sender Keys for group messages, as in Signal's groups: each member has, per epoch, a chain
 * key and an Ed25519 signing key. The member hands its sender key to every other member once
 * (a distribution message, sent over the pairwise Double Ratchet sessions); after that a group
 * message is encrypted once for all. The chain key moves forward per message (forward
 * secrecy); the signature proves which member sent it (the chain key alone is shared by all).
 * Rotation when a member leaves = every remaining member makes a new sender key (new keyId)
 * and distributes it; the group plugin decides when.
 *
 * Like the Double Ratchet, functions are pure: they return a new state and never touch the
 * input, so failures (forgery, replay) leave the old state usable.
 *
 * Chain KDF: message key = HMAC-SHA256(ck, 0x01), next ck = HMAC-SHA256(ck, 0x02); AEAD =
 * ChaCha20-Poly1305 under the single-use message key with a zero nonce (see double-ratchet.ts
 * for why), associated data = the message header; Ed25519 signature over header ‖ ciphertext.
 */

export const SENDER_KEY_VERSION = 1;
const MESSAGE_KEY_SEED = Uint8Array.of(0x01);
const CHAIN_KEY_SEED = Uint8Array.of(0x02);
const ZERO_NONCE = new Uint8Array(12);
/** version ‖ keyId u32 ‖ iteration u32 */
const HEADER_BYTES = 9;
const SIGNATURE_BYTES = 64;
const TAG_BYTES = 16;

export interface SenderSkippedKey {
  readonly iteration: number;
  readonly messageKey: Uint8Array;
  readonly createdAtMs: number;
}

/**
 * One member's sender key for one epoch. The owner's copy has `signingSecretKey`; the copies
 * other members build from the distribution message do not. Immutable value.
 */
export interface SenderKeyState {
  readonly keyId: number;
  readonly chainKey: Uint8Array;
  /** Iteration of the next message to send (owner) or expected (receiver). */
  readonly iteration: number;
  readonly signingPublicKey: Uint8Array;
  readonly signingSecretKey: Uint8Array | undefined;
  /** Keys of skipped iterations (receivers only), oldest first. */
  readonly skipped: ReadonlyMap<number, SenderSkippedKey>;
}

function checkBytes(fn: string, name: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${fn}: ${name} must be a Uint8Array`);
  return value;
}

/** Makes a new sender key for a new epoch. `keyId` should be random or increasing per member. */
export function createSenderKey(crypto: CryptoProvider, keyId: number): SenderKeyState {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffffffff) throw new RangeError('createSenderKey: keyId must be a u32');
  const signing = crypto.ed25519GenerateKeyPair();
  return { keyId, chainKey: crypto.randomBytes(32), iteration: 0, signingPublicKey: signing.publicKey, signingSecretKey: signing.secretKey, skipped: new Map() };
}

/**
 * The distribution message for a sender key at its current iteration (members added later
 * cannot read earlier messages): version ‖ keyId ‖ iteration ‖ chain key ‖ signing public key.
 * It holds the chain key: send it only through an encrypted pairwise session.
 */
export function encodeSenderKeyDistribution(state: SenderKeyState): Uint8Array {
  return new ByteWriter(73).u8(SENDER_KEY_VERSION).u32(state.keyId).u32(state.iteration).fixed(state.chainKey).fixed(state.signingPublicKey).finish();
}

/** A receiving state from a member's distribution message. @throws CryptoError `crypto/malformed`. */
export function senderKeyFromDistribution(bytes: Uint8Array): SenderKeyState {
  checkBytes('senderKeyFromDistribution', 'bytes', bytes);
  const r = new ByteReader(bytes, 'sender key distribution message');
  readVersion(r, 'sender key distribution message');
  const keyId = r.u32();
  const iteration = r.u32();
  const chainKey = r.fixed(32);
  const signingPublicKey = r.fixed(32);
  r.end();
  return { keyId, chainKey, iteration, signingPublicKey, signingSecretKey: undefined, skipped: new Map() };
}

function readVersion(r: ByteReader, what: string): void {
  const version = r.u8();
  if (version !== SENDER_KEY_VERSION) throw new CryptoError('crypto/unsupported-version', `The ${what} uses format version ${version}, which this version cannot read; update the app.`);
}

function kdfChain(crypto: CryptoProvider, chainKey: Uint8Array): [Uint8Array, Uint8Array] {
  return [crypto.hmacSha256(chainKey, CHAIN_KEY_SEED), crypto.hmacSha256(chainKey, MESSAGE_KEY_SEED)];
}

/**
 * Encrypts one group message with our own sender key.
 * @throws TypeError when `state` is a receiving copy (no signing secret).
 */
export function senderKeyEncrypt(crypto: CryptoProvider, state: SenderKeyState, plaintext: Uint8Array): { state: SenderKeyState; message: Uint8Array } {
  checkBytes('senderKeyEncrypt', 'plaintext', plaintext);
  if (state.signingSecretKey === undefined) throw new TypeError('senderKeyEncrypt: this sender key belongs to another member (no signing secret)');
  if (state.iteration >= 0xffffffff) throw new RangeError('senderKeyEncrypt: chain exhausted; rotate the sender key');
  const [nextChainKey, messageKey] = kdfChain(crypto, state.chainKey);
  const header = new ByteWriter(HEADER_BYTES).u8(SENDER_KEY_VERSION).u32(state.keyId).u32(state.iteration).finish();
  const sealed = crypto.aeadSeal('chacha20-poly1305', messageKey, ZERO_NONCE, plaintext, header);
  const body = new Uint8Array(HEADER_BYTES + sealed.length + SIGNATURE_BYTES);
  body.set(header);
  body.set(sealed, HEADER_BYTES);
  body.set(crypto.ed25519Sign(state.signingSecretKey, body.subarray(0, HEADER_BYTES + sealed.length)), HEADER_BYTES + sealed.length);
  return { state: { ...state, chainKey: nextChainKey, iteration: state.iteration + 1 }, message: body };
}

/** The sender key id a group message names, to pick the member's state. @throws CryptoError `crypto/malformed`. */
export function senderKeyMessageKeyId(message: Uint8Array): number {
  checkBytes('senderKeyMessageKeyId', 'message', message);
  const r = new ByteReader(message, 'group message');
  readVersion(r, 'group message');
  return r.u32();
}

/**
 * Decrypts one group message from the member whose sender key `state` is.
 * @throws CryptoError `crypto/malformed`, `crypto/unsupported-version`,
 *   `crypto/unknown-sender-key` (another key id: a rotation we have not received yet),
 *   `crypto/invalid-signature`, `crypto/replay`, `crypto/too-many-skipped`, `crypto/auth-failed`.
 */
export function senderKeyDecrypt(crypto: CryptoProvider, state: SenderKeyState, message: Uint8Array, nowMs: number): { state: SenderKeyState; plaintext: Uint8Array } {
  checkBytes('senderKeyDecrypt', 'message', message);
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new RangeError('senderKeyDecrypt: nowMs must be a non-negative safe integer (ms since epoch)');
  if (message.length < HEADER_BYTES + TAG_BYTES + SIGNATURE_BYTES) throw new CryptoError('crypto/malformed', 'The group message is too short; it was dropped.');
  const r = new ByteReader(message, 'group message');
  readVersion(r, 'group message');
  const keyId = r.u32();
  const iteration = r.u32();
  if (keyId !== state.keyId) {
    throw new CryptoError('crypto/unknown-sender-key', `The group message uses sender key ${keyId}, which we have not received (we have ${state.keyId}); it will be readable once the sender's new key arrives.`, { details: { keyId } });
  }
  const signed = message.subarray(0, message.length - SIGNATURE_BYTES);
  if (!crypto.ed25519Verify(state.signingPublicKey, signed, message.subarray(message.length - SIGNATURE_BYTES))) {
    throw new CryptoError('crypto/invalid-signature', 'The group message is not signed by its claimed sender; it was dropped.');
  }
  const header = message.subarray(0, HEADER_BYTES);
  const sealed = signed.subarray(HEADER_BYTES);
  let skipped = expire(state.skipped, nowMs);

  if (iteration < state.iteration) {
    const entry = skipped.get(iteration);
    if (entry === undefined) throw new CryptoError('crypto/replay', 'This group message was already received (or is too old to decrypt); the copy was ignored.');
    const plaintext = crypto.aeadOpen('chacha20-poly1305', entry.messageKey, ZERO_NONCE, sealed, header);
    const next = new Map(skipped);
    next.delete(iteration);
    return { state: { ...state, skipped: next }, plaintext };
  }
  if (iteration - state.iteration > MAX_SKIP) {
    throw new CryptoError('crypto/too-many-skipped', `The sender skipped ${iteration - state.iteration} group messages (limit ${MAX_SKIP}); the message was dropped.`);
  }
  let chainKey = state.chainKey;
  if (iteration > state.iteration) {
    const next = new Map(skipped);
    for (let i = state.iteration; i < iteration; i++) {
      const [ck, messageKey] = kdfChain(crypto, chainKey);
      next.set(i, { iteration: i, messageKey, createdAtMs: nowMs });
      chainKey = ck;
    }
    while (next.size > MAX_SKIPPED_KEYS) next.delete(next.keys().next().value!);
    skipped = next;
  }
  const [nextChainKey, messageKey] = kdfChain(crypto, chainKey);
  const plaintext = crypto.aeadOpen('chacha20-poly1305', messageKey, ZERO_NONCE, sealed, header);
  return { state: { ...state, chainKey: nextChainKey, iteration: iteration + 1, skipped }, plaintext };
}

function expire(skipped: ReadonlyMap<number, SenderSkippedKey>, nowMs: number): ReadonlyMap<number, SenderSkippedKey> {
  const first = skipped.values().next();
  if (first.done || nowMs - first.value.createdAtMs < SKIPPED_KEY_TTL_MS) return skipped;
  const next = new Map(skipped);
  for (const [i, entry] of next) if (nowMs - entry.createdAtMs >= SKIPPED_KEY_TTL_MS) next.delete(i);
  return next;
}

/** Compact, versioned binary form of a sender key state, for storage. */
export function serializeSenderKeyState(state: SenderKeyState): Uint8Array {
  const w = new ByteWriter(128 + state.skipped.size * 44).u8(SENDER_KEY_VERSION).u8(state.signingSecretKey ? 1 : 0).u32(state.keyId).u32(state.iteration).fixed(state.chainKey).fixed(state.signingPublicKey);
  if (state.signingSecretKey) w.fixed(state.signingSecretKey);
  w.u32(state.skipped.size);
  for (const k of state.skipped.values()) w.u32(k.iteration).u64(k.createdAtMs).fixed(k.messageKey);
  return w.finish();
}

/** @throws CryptoError `crypto/malformed` / `crypto/unsupported-version`. */
export function deserializeSenderKeyState(bytes: Uint8Array): SenderKeyState {
  checkBytes('deserializeSenderKeyState', 'bytes', bytes);
  const what = 'stored sender key';
  const r = new ByteReader(bytes, what);
  readVersion(r, what);
  const owned = r.u8();
  if (owned > 1) throw new CryptoError('crypto/malformed', `The ${what} is corrupt.`);
  const keyId = r.u32();
  const iteration = r.u32();
  const chainKey = r.fixed(32);
  const signingPublicKey = r.fixed(32);
  const signingSecretKey = owned ? r.fixed(32) : undefined;
  const count = r.u32();
  if (count > MAX_SKIPPED_KEYS) throw new CryptoError('crypto/malformed', `The ${what} is corrupt.`);
  const skipped = new Map<number, SenderSkippedKey>();
  for (let i = 0; i < count; i++) {
    const it = r.u32();
    const createdAtMs = r.u64();
    skipped.set(it, { iteration: it, createdAtMs, messageKey: r.fixed(32) });
  }
  r.end();
  return { keyId, chainKey, iteration, signingPublicKey, signingSecretKey, skipped };
}
