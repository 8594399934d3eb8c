import type { PluginMigration } from '@discordopus/sdk';
import { sql } from 'kysely';

export const CONTACTS_TABLE = 'kernel_contacts';

/** Kernel migrations (owner `kernel`) of the contact list. */
export const contactsMigrations: PluginMigration[] = [
  {
    id: '0200-create-contacts',
    async up(db) {
      // Names are unique ignoring case so that `resolve("alice")` can never be ambiguous.
      await sql`
        CREATE TABLE kernel_contacts (
          user_id TEXT PRIMARY KEY NOT NULL,
          name TEXT UNIQUE COLLATE NOCASE,
          verified INTEGER NOT NULL DEFAULT 0,
          identity_key BLOB,
          pending_identity_key BLOB,
          added_at INTEGER NOT NULL
        )`.execute(db);
    },
  },
];
