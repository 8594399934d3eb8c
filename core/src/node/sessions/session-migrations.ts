import { sql } from 'kysely';
import type { Migration } from '../storage/migrations.ts';

/** Owner of the session layer's migrations in `kernel_migrations`. */
export const SESSIONS_MIGRATION_OWNER = 'kernel-sessions';

export const PREKEYS_TABLE = 'kernel_prekeys';
export const SESSIONS_TABLE = 'kernel_sessions';
export const INBOX_TABLE = 'kernel_inbox';
export const RESETS_TABLE = 'kernel_session_resets';

export const sessionMigrations: Migration[] = [
  {
    id: '0010-create-prekeys',
    async up(db) {
      // Secrets of our signed and one-time prekeys; a one-time prekey row is deleted in the same
      // transaction that stores the session it started, so it can serve one session only.
      await sql`
        CREATE TABLE kernel_prekeys (
          kind TEXT NOT NULL CHECK (kind IN ('signed', 'one-time')),
          key_id INTEGER NOT NULL,
          public_key BLOB NOT NULL,
          secret_key BLOB NOT NULL,
          signature BLOB,
          created_at INTEGER NOT NULL,
          PRIMARY KEY (kind, key_id)
        )`.execute(db);
    },
  },
  {
    id: '0020-create-sessions',
    async up(db) {
      // Several sessions per peer can exist for a while (both sides started one at once); the
      // one started by the smaller user ID is used for sending, the others only decrypt.
      await sql`
        CREATE TABLE kernel_sessions (
          peer TEXT NOT NULL,
          session_id TEXT NOT NULL,
          initiator TEXT NOT NULL,
          state BLOB NOT NULL,
          x3dh_header BLOB,
          created_at INTEGER NOT NULL,
          used_at INTEGER NOT NULL,
          PRIMARY KEY (peer, session_id)
        )`.execute(db);
    },
  },
  {
    id: '0030-create-inbox',
    async up(db) {
      // Decrypted records written with the ratchet step that produced them, removed once handled.
      await sql`
        CREATE TABLE kernel_inbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          peer TEXT NOT NULL,
          plaintext BLOB NOT NULL,
          received_at INTEGER NOT NULL
        )`.execute(db);
    },
  },
  {
    id: '0040-prekeys-handed-out',
    async up(db) {
      // When we learned that the server handed a one-time prekey out (its count fell below what
      // we hold): its secret is kept for a grace period for the first message, then deleted.
      await sql`ALTER TABLE kernel_prekeys ADD COLUMN handed_out_at INTEGER`.execute(db);
    },
  },
  {
    id: '0050-create-session-resets',
    async up(db) {
      // The time of the last session reset request accepted from each peer: older or equal
      // requests (replays by the server) are refused. `skip_one_time`: the peer's one-time
      // prekeys on the server are likely those of the profile it lost (their secrets are gone),
      // so the next session to it is started with its signed prekey only.
      await sql`
        CREATE TABLE kernel_session_resets (
          peer TEXT PRIMARY KEY,
          requested_at INTEGER NOT NULL,
          skip_one_time INTEGER NOT NULL DEFAULT 1
        )`.execute(db);
    },
  },
];
