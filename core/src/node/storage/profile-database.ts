import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { Kysely, SqliteDialect } from 'kysely';
import { AppError, isAppError } from '@discordopus/sdk';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import {
  DEFAULT_SCRYPT_PARAMS, PENDING_HEADER_FILE, PROFILE_DATABASE_FILE, PROFILE_HEADER_FILE,
  readProfileHeader, syncDirectory, writeProfileHeader,
} from './profile-header.ts';
import type { ProfileCipher, ProfileHeader, ScryptKdfParams } from './profile-header.ts';
import { errorMappingDatabase, mapSqliteError } from './sqlite-errors.ts';
import { ensureMigrationsTable, runMigrations } from './migrations.ts';
import { DeferredSync, type FileSync } from './deferred-sync.ts';
import { WalCheckpointer, type CheckpointerState } from './wal-checkpointer.ts';
import type { Migration } from './migrations.ts';

export interface ProfileDatabase {
  /** kysely over the encrypted better-sqlite3-multiple-ciphers handle (SqliteDialect). */
  readonly db: Kysely<any>;
  /** Path of the .db file. */
  readonly file: string;
  /** Transactions whose commit does not wait for the disk, and the wait for them (see DeferredSync). */
  readonly deferredSync: DeferredSync;
  /** The WAL's checkpoints, run on a worker thread (see WalCheckpointer). */
  readonly checkpoints: Readonly<CheckpointerState>;
  /** Closes the database (checkpoints the WAL). Safe to call twice. */
  close(): Promise<void>;
}

export type ProgressPhase = 'derive-key' | 'open' | 'migrate';

export interface OpenProfileOptions {
  /** Profile folder. */
  dir: string;
  passphrase: string;
  /** scrypt and randomness. */
  crypto: CryptoProvider;
  /** Create a new profile if none exists (else AppError `storage/no-profile`). */
  create?: boolean;
  onProgress?: (p: { phase: ProgressPhase; fraction: number }) => void;
  /** scrypt cost for a NEW profile (stored in profile.json); defaults to N=2^17, r=8, p=1. */
  kdf?: ScryptKdfParams;
  /** Page cipher for a NEW profile; defaults to SQLCipher 4 compatible `sqlcipher`. */
  cipher?: ProfileCipher;
  /**
   * `full` (default): every commit is fsynced, so a committed ratchet step survives power loss.
   * `normal`: survives a process crash, may lose the last commits on power loss.
   */
  synchronous?: 'full' | 'normal';
  /** For tests: what syncs the WAL (default: fdatasync of the file). */
  fileSync?: (walFile: string) => FileSync;
  /** How long a statement waits for another process's lock before `storage/locked`. Default 5000. */
  busyTimeoutMs?: number;
  /** Migrations to run at open (phase `migrate`), in the given order of owners. */
  migrations?: ReadonlyArray<{ owner: string; migrations: readonly Migration[] }>;
}

/** SQLite's default: a commit that leaves this many pages in the WAL checkpoints it. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;

const KEY_INFO = new TextEncoder().encode('discordopus/profile-db-key/v1');
const CHECK_INFO = new TextEncoder().encode('discordopus/profile-key-check/v1');

/** True when `dir` holds a profile (its header file). */
export function profileExists(dir: string): boolean {
  return existsSync(path.join(dir, PROFILE_HEADER_FILE));
}

/**
 * Opens (or with `create`, creates) the encrypted profile database in `dir`.
 *
 * The key is derived once from the passphrase with scrypt; a key check stored in profile.json
 * rejects a wrong passphrase before the database file is even opened, so the files stay
 * byte-for-byte unchanged. The database is then checked read-only before it is opened for writing.
 *
 * @throws AppError `storage/wrong-passphrase`, `storage/no-profile`, `storage/corrupt-header`,
 *   `storage/corrupt`, `storage/locked`, `storage/read-only`, `storage/disk-full`,
 *   `storage/passphrase-change-interrupted`, `storage/empty-passphrase`, `storage/migration-failed`
 */
