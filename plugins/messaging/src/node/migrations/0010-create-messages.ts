import type { Kysely } from 'kysely';
import { createFtsTable } from '@discordopus/sdk';

/** Conversations, messages (with a full-text index), reactions. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('messaging_conversations')
    .addColumn('peer', 'text', (c) => c.primaryKey())
    .addColumn('next_seq', 'integer', (c) => c.notNull())
    .addColumn('last_in_seq', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('messaging_messages')
    .addColumn('mid', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('peer', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('text', 'text')
    .addColumn('reply_to', 'text')
    .addColumn('sent_at', 'integer', (c) => c.notNull())
    // Position in the conversation; see ordering in docs (messaging-store.ts).
    .addColumn('sort', 'real', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('edited_at', 'integer')
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .execute();
  await db.schema.createIndex('messaging_messages_peer_id').on('messaging_messages').columns(['peer', 'id']).unique().execute();
  await db.schema.createIndex('messaging_messages_peer_sort').on('messaging_messages').columns(['peer', 'sort']).execute();
  await createFtsTable(db, { table: 'messaging_messages_fts', columns: ['text'], content: { table: 'messaging_messages', rowid: 'mid' } });
  await db.schema
    .createTable('messaging_reactions')
    .addColumn('peer', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('from_user', 'text', (c) => c.notNull())
    .addColumn('emoji', 'text', (c) => c.notNull())
    .addColumn('at', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('messaging_reactions_pk', ['peer', 'message_id', 'from_user', 'emoji'])
    .execute();
}
