import { bech32m } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { AppError } from './errors.ts';

/**
 * A user's public address: `do1` followed by 32 characters, e.g.
 * `do1qg8x…`. It is the bech32m encoding (BIP-350) of the first 16 bytes of
 * SHA-256("DiscordOpus/user-id/v1" ‖ Ed25519 public key). bech32m's checksum detects every
 * error of up to four characters, so a mistyped ID is rejected, never resolved to someone else.
 */
export type UserId = string & { readonly __brand: 'UserId' };

/** The human-readable prefix of every user ID. */
export const USER_ID_PREFIX = 'do';
/** Length of a user ID in characters (`do1` + 26 data + 6 checksum). */
export const USER_ID_LENGTH = 35;
const HASH_BYTES = 16;
const DOMAIN = new TextEncoder().encode('DiscordOpus/user-id/v1');

/** Computes the user ID of an Ed25519 identity public key (32 bytes). */
export function userIdFromPublicKey(publicKey: Uint8Array): UserId {
  if (!(publicKey instanceof Uint8Array)) throw new TypeError('userIdFromPublicKey: expected Uint8Array');
  if (publicKey.length !== 32) throw new RangeError(`userIdFromPublicKey: expected 32 bytes, got ${publicKey.length}`);
  const input = new Uint8Array(DOMAIN.length + publicKey.length);
  input.set(DOMAIN);
  input.set(publicKey, DOMAIN.length);
  const digest = sha256(input).subarray(0, HASH_BYTES);
  return bech32m.encode(USER_ID_PREFIX, bech32m.toWords(digest)) as UserId;
}

/** Why a string is not a valid user ID, or `undefined` when it is one. For as-you-type hints. */
export function explainUserId(text: string): string | undefined {
  const value = text.trim().toLowerCase();
  if (value.length === 0) return 'Enter a user ID; it starts with "do1".';
  if (!value.startsWith(`${USER_ID_PREFIX}1`)) return 'A user ID starts with "do1".';
  if (value.length < USER_ID_LENGTH) return `Too short: a user ID has ${USER_ID_LENGTH} characters, this has ${value.length}.`;
  if (value.length > USER_ID_LENGTH) return `Too long: a user ID has ${USER_ID_LENGTH} characters, this has ${value.length}.`;
  try {
    const decoded = bech32m.decode(value as `${string}1${string}`, USER_ID_LENGTH);
    if (decoded.prefix !== USER_ID_PREFIX || bech32m.fromWords(decoded.words).length !== HASH_BYTES) {
      return 'This is not a DiscordOpus user ID.';
    }
  } catch {
    return 'Checksum mismatch: a character is mistyped. Copy the ID again or scan its QR code.';
  }
  return undefined;
}

/** True when `text` is a well-formed user ID (checksum included). */
export function isUserId(text: unknown): text is UserId {
  return typeof text === 'string' && text === text.toLowerCase() && explainUserId(text) === undefined;
}

/**
 * Parses a user ID typed or pasted by a person (surrounding spaces and upper case are accepted).
 * @throws AppError `identity/invalid-user-id` with a message that says what is wrong.
 */
export function parseUserId(text: string): UserId {
  const problem = explainUserId(text);
  if (problem !== undefined) throw new AppError('identity/invalid-user-id', `Invalid user ID "${text.trim()}": ${problem}`);
  return text.trim().toLowerCase() as UserId;
}
