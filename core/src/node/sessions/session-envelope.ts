import { ByteReader, ByteWriter } from '../../common/crypto/byte-codec.ts';
import { CryptoError } from '../../common/crypto/crypto-error.ts';

/*
 * The payload a client hands the relay (or a peer link) for one ratchet message:
 *
 *   u8 version (1) ‖ u8 type ‖ senderIdentityKey[32] ‖ (type 1: X3DH header) ‖ ratchet message
 *
 * `senderIdentityKey` (Ed25519) names the sender, so the receiver checks it against the sender
 * the server authenticated before doing any work; the ratchet's associated data binds both
 * identity keys, so a sender that lies here cannot produce a message that decrypts anyway.
 *
 * The X3DH header: u32 signedPrekeyId ‖ u8 hasOneTimePrekey ‖ (u32 oneTimePrekeyId) ‖ ephemeralKey[32].
 * The initiator attaches it to every message until the peer has answered, so any of them can
 * start the responder's session (the first one may be lost).
 */

export const SESSION_ENVELOPE_VERSION = 1;
export const ENVELOPE_TYPE_PREKEY = 1;
export const ENVELOPE_TYPE_MESSAGE = 2;

export interface X3dhHeader {
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId: number | undefined;
  /** The initiator's ephemeral X25519 public key. */
  readonly ephemeralKey: Uint8Array;
}

export interface SessionEnvelope {
  /** Ed25519 identity key of the sender. */
  readonly senderIdentityKey: Uint8Array;
  /** Present on the initiator's messages until the responder answered. */
  readonly x3dh: X3dhHeader | undefined;
  /** Double Ratchet message: header ‖ ciphertext ‖ tag. */
  readonly message: Uint8Array;
}

/** Largest envelope header: version, type, identity key and a full X3DH header. */
export const SESSION_ENVELOPE_OVERHEAD = 2 + 32 + 4 + 1 + 4 + 32;

export function encodeSessionEnvelope(envelope: SessionEnvelope): Uint8Array {
  if (!(envelope.senderIdentityKey instanceof Uint8Array) || envelope.senderIdentityKey.length !== 32) {
    throw new RangeError('encodeSessionEnvelope: senderIdentityKey must be 32 bytes');
  }
  if (!(envelope.message instanceof Uint8Array)) throw new TypeError('encodeSessionEnvelope: message must be a Uint8Array');
  const w = new ByteWriter(SESSION_ENVELOPE_OVERHEAD + envelope.message.length);
  w.u8(SESSION_ENVELOPE_VERSION).u8(envelope.x3dh ? ENVELOPE_TYPE_PREKEY : ENVELOPE_TYPE_MESSAGE).fixed(envelope.senderIdentityKey);
  if (envelope.x3dh) {
    const { signedPrekeyId, oneTimePrekeyId, ephemeralKey } = envelope.x3dh;
    if (!(ephemeralKey instanceof Uint8Array) || ephemeralKey.length !== 32) throw new RangeError('encodeSessionEnvelope: ephemeralKey must be 32 bytes');
    w.u32(signedPrekeyId).u8(oneTimePrekeyId === undefined ? 0 : 1);
    if (oneTimePrekeyId !== undefined) w.u32(oneTimePrekeyId);
    w.fixed(ephemeralKey);
  }
  return w.fixed(envelope.message).finish();
}

/**
 * Parses an envelope from an untrusted peer.
 * @throws CryptoError `crypto/malformed` or `crypto/unsupported-version`
 */
export function decodeSessionEnvelope(bytes: Uint8Array): SessionEnvelope {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeSessionEnvelope: expected a Uint8Array');
  const r = new ByteReader(bytes, 'session envelope');
  const version = r.u8();
  if (version !== SESSION_ENVELOPE_VERSION) {
    throw new CryptoError('crypto/unsupported-version', `The envelope uses format version ${version}, which this version of DiscordOpus cannot read; update the app.`);
  }
  const type = r.u8();
  if (type !== ENVELOPE_TYPE_PREKEY && type !== ENVELOPE_TYPE_MESSAGE) throw new CryptoError('crypto/malformed', `Unknown envelope type ${type}.`);
  const senderIdentityKey = r.fixed(32);
  let x3dh: X3dhHeader | undefined;
  if (type === ENVELOPE_TYPE_PREKEY) {
    const signedPrekeyId = r.u32();
    const hasOneTime = r.u8();
    if (hasOneTime > 1) throw new CryptoError('crypto/malformed', 'Malformed X3DH header.');
    const oneTimePrekeyId = hasOneTime === 1 ? r.u32() : undefined;
    x3dh = { signedPrekeyId, oneTimePrekeyId, ephemeralKey: r.fixed(32) };
  }
  const message = r.rest();
  if (message.length === 0) throw new CryptoError('crypto/malformed', 'The envelope carries no message.');
  return { senderIdentityKey, x3dh, message };
}

/** The X3DH header alone, as the initiator stores it until the peer has answered. */
export function encodeX3dhHeader(header: X3dhHeader): Uint8Array {
  const w = new ByteWriter(41);
  w.u32(header.signedPrekeyId).u8(header.oneTimePrekeyId === undefined ? 0 : 1);
  if (header.oneTimePrekeyId !== undefined) w.u32(header.oneTimePrekeyId);
  return w.fixed(header.ephemeralKey).finish();
}

/** @throws CryptoError `crypto/malformed` */
export function decodeX3dhHeader(bytes: Uint8Array): X3dhHeader {
  const r = new ByteReader(bytes, 'stored X3DH header');
  const signedPrekeyId = r.u32();
  const hasOneTime = r.u8();
  const oneTimePrekeyId = hasOneTime === 1 ? r.u32() : undefined;
  const ephemeralKey = r.fixed(32);
  r.end();
  return { signedPrekeyId, oneTimePrekeyId, ephemeralKey };
}
