import { AppError } from '@discordopus/sdk';
import type { PluginMigration } from '@discordopus/sdk';
import type { Kysely } from 'kysely';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import { LocalIdentityKeyring } from './identity-keyring.ts';

/** Table of the local identity: one row, the secret inside the encrypted profile database. */
export const IDENTITY_TABLE = 'kernel_identity';
const MAX_DISPLAY_NAME = 64;

/** Kernel migrations (owner `kernel`) of the identity table. */
export const identityMigrations: PluginMigration[] = [{
  id: '0100-create-identity',
  async up(db) {
    await db.schema
      .createTable(IDENTITY_TABLE)
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('secret_key', 'blob', (c) => c.notNull())
      .addColumn('public_key', 'blob', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('display_name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'integer', (c) => c.notNull())
      .execute();
  },
}];

/** Checks and normalises a display name typed by a person. */
export function normalizeDisplayName(name: string): string {
  if (typeof name !== 'string') throw new TypeError('normalizeDisplayName: expected a string');
  const trimmed = name.trim();
  if (trimmed.length > MAX_DISPLAY_NAME) {
    throw new AppError('identity/invalid-display-name', `The display name is ${trimmed.length} characters long; use at most ${MAX_DISPLAY_NAME}.`);
  }
  if (/\p{Cc}/u.test(trimmed)) {
    throw new AppError('identity/invalid-display-name', 'The display name contains control characters; use printable text only.');
  }
  return trimmed;
}

/** The identity stored in the profile, or `undefined` for a profile that has none yet. */
export async function loadIdentity(db: Kysely<any>, crypto: CryptoProvider): Promise<LocalIdentityKeyring | undefined> {
  const row = await db.selectFrom(IDENTITY_TABLE).selectAll().where('id', '=', 1).executeTakeFirst();
  if (!row) return undefined;
  const keyring = new LocalIdentityKeyring(crypto, new Uint8Array(row.secret_key), row.display_name);
  if (keyring.userId !== row.user_id) {
    throw new AppError('identity/corrupt', 'The stored identity does not match its user ID: the profile is damaged. Restore it from a backup.');
  }
  return keyring;
}

/**
 * Creates the profile's identity: a fresh Ed25519 key pair, or `secretKey` when restoring a backup.
 * @throws AppError `identity/already-exists` when the profile has one.
 */
export async function createIdentity(
  db: Kysely<any>,
  crypto: CryptoProvider,
  options: { displayName?: string; secretKey?: Uint8Array; now?: () => number } = {},
): Promise<LocalIdentityKeyring> {
  const displayName = normalizeDisplayName(options.displayName ?? '');
  const secretKey = options.secretKey ?? crypto.ed25519GenerateKeyPair().secretKey;
  const keyring = new LocalIdentityKeyring(crypto, secretKey, displayName);
  const { publicKey, userId } = keyring.info;
  try {
    await db
      .insertInto(IDENTITY_TABLE)
      .values({
        id: 1, secret_key: Buffer.from(keyring.keyPair().secretKey), public_key: Buffer.from(publicKey), user_id: userId,
        display_name: displayName, created_at: (options.now ?? Date.now)(),
      })
      .execute();
  } catch (error) {
    if (String((error as Error).message).includes('UNIQUE')) {
      throw new AppError('identity/already-exists', 'This profile already has an identity; use another profile folder for a new one.');
    }
    throw error;
  }
  return keyring;
}

/** Changes the display name stored with the identity. */
export async function setDisplayName(db: Kysely<any>, displayName: string): Promise<string> {
  const name = normalizeDisplayName(displayName);
  await db.updateTable(IDENTITY_TABLE).set({ display_name: name }).where('id', '=', 1).execute();
  return name;
}
