import type { Kysely } from 'kysely';

/** The persistent outbox, and the ids of peers' operations already applied (dedupe). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('messaging_outbox')
    .addColumn('oid', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('peer', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    // The encoded record, sent as is on every attempt (same ids, so the peer dedupes).
    .addColumn('record', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'integer', (c) => c.notNull().defaultTo(0))
    // 1 after a lasting failure: kept, but not retried until the user asks.
    .addColumn('held', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('messaging_outbox_peer').on('messaging_outbox').columns(['peer', 'oid']).execute();
  await db.schema
    .createTable('messaging_seen_ops')
    .addColumn('peer', 'text', (c) => c.notNull())
    .addColumn('op_id', 'text', (c) => c.notNull())
    .addColumn('at', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('messaging_seen_ops_pk', ['peer', 'op_id'])
    .execute();
}
