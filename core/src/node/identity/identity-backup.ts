import { AppError, isUserId, userIdFromPublicKey } from '@discordopus/sdk';
import type { UserId } from '@discordopus/sdk';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import type { CryptoProvider, ScryptParams } from '../../common/crypto/crypto-provider.ts';

/*
 * Encrypted identity backup, a binary file (layout in docs/identity.md):
 *
 *   0  magic "DOPUSBAK" (8)   8  format version (1)   9  kdf id (1 = scrypt)
 *   10 log2 N (1)  11 r (1)  12 p (1)  13 salt (16)  29 passphrase check (16)  45 nonce (12)
 *   57 ChaCha20-Poly1305 ciphertext ‖ tag of a UTF-8 JSON document
 *
 * The header (bytes 0-56) is the AEAD associated data, so any change to it or to the ciphertext
 * fails authentication. scrypt gives 64 bytes: the first 32 are the AEAD key, SHA-256 of the
 * other 32 (truncated) is the check value, which tells a wrong passphrase apart from a damaged
 * file without weakening the passphrase (testing it costs one scrypt, like testing the AEAD).
 */

const MAGIC = utf8ToBytes('DOPUSBAK');
export const BACKUP_FORMAT_VERSION = 1;
const KDF_SCRYPT = 1;
const SALT_BYTES = 16;
const CHECK_BYTES = 16;
const NONCE_BYTES = 12;
const HEADER_BYTES = MAGIC.length + 5 + SALT_BYTES + CHECK_BYTES + NONCE_BYTES;
const CHECK_LABEL = utf8ToBytes('DiscordOpus backup check v1');
const MIN_PASSPHRASE = 8;

/** scrypt cost of new backups: N = 2^17, r = 8, p = 1 (128 MiB, about 0.3-1 s on one core). */
export const DEFAULT_BACKUP_KDF = { log2N: 17, r: 8, p: 1 } as const;
export interface BackupKdfParams {
  log2N: number;
  r: number;
  p: number;
}

export interface BackupContact {
  userId: UserId;
  name: string;
  verified: boolean;
  identityKey?: Uint8Array;
  addedAt: number;
}

/** What a backup holds: enough to recreate the identity and the contact list in a new profile. */
export interface BackupContents {
  secretKey: Uint8Array;
  userId: UserId;
  displayName: string;
  createdAt: number;
  contacts: BackupContact[];
}

export interface BackupKdfOptions {
  kdf?: BackupKdfParams;
  /** Key-derivation progress, 0..1. */
  onProgress?: (fraction: number) => void;
}

const base64url = z.string().regex(/^[A-Za-z0-9_-]*$/);
const documentSchema = z.strictObject({
  format: z.literal('discordopus-identity-backup'),
  version: z.literal(1),
  secretKey: base64url,
  userId: z.string().refine(isUserId),
  displayName: z.string().max(64),
  createdAt: z.number().int().nonnegative(),
  contacts: z.array(z.strictObject({
    userId: z.string().refine(isUserId),
    name: z.string().max(64),
    verified: z.boolean(),
    identityKey: base64url.optional(),
    addedAt: z.number().int().nonnegative(),
  })).max(100_000),
});

/**
 * Encrypts `contents` under `passphrase` with a fresh salt and nonce.
 * @throws AppError `backup/weak-passphrase` for a passphrase shorter than 8 characters.
 */
export async function sealBackup(
  crypto: CryptoProvider,
  contents: BackupContents,
  passphrase: string,
  options: BackupKdfOptions = {},
): Promise<Uint8Array> {
  if (typeof passphrase !== 'string') throw new TypeError('sealBackup: expected a string passphrase');
  if (passphrase.length < MIN_PASSPHRASE) {
    throw new AppError('backup/weak-passphrase', `The backup passphrase is too short; use at least ${MIN_PASSPHRASE} characters.`);
  }
  const kdf = options.kdf ?? DEFAULT_BACKUP_KDF;
  checkKdf(kdf, RangeError);
  const salt = crypto.randomBytes(SALT_BYTES);
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const { key, check } = await deriveKeys(crypto, passphrase, salt, kdf, options.onProgress);
  const header = concatBytes(MAGIC, Uint8Array.of(BACKUP_FORMAT_VERSION, KDF_SCRYPT, kdf.log2N, kdf.r, kdf.p), salt, check, nonce);
  const document = {
    format: 'discordopus-identity-backup', version: 1,
    secretKey: b64(contents.secretKey), userId: contents.userId, displayName: contents.displayName, createdAt: contents.createdAt,
    contacts: contents.contacts.map((c) => ({
      userId: c.userId, name: c.name, verified: c.verified, addedAt: c.addedAt,
      ...(c.identityKey ? { identityKey: b64(c.identityKey) } : {}),
    })),
  };
  const plaintext = utf8ToBytes(JSON.stringify(document));
  const sealed = crypto.aeadSeal('chacha20-poly1305', key, nonce, plaintext, header);
  plaintext.fill(0);
  key.fill(0);
  return concatBytes(header, sealed);
}

/**
 * Decrypts a backup file's bytes.
 * @throws AppError `backup/malformed` (not a backup, truncated, unknown version),
 *   `backup/wrong-passphrase`, `backup/tampered` (the ciphertext or header was changed).
 */
