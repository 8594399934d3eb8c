import { AppError } from '@discordopus/sdk';
import type { UserId } from '@discordopus/sdk';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';

/*
 * Safety numbers after Signal's NumericFingerprintGenerator: for each party,
 * H = SHA-512^5200 over (version ‖ identity key ‖ stable id), each round hashing the previous
 * digest followed by the key again. The first 30 bytes of H give 30 digits (six 5-byte chunks,
 * each mod 100000); the two 30-digit halves are ordered so both sides show the same 60 digits.
 */

/** Iterations of SHA-512, as in Signal; a brute-force search for a matching key pays them per try. */
export const SAFETY_NUMBER_ITERATIONS = 5200;
const FINGERPRINT_VERSION = 0;
/** Version byte of the scannable (QR) payload; a scanner refuses other versions. */
export const SAFETY_PAYLOAD_VERSION = 1;
const FINGERPRINT_BYTES = 32;

/** One side of a conversation: its Ed25519 identity key and its user ID (the stable id). */
export interface SafetyParty {
  userId: UserId;
  publicKey: Uint8Array;
}

export interface SafetyNumber {
  /** 60 digits, the same on both sides. */
  digits: string;
  /** The digits in 12 groups of 5, as people read them aloud. */
  groups: string[];
  /** Versioned bytes (base64url) holding both fingerprints, ordered like the digits; put it in a QR code. */
  payload: string;
}

/** Computes the safety number of a pair; the argument order does not matter. */
export function computeSafetyNumber(crypto: CryptoProvider, a: SafetyParty, b: SafetyParty): SafetyNumber {
  const fa = partyFingerprint(crypto, a);
  const fb = partyFingerprint(crypto, b);
  const da = digitsOf(fa);
  const db = digitsOf(fb);
  // Order by the digits (as Signal does) so both sides agree; tie-break on bytes for robustness.
  const aFirst = da < db || (da === db && bytesToHex(fa) <= bytesToHex(fb));
  const [first, second] = aFirst ? [fa, fb] : [fb, fa];
  const digits = aFirst ? da + db : db + da;
  const payloadBytes = concatBytes(
    Uint8Array.of(SAFETY_PAYLOAD_VERSION),
    first.subarray(0, FINGERPRINT_BYTES),
    second.subarray(0, FINGERPRINT_BYTES),
  );
  return { digits, groups: digits.match(/\d{5}/g)!, payload: Buffer.from(payloadBytes).toString('base64url') };
}

/**
 * Compares a scanned payload with the one computed locally.
 * @returns true when both sides hold the same pair of keys.
 * @throws AppError `identity/invalid-safety-payload` when the scanned text is not a safety-number payload,
 *   `identity/safety-payload-version` when it was made by an incompatible version.
 */
export function compareSafetyNumberPayload(local: SafetyNumber | string, scanned: string): boolean {
  const ours = decodePayload(typeof local === 'string' ? local : local.payload);
  const theirs = decodePayload(scanned);
  return Buffer.from(ours).equals(Buffer.from(theirs));
}

function decodePayload(text: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = /^[A-Za-z0-9_-]+$/.test(trimmed) ? Buffer.from(trimmed, 'base64url') : Buffer.alloc(0);
  if (bytes.length === 0) {
    throw new AppError('identity/invalid-safety-payload', 'This is not a DiscordOpus safety-number code. Scan the code shown on your contact\'s screen.');
  }
  if (bytes[0] !== SAFETY_PAYLOAD_VERSION) {
    throw new AppError(
      'identity/safety-payload-version',
      `The scanned safety-number code has version ${bytes[0]}, this app reads version ${SAFETY_PAYLOAD_VERSION}. Update both apps, then compare again.`,
    );
  }
  if (bytes.length !== 1 + 2 * FINGERPRINT_BYTES) {
    throw new AppError('identity/invalid-safety-payload', 'The scanned safety-number code is truncated or damaged. Scan it again.');
  }
  return new Uint8Array(bytes);
}

function partyFingerprint(crypto: CryptoProvider, party: SafetyParty): Uint8Array {
  if (!(party.publicKey instanceof Uint8Array) || party.publicKey.length !== 32) {
    throw new RangeError('computeSafetyNumber: expected a 32-byte Ed25519 public key');
  }
  const version = Uint8Array.of(FINGERPRINT_VERSION >> 8, FINGERPRINT_VERSION & 0xff);
  let hash: Uint8Array = concatBytes(version, party.publicKey, utf8ToBytes(party.userId));
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) hash = crypto.sha512(concatBytes(hash, party.publicKey));
  return hash;
}

function digitsOf(fingerprint: Uint8Array): string {
  let out = '';
  for (let offset = 0; offset < 30; offset += 5) {
    // 5 bytes as a big-endian 40-bit integer fits a double exactly.
    let chunk = 0;
    for (let i = 0; i < 5; i++) chunk = chunk * 256 + fingerprint[offset + i]!;
    out += String(chunk % 100000).padStart(5, '0');
  }
  return out;
}
