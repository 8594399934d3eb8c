import type { Kysely } from 'kysely';

/** One row per ended call, missed calls included (the conversation view shows them). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('calls_log')
    .addColumn('call_id', 'text', (c) => c.primaryKey())
    .addColumn('peer', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('video', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'integer', (c) => c.notNull())
    .addColumn('connected_at', 'integer')
    .addColumn('ended_at', 'integer', (c) => c.notNull())
    .addColumn('end_reason', 'text', (c) => c.notNull())
    .addColumn('duration_s', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('calls_log_peer_ended').on('calls_log').columns(['peer', 'ended_at']).execute();
}
