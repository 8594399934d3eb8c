import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { AppError } from '@discordopus/sdk';

/** Name of the small JSON file beside the database that says how to derive its key. */
export const PROFILE_HEADER_FILE = 'profile.json';
/** Written before a passphrase change touches the database; see changePassphrase. */
export const PENDING_HEADER_FILE = 'profile.json.next';
export const PROFILE_DATABASE_FILE = 'profile.db';

export type ProfileCipher = 'sqlcipher' | 'chacha20' | 'aes256cbc';

export interface ScryptKdfParams {
  N: number;
  r: number;
  p: number;
}

/*
 * Default scrypt cost: N=2^17, r=8, p=1 uses 128 * N * r = 128 MiB per guess. Measured with
 * node:crypto on the shared 2-vCPU machine: 0.76 s moderately loaded, 1.6-2.0 s at load average 14
 * (docs/storage.md). It runs once per unlock: the database is then opened with the derived raw
 * key, never with a passphrase in the cipher pragma.
 */
export const DEFAULT_SCRYPT_PARAMS: ScryptKdfParams = { N: 2 ** 17, r: 8, p: 1 };

export interface ProfileHeader {
  format: 1;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: Uint8Array };
  /** HKDF output of the derived secret, independent of the database key; tells a wrong passphrase from a damaged file. */
  keyCheck: Uint8Array;
  cipher: ProfileCipher;
  database: string;
  createdAt: number;
}

const b64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/).transform((s) => new Uint8Array(Buffer.from(s, 'base64')));
const powerOfTwo = z.number().int().refine((n) => n >= 2 ** 10 && n <= 2 ** 22 && (n & (n - 1)) === 0, 'N must be a power of two between 2^10 and 2^22');

// Bounds keep a tampered header from asking for gigabytes of scrypt memory.
const headerSchema = z.object({
  format: z.literal(1),
  kdf: z.object({
    name: z.literal('scrypt'),
    N: powerOfTwo,
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    salt: b64.refine((s) => s.length >= 16 && s.length <= 64, 'salt must be 16-64 bytes'),
  }),
  keyCheck: b64.refine((s) => s.length === 32, 'keyCheck must be 32 bytes'),
  cipher: z.enum(['sqlcipher', 'chacha20', 'aes256cbc']),
  database: z.string().regex(/^[A-Za-z0-9._-]+\.db$/),
  createdAt: z.number().int().nonnegative(),
});

function corruptHeader(file: string, reason: string, cause?: unknown): AppError {
  return new AppError(
    'storage/corrupt-header',
    `The profile header ${file} is damaged (${reason}). Without it the database cannot be unlocked: restore profile.json from a backup of this profile folder.`,
    { cause, details: { file } },
  );
}

/** Reads and validates a header file. @throws AppError `storage/corrupt-header` */
export function readProfileHeader(file: string): ProfileHeader {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw corruptHeader(file, `cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw corruptHeader(file, 'not valid JSON', error);
  }
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw corruptHeader(file, `${issue?.path.join('.') || 'header'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data as ProfileHeader;
}

function serialize(header: ProfileHeader): string {
  const out = {
    ...header,
    kdf: { ...header.kdf, salt: Buffer.from(header.kdf.salt).toString('base64') },
    keyCheck: Buffer.from(header.keyCheck).toString('base64'),
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Writes `header` to `file` atomically: a temp file, fsync, rename, fsync of the folder. */
export function writeProfileHeader(file: string, header: ProfileHeader): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, serialize(header), { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDirectory(path.dirname(file));
}

/** Makes a rename durable: the new directory entry reaches the disk. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