export async function openBackup(
  crypto: CryptoProvider,
  bytes: Uint8Array,
  passphrase: string,
  options: Pick<BackupKdfOptions, 'onProgress'> = {},
): Promise<BackupContents> {
  const header = parseHeader(bytes);
  const { key, check } = await deriveKeys(crypto, passphrase, header.salt, header.kdf, options.onProgress);
  if (!Buffer.from(check).equals(Buffer.from(header.check))) {
    throw new AppError('backup/wrong-passphrase', 'The backup passphrase is wrong. Type the passphrase you chose when you exported this backup.');
  }
  let plaintext: Uint8Array;
  try {
    plaintext = crypto.aeadOpen('chacha20-poly1305', key, header.nonce, bytes.subarray(HEADER_BYTES), bytes.subarray(0, HEADER_BYTES));
  } catch {
    throw new AppError('backup/tampered', 'The backup file has been modified or damaged, so it cannot be trusted. Use another copy of the backup.');
  } finally {
    key.fill(0);
  }
  let document: z.infer<typeof documentSchema>;
  try {
    document = documentSchema.parse(JSON.parse(new TextDecoder().decode(plaintext)));
  } catch (error) {
    throw new AppError('backup/malformed', 'The backup decrypted but its content is not understood; it may come from a newer version of DiscordOpus.', { cause: error });
  } finally {
    plaintext.fill(0);
  }
  const secretKey = unb64(document.secretKey);
  const publicKey = secretKey.length === 32 ? crypto.ed25519PublicKey(secretKey) : undefined;
  if (!publicKey || userIdFromPublicKey(publicKey) !== document.userId) {
    throw new AppError('backup/malformed', 'The identity in the backup does not match its user ID; the backup is damaged. Use another copy.');
  }
  return {
    secretKey, userId: document.userId as UserId, displayName: document.displayName, createdAt: document.createdAt,
    contacts: document.contacts.map((c) => ({
      userId: c.userId as UserId, name: c.name, verified: c.verified, addedAt: c.addedAt,
      ...(c.identityKey !== undefined ? { identityKey: unb64(c.identityKey) } : {}),
    })),
  };
}

interface BackupHeader {
  kdf: BackupKdfParams;
  salt: Uint8Array;
  check: Uint8Array;
  nonce: Uint8Array;
}

function parseHeader(bytes: Uint8Array): BackupHeader {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('openBackup: expected Uint8Array');
  if (bytes.length < MAGIC.length || !Buffer.from(bytes.subarray(0, MAGIC.length)).equals(Buffer.from(MAGIC))) {
    throw new AppError('backup/malformed', 'This file is not a DiscordOpus identity backup. Choose the file made by "backup export".');
  }
  if (bytes[MAGIC.length] !== BACKUP_FORMAT_VERSION) {
    throw new AppError('backup/malformed', `This backup has format version ${bytes[MAGIC.length]}, this app reads version ${BACKUP_FORMAT_VERSION}. Update DiscordOpus.`);
  }
  if (bytes.length < HEADER_BYTES + 16) {
    throw new AppError('backup/malformed', 'The backup file is truncated. Use another copy of the backup.');
  }
  let at = MAGIC.length + 1;
  if (bytes[at++] !== KDF_SCRYPT) throw new AppError('backup/malformed', 'The backup uses an unknown key-derivation function; it may be damaged.');
  const kdf = { log2N: bytes[at++]!, r: bytes[at++]!, p: bytes[at++]! };
  checkKdf(kdf, null);
  const take = (n: number) => bytes.slice(at, (at += n));
  return { kdf, salt: take(SALT_BYTES), check: take(CHECK_BYTES), nonce: take(NONCE_BYTES) };
}

// Bounds keep a hostile file from asking for gigabytes of scrypt memory.
function checkKdf(kdf: BackupKdfParams, programmerError: RangeErrorConstructor | null): void {
  const ok = Number.isInteger(kdf.log2N) && kdf.log2N >= 10 && kdf.log2N <= 20
    && Number.isInteger(kdf.r) && kdf.r >= 1 && kdf.r <= 16 && Number.isInteger(kdf.p) && kdf.p >= 1 && kdf.p <= 4;
  if (ok) return;
  if (programmerError) throw new programmerError('sealBackup: kdf needs 10 <= log2N <= 20, 1 <= r <= 16, 1 <= p <= 4');
  throw new AppError('backup/malformed', 'The backup asks for key-derivation parameters out of the allowed range; it is damaged or hostile.');
}

async function deriveKeys(
  crypto: CryptoProvider, passphrase: string, salt: Uint8Array, kdf: BackupKdfParams, onProgress?: (fraction: number) => void,
): Promise<{ key: Uint8Array; check: Uint8Array }> {
  const params: ScryptParams = { N: 2 ** kdf.log2N, r: kdf.r, p: kdf.p, dkLen: 64 };
  const derived = await crypto.scrypt(utf8ToBytes(passphrase.normalize('NFC')), salt, params, onProgress);
  const key = derived.slice(0, 32);
  const check = crypto.sha256(concatBytes(CHECK_LABEL, derived.subarray(32))).slice(0, CHECK_BYTES);
  derived.fill(0);
  return { key, check };
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64url'));
