import { ByteReader, ByteWriter } from '../../common/crypto/byte-codec.ts';
import { CryptoError } from '../../common/crypto/crypto-error.ts';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import { SESSION_ENVELOPE_VERSION } from './session-envelope.ts';

/*
 * A session reset request: "I cannot decrypt your messages (I have no session with you: I lost
 * my profile and restored my identity from a backup); start a new X3DH session with me."
 *
 *   u8 version (1) ‖ u8 type (3) ‖ requesterIdentityKey[32] ‖ u64 requestedAt (ms) ‖ nonce[16] ‖ signature[64]
 *
 * There is no session to authenticate it, so the requester's identity key signs it (Ed25519):
 *   "DiscordOpus session reset v1" ‖ requesterIdentityKey ‖ u8 len ‖ recipient user ID (UTF-8) ‖ u64 requestedAt ‖ nonce
 * The recipient is bound, so the server cannot redirect a request to someone else; the time
 * and the receiver's record of the last accepted request stop replays.
 */

export const ENVELOPE_TYPE_RESET = 3;
const NONCE_BYTES = 16;
const DOMAIN = new TextEncoder().encode('DiscordOpus session reset v1');

export interface SessionResetRequest {
  readonly requesterIdentityKey: Uint8Array;
  readonly requestedAt: number;
  readonly nonce: Uint8Array;
  readonly signature: Uint8Array;
}

/** True when `bytes` is a reset request envelope (decode it to check the rest). */
export function isSessionResetEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === SESSION_ENVELOPE_VERSION && bytes[1] === ENVELOPE_TYPE_RESET;
}

function signedBytes(requesterIdentityKey: Uint8Array, recipient: string, requestedAt: number, nonce: Uint8Array): Uint8Array {
  const to = new TextEncoder().encode(recipient);
  if (to.length > 255) throw new RangeError('session reset: recipient user ID too long');
  return new ByteWriter(DOMAIN.length + 32 + 1 + to.length + 8 + NONCE_BYTES)
    .fixed(DOMAIN).fixed(requesterIdentityKey).u8(to.length).fixed(to).u64(requestedAt).fixed(nonce).finish();
}

/** A signed request from the holder of `identityKey` to `recipient`. */
export function encodeSessionReset(
  crypto: CryptoProvider, sign: (message: Uint8Array) => Uint8Array, identityKey: Uint8Array, recipient: string, requestedAt: number,
): Uint8Array {
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const signature = sign(signedBytes(identityKey, recipient, requestedAt, nonce));
  return new ByteWriter(2 + 32 + 8 + NONCE_BYTES + 64)
    .u8(SESSION_ENVELOPE_VERSION).u8(ENVELOPE_TYPE_RESET).fixed(identityKey).u64(requestedAt).fixed(nonce).fixed(signature).finish();
}

/**
 * Parses a request from an untrusted peer and checks its signature against the identity key it
 * names (the caller checks that key is the contact's, and the time).
 * @throws CryptoError `crypto/malformed`, `crypto/invalid-signature`
 */
export function decodeSessionReset(crypto: CryptoProvider, bytes: Uint8Array, recipient: string): SessionResetRequest {
  const r = new ByteReader(bytes, 'session reset request');
  if (r.u8() !== SESSION_ENVELOPE_VERSION || r.u8() !== ENVELOPE_TYPE_RESET) throw new CryptoError('crypto/malformed', 'Not a session reset request.');
  const requesterIdentityKey = r.fixed(32);
  const requestedAt = r.u64();
  const nonce = r.fixed(NONCE_BYTES);
  const signature = r.fixed(64);
  r.end();
  if (!crypto.ed25519Verify(requesterIdentityKey, signedBytes(requesterIdentityKey, recipient, requestedAt, nonce), signature)) {
    throw new CryptoError('crypto/invalid-signature', 'The session reset request is not signed by the identity key it names.');
  }
  return { requesterIdentityKey, requestedAt, nonce, signature };
}
