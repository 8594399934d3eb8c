import Database from 'better-sqlite3-multiple-ciphers';
import type { OneTimePrekey, PrekeyBundle, SignedPrekey, UserId } from '@discordopus/sdk';
import { noBundleError, tooManyPrekeysError, type PrekeyStore, type TakenBundle } from './prekey-store.ts';

interface BundleRow {
  identity_key: Buffer;
  spk_id: number;
  spk_public: Buffer;
  spk_signature: Buffer;
}

/**
 * Embedded persistent store (one SQLite file, unencrypted: it holds only public keys). Every
 * take runs in a `BEGIN IMMEDIATE` transaction, so one-time prekeys are handed out once even when
 * several processes share the file.
 */
export class SqlitePrekeyStore implements PrekeyStore {
  private readonly db: Database.Database;
  private readonly uploadTx: (userId: UserId, identityKey: Uint8Array, signedPrekey: SignedPrekey | undefined, oneTime: readonly OneTimePrekey[], maxStored: number) => number;
  private readonly takeTx: (userId: UserId) => TakenBundle | undefined;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS bundles (
        user_id TEXT PRIMARY KEY, identity_key BLOB NOT NULL, spk_id INTEGER NOT NULL,
        spk_public BLOB NOT NULL, spk_signature BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS one_time_prekeys (
        id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, key_id INTEGER NOT NULL, public_key BLOB NOT NULL);
      CREATE INDEX IF NOT EXISTS one_time_prekeys_user ON one_time_prekeys (user_id, id);
    `);
    const getBundle = this.db.prepare<[string], BundleRow>('SELECT identity_key, spk_id, spk_public, spk_signature FROM bundles WHERE user_id = ?');
    const count = this.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM one_time_prekeys WHERE user_id = ?');
    const upsertBundle = this.db.prepare(
      `INSERT INTO bundles (user_id, identity_key, spk_id, spk_public, spk_signature) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET identity_key = excluded.identity_key, spk_id = excluded.spk_id,
         spk_public = excluded.spk_public, spk_signature = excluded.spk_signature`,
    );
    const insertOneTime = this.db.prepare('INSERT INTO one_time_prekeys (user_id, key_id, public_key) VALUES (?, ?, ?)');
    const popOneTime = this.db.prepare<[string], { key_id: number; public_key: Buffer }>(
      `DELETE FROM one_time_prekeys WHERE id = (SELECT id FROM one_time_prekeys WHERE user_id = ? ORDER BY id LIMIT 1)
       RETURNING key_id, public_key`,
    );

    const upload = this.db.transaction((userId: UserId, identityKey: Uint8Array, signedPrekey: SignedPrekey | undefined, oneTime: readonly OneTimePrekey[], maxStored: number) => {
      if (!signedPrekey && !getBundle.get(userId)) throw noBundleError();
      const stored = count.get(userId)!.n;
      if (stored + oneTime.length > maxStored) throw tooManyPrekeysError(stored, maxStored);
      if (signedPrekey) {
        upsertBundle.run(userId, Buffer.from(identityKey), signedPrekey.keyId, Buffer.from(signedPrekey.publicKey), Buffer.from(signedPrekey.signature));
      }
      for (const key of oneTime) insertOneTime.run(userId, key.keyId, Buffer.from(key.publicKey));
      return stored + oneTime.length;
    });
    this.uploadTx = (...args) => upload.immediate(...args);

    const take = this.db.transaction((userId: UserId): TakenBundle | undefined => {
      const row = getBundle.get(userId);
      if (!row) return undefined;
      const bundle: PrekeyBundle = {
        userId, identityKey: new Uint8Array(row.identity_key),
        signedPrekey: { keyId: row.spk_id, publicKey: new Uint8Array(row.spk_public), signature: new Uint8Array(row.spk_signature) },
      };
      const popped = popOneTime.get(userId);
      if (popped) bundle.oneTimePrekey = { keyId: popped.key_id, publicKey: new Uint8Array(popped.public_key) };
      return { bundle, remaining: count.get(userId)!.n };
    });
    this.takeTx = (userId) => take.immediate(userId);
  }

  async upload(userId: UserId, identityKey: Uint8Array, signedPrekey: SignedPrekey | undefined, oneTime: readonly OneTimePrekey[], maxStored: number): Promise<number> {
    return this.uploadTx(userId, identityKey, signedPrekey, oneTime, maxStored);
  }

  async take(userId: UserId): Promise<TakenBundle | undefined> {
    return this.takeTx(userId);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
