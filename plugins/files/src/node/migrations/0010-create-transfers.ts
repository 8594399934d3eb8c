import type { Kysely } from 'kysely';

/** One row per transfer, both directions; the file key is stored only in this encrypted database. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('files_transfers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('peer', 'text', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('mime', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('file_key', 'text', (c) => c.notNull())
    .addColumn('chunk_size', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    // Outgoing: the source and what it looked like when offered (a changed file is not resumed).
    .addColumn('source_path', 'text')
    .addColumn('source_mtime', 'real')
    // Incoming: target folder, partial file, final path.
    .addColumn('dir', 'text')
    .addColumn('part_path', 'text')
    .addColumn('final_path', 'text')
    .addColumn('bytes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    // A control record the peer has not confirmed yet (offer, cancel, verified, ...): sent again on reconnect.
    .addColumn('notice', 'text')
    .addColumn('created_at', 'integer', (c) => c.notNull())
    .execute();
}