export async function openProfileDatabase(options: OpenProfileOptions): Promise<ProfileDatabase> {
  const { dir, passphrase, crypto, onProgress } = options;
  if (typeof dir !== 'string' || dir === '') throw new TypeError('openProfileDatabase: dir must be a non-empty string');
  if (typeof passphrase !== 'string') throw new TypeError('openProfileDatabase: passphrase must be a string');
  const report = (phase: ProgressPhase, fraction: number) => onProgress?.({ phase, fraction });
  const headerFile = path.join(dir, PROFILE_HEADER_FILE);
  const dbFileDefault = path.join(dir, PROFILE_DATABASE_FILE);

  let unlocked: Unlocked;
  if (!existsSync(headerFile)) {
    if (existsSync(dbFileDefault)) {
      throw new AppError('storage/corrupt-header', `The profile header ${headerFile} is missing, so ${dbFileDefault} cannot be unlocked. Restore profile.json from a backup of this profile folder.`, { details: { file: headerFile } });
    }
    if (!options.create) {
      throw new AppError('storage/no-profile', `There is no profile in ${dir}. Create one first, or choose the folder that holds your profile.`, { details: { dir } });
    }
    requirePassphrase(passphrase);
    unlocked = await createHeader(dir, passphrase, crypto, options, report);
  } else {
    unlocked = await unlockProfile(dir, passphrase, crypto, report);
  }

  const file = path.join(dir, unlocked.header.database);
  const creating = !existsSync(file);
  if (creating && !options.create) {
    throw new AppError('storage/corrupt', `The profile database ${file} is missing although its header exists. Restore the profile folder from a backup.`, { details: { file } });
  }
  report('open', 0);
  try {
    accessSync(dir, constants.W_OK);
    if (!creating) accessSync(file, constants.R_OK | constants.W_OK);
  } catch (error) {
    throw fsError(error, creating ? dir : file);
  }
  if (!creating) checkReadable(file, unlocked.header.cipher, unlocked.keyHex);

  let raw: Database.Database | undefined;
  try {
    raw = new Database(file);
    applyKey(raw, unlocked.header.cipher, unlocked.keyHex);
    raw.prepare('SELECT count(*) FROM sqlite_master').get();
    raw.pragma('journal_mode = WAL');
    // Never syncs at a commit: DeferredSync does, after every commit (FULL's guarantee) or later.
    raw.pragma('synchronous = NORMAL');
    // Checkpoints run on a worker thread (WalCheckpointer), not inside this connection's commits.
    raw.pragma('wal_autocheckpoint = 0');
    raw.pragma('foreign_keys = ON');
    raw.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    // A write transaction up front turns a lock held elsewhere, a read-only disk or a full disk
    // into a clear error now rather than at the first message.
    raw.exec('BEGIN IMMEDIATE');
    raw.exec('COMMIT');
  } catch (error) {
    raw?.close();
    // A half-created database would later read as "truncated"; the header stays, so the next
    // open with `create` simply tries again.
    if (creating) for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true });
    throw mapSqliteError(error, file);
  }
  report('open', 1);

  const connection = raw;
  const deferredSync = new DeferredSync(`${file}-wal`, options.fileSync?.(`${file}-wal`), options.synchronous !== 'normal');
  const checkpointer = new WalCheckpointer({
    file,
    keyPragmas: keyPragmas(unlocked.header.cipher, unlocked.keyHex),
    checkpointAtCommit: () => connection.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`),
  });
  const commits = {
    inTransaction: () => connection.inTransaction,
    committed: () => {
      checkpointer.committed();
      deferredSync.committed();
    },
  };
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: errorMappingDatabase(raw, file, commits) }) });
  let closed = false;
  const profile: ProfileDatabase = {
    db,
    file,
    deferredSync,
    get checkpoints() {
      return checkpointer.state;
    },
    async close() {
      if (closed) return;
      closed = true;
      await checkpointer.close();
      await db.destroy();
      await deferredSync.close();
    },
  };
  try {
    report('migrate', 0);
    await ensureMigrationsTable(db);
    const sets = options.migrations ?? [];
    for (const [i, set] of sets.entries()) {
      await runMigrations(db, set.owner, set.migrations);
      report('migrate', (i + 1) / sets.length);
    }
    report('migrate', 1);
  } catch (error) {
    await profile.close();
    throw error;
  }
  return profile;
}

/**
 * Changes the passphrase: derives a new key with a fresh salt and re-encrypts every page
 * (SQLite3MC `PRAGMA rekey`). The profile must not be open elsewhere.
 *
 * Crash safety: the new header is written to profile.json.next first, then the database is
 * rekeyed (one SQLite transaction), then the new header is renamed over profile.json. If the
 * process dies in between, the next open sorts it out from whichever passphrase the user types.
 *
 * @throws AppError `storage/wrong-passphrase`, `storage/locked`, plus the errors of openProfileDatabase
 */
export async function changePassphrase(dir: string, oldPassphrase: string, newPassphrase: string, crypto: CryptoProvider, options: { kdf?: ScryptKdfParams } = {}): Promise<void> {
  if (typeof oldPassphrase !== 'string' || typeof newPassphrase !== 'string') throw new TypeError('changePassphrase: passphrases must be strings');
  requirePassphrase(newPassphrase);
  if (!profileExists(dir)) throw new AppError('storage/no-profile', `There is no profile in ${dir}. Choose the folder that holds your profile.`, { details: { dir } });
  const old = await unlockProfile(dir, oldPassphrase, crypto, () => {});
  const file = path.join(dir, old.header.database);
  checkReadable(file, old.header.cipher, old.keyHex);

  const next = await deriveNewHeader(newPassphrase, crypto, old.header.cipher, options.kdf ?? kdfOf(old.header), old.header.database, () => {});
  const pendingFile = path.join(dir, PENDING_HEADER_FILE);
  writeHeaderOrThrow(pendingFile, next.header);
  let rekeyed = false;
  let raw: Database.Database | undefined;
  try {
    raw = new Database(file, { fileMustExist: true });
    applyKey(raw, old.header.cipher, old.keyHex);
    raw.pragma('busy_timeout = 2000');
    // SQLite3MC cannot rekey in WAL mode; leaving WAL needs every other connection closed.
    const mode = raw.pragma('journal_mode = DELETE', { simple: true });
    if (mode !== 'delete') {
      throw new AppError('storage/locked', `The profile database ${file} is open in another process, so its passphrase cannot be changed now. Close other DiscordOpus windows, daemons or CLIs and try again.`, { details: { file } });
    }
    raw.pragma(`rekey = "x'${next.keyHex}'"`);
    rekeyed = true;
    raw.pragma('journal_mode = WAL');
  } catch (error) {
    if (!rekeyed) rmSync(pendingFile, { force: true });
    throw mapSqliteError(error, file);
  } finally {
    raw?.close();
  }
  renameSync(pendingFile, path.join(dir, PROFILE_HEADER_FILE));
  syncDirectory(dir);
}

interface Unlocked {
  header: ProfileHeader;
  keyHex: string;
}

function requirePassphrase(passphrase: string): void {
  if (passphrase.length === 0) throw new AppError('storage/empty-passphrase', 'The passphrase is empty. Choose a passphrase to protect this profile.');
}

function kdfOf(header: ProfileHeader): ScryptKdfParams {
  return { N: header.kdf.N, r: header.kdf.r, p: header.kdf.p };
}

async function deriveSecrets(crypto: CryptoProvider, passphrase: string, kdf: ProfileHeader['kdf'], onProgress: (f: number) => void): Promise<{ key: Uint8Array; check: Uint8Array }> {
  // NFKC so the same passphrase typed on another OS or keyboard layout derives the same key.
  const password = new TextEncoder().encode(passphrase.normalize('NFKC'));
  const master = await crypto.scrypt(password, kdf.salt, { N: kdf.N, r: kdf.r, p: kdf.p, dkLen: 32 }, onProgress);
  const empty = new Uint8Array(0);
  const result = { key: crypto.hkdfSha256(master, empty, KEY_INFO, 32), check: crypto.hkdfSha256(master, empty, CHECK_INFO, 32) };
  master.fill(0);
  password.fill(0);
  return result;
}

function hex(bytes: Uint8Array): string {
  const s = Buffer.from(bytes).toString('hex');
  bytes.fill(0);
  return s;
}

async function deriveNewHeader(passphrase: string, crypto: CryptoProvider, cipher: ProfileCipher, params: ScryptKdfParams, database: string, onProgress: (f: number) => void): Promise<Unlocked> {
  const kdf = { name: 'scrypt' as const, N: params.N, r: params.r, p: params.p, salt: crypto.randomBytes(32) };
  const secrets = await deriveSecrets(crypto, passphrase, kdf, onProgress);
  return { header: { format: 1, kdf, keyCheck: secrets.check, cipher, database, createdAt: Date.now() }, keyHex: hex(secrets.key) };
}

async function createHeader(dir: string, passphrase: string, crypto: CryptoProvider, options: OpenProfileOptions, report: (phase: ProgressPhase, f: number) => void): Promise<Unlocked> {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    // A recursive mkdir on a read-only mount reports ENOENT; ask the nearest existing folder.
    let existing = path.dirname(dir);
    while (!existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
    try {
      accessSync(existing, constants.W_OK);
    } catch (accessError) {
      throw fsError(accessError, existing);
    }
    throw fsError(error, dir);
  }
  report('derive-key', 0);
  const unlocked = await deriveNewHeader(passphrase, crypto, options.cipher ?? 'sqlcipher', options.kdf ?? DEFAULT_SCRYPT_PARAMS, PROFILE_DATABASE_FILE, (f) => report('derive-key', f));
  report('derive-key', 1);
  writeHeaderOrThrow(path.join(dir, PROFILE_HEADER_FILE), unlocked.header);
  return unlocked;
}

function writeHeaderOrThrow(file: string, header: ProfileHeader): void {
  try {
    writeProfileHeader(file, header);
  } catch (error) {
    rmSync(`${file}.tmp`, { force: true });
    throw fsError(error, file);
  }
}

function fsError(error: unknown, target: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return new AppError('storage/disk-full', `The disk holding ${target} is full. Free some disk space and try again.`, { cause: error, details: { file: target } });
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new AppError('storage/read-only', `${target} cannot be written: the folder or disk is read-only or not yours. Check the permissions of the profile folder or choose another one.`, { cause: error, details: { file: target } });
  }
  return error;
}

function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Derives the key from the passphrase and checks it; resolves an interrupted passphrase change. */
async function unlockProfile(dir: string, passphrase: string, crypto: CryptoProvider, report: (phase: ProgressPhase, f: number) => void): Promise<Unlocked> {
  const headerFile = path.join(dir, PROFILE_HEADER_FILE);
  const pendingFile = path.join(dir, PENDING_HEADER_FILE);
  const header = readProfileHeader(headerFile);
  const pending = existsSync(pendingFile) ? tryReadHeader(pendingFile) : undefined;
  report('derive-key', 0);
  const secrets = await deriveSecrets(crypto, passphrase, header.kdf, (f) => report('derive-key', pending ? f / 2 : f));
  const file = path.join(dir, header.database);
  if (keysEqual(secrets.check, header.keyCheck)) {
    const keyHex = hex(secrets.key);
    if (pending) {
      // A change was interrupted. If the old key still opens the file, the rekey never happened.
      if (opensWith(file, header.cipher, keyHex)) {
        rmSync(pendingFile, { force: true });
      } else {
        throw new AppError('storage/passphrase-change-interrupted', 'A passphrase change was interrupted after the database had been re-encrypted. Unlock with the NEW passphrase to finish it.', { details: { dir } });
      }
    }
    report('derive-key', 1);
    return { header, keyHex };
  }
  secrets.key.fill(0);
  if (pending) {
    const next = await deriveSecrets(crypto, passphrase, pending.kdf, (f) => report('derive-key', 0.5 + f / 2));
    if (keysEqual(next.check, pending.keyCheck)) {
      const keyHex = hex(next.key);
      if (opensWith(path.join(dir, pending.database), pending.cipher, keyHex)) {
        renameSync(pendingFile, headerFile);
        syncDirectory(dir);
        report('derive-key', 1);
        return { header: pending, keyHex };
      }
      rmSync(pendingFile, { force: true });
      throw new AppError('storage/wrong-passphrase', 'A passphrase change was interrupted before it took effect: the profile still uses the PREVIOUS passphrase. Unlock with that one.', { details: { dir } });
    }
  }
  throw new AppError('storage/wrong-passphrase', 'The passphrase is wrong. Check it (and the keyboard layout) and try again; nothing in the profile was changed.', { details: { dir } });
}

function tryReadHeader(file: string): ProfileHeader | undefined {
  try {
    return readProfileHeader(file);
  } catch (error) {
    if (isAppError(error, 'storage/corrupt-header')) return undefined; // a half-written pending header is no header
    throw error;
  }
}

/** Applies the cipher configuration and the raw 256-bit key to a fresh handle. */
export function applyKey(raw: Database.Database, cipher: ProfileCipher, keyHex: string): void {
  for (const pragma of keyPragmas(cipher, keyHex)) raw.pragma(pragma);
}

/** The pragmas that configure the cipher and set the raw 256-bit key of a fresh connection. */
export function keyPragmas(cipher: ProfileCipher, keyHex: string): string[] {
  return [`cipher = '${cipher}'`, ...(cipher === 'sqlcipher' ? ['legacy = 4'] : []), `key = "x'${keyHex}'"`];
}

function opensWith(file: string, cipher: ProfileCipher, keyHex: string): boolean {
  try {
    checkReadable(file, cipher, keyHex);
    return true;
  } catch (error) {
    if (isAppError(error, 'storage/corrupt')) return false;
    throw error;
  }
}

/** Opens the file read-only and reads its schema: a damaged file is reported without being written. */
function checkReadable(file: string, cipher: ProfileCipher, keyHex: string): void {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    throw new AppError('storage/corrupt', `The profile database ${file} cannot be found. Restore the profile folder from a backup.`, { cause: error, details: { file } });
  }
  if (size === 0 || size % 512 !== 0) {
    throw new AppError('storage/corrupt', `The profile database ${file} is truncated (${size} bytes). Restore the profile folder from a backup.`, { details: { file, size } });
  }
  let raw: Database.Database | undefined;
  try {
    raw = new Database(file, { readonly: true, fileMustExist: true });
    applyKey(raw, cipher, keyHex);
    raw.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (error) {
    throw mapSqliteError(error, file);
  } finally {
    raw?.close();
  }
}
