import { explainUserId } from '@discordopus/sdk';

/*
 * What a "share my ID" QR code holds: `discordopus:contact?id=<userId>&name=<name>&key=<hex>`.
 * `key` is the Ed25519 identity public key (64 hex digits); with it, a contact added from the
 * code has a safety number at once. The app never trusts the key blindly: the core checks that
 * it hashes to the user ID, and the safety number is still compared out of band.
 * The add-contact form accepts the code pasted (or scanned) as well as a bare user ID; the ID
 * inside is checked with its checksum like a typed one.
 */

const SCHEME = 'discordopus:contact?';
const KEY = /^[0-9a-f]{64}$/;

export function formatContactPayload(userId: string, displayName?: string, publicKeyHex?: string): string {
  const params = new URLSearchParams({ id: userId });
  if (displayName) params.set('name', displayName);
  if (publicKeyHex) params.set('key', publicKeyHex.toLowerCase());
  return `${SCHEME}${params.toString()}`;
}

export interface ParsedContactInput {
  userId: string;
  /** The name carried by a pasted code, if any. */
  suggestedName?: string;
  /** The identity key carried by a pasted code (64 hex digits), if any. */
  identityKey?: string;
  /** Why the input is not (yet) usable; undefined when it is. */
  problem?: string;
}

/** Reads what a person typed or pasted into the add-contact field. */
export function parseContactInput(text: string): ParsedContactInput {
  const trimmed = text.trim();
  if (trimmed.toLowerCase().startsWith(SCHEME)) {
    const params = new URLSearchParams(trimmed.slice(SCHEME.length));
    const userId = (params.get('id') ?? '').trim().toLowerCase();
    const name = params.get('name')?.trim().slice(0, 64);
    const key = params.get('key')?.trim().toLowerCase();
    const idProblem = explainUserId(userId);
    const problem = idProblem
      ? `The pasted code holds no valid user ID: ${idProblem}`
      : key !== undefined && !KEY.test(key) ? 'The pasted code is damaged: its key is not 64 hex digits. Copy it again.' : undefined;
    return {
      userId,
      ...(name ? { suggestedName: name } : {}),
      ...(key && KEY.test(key) ? { identityKey: key } : {}),
      ...(problem ? { problem } : {}),
    };
  }
  const problem = explainUserId(trimmed);
  return { userId: trimmed.toLowerCase(), ...(problem ? { problem } : {}) };
}
