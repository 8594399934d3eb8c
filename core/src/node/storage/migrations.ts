import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { AppError, isAppError } from '@discordopus/sdk';
import { scopedKysely } from './table-guard.ts';

export interface MigrationOptions {
  /** Give the steps a handle limited to this table prefix (see scopedKysely). */
  tablePrefix?: string;
  /** Longer prefixes of other plugins to refuse as well (see ScopedKyselyOptions). */
  otherPrefixes?: readonly string[];
}

/** One migration step; the same shape as the SDK's PluginMigration. */
export interface Migration {
  id: string;
  up(db: Kysely<any>): Promise<void>;
}

/** Creates `kernel_migrations` (owner, id, applied_at) if it does not exist yet. */
export async function ensureMigrationsTable(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('kernel_migrations')
    .ifNotExists()
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('kernel_migrations_pk', ['owner', 'id'])
    .execute();
}

function checkList(owner: string, migrations: readonly Migration[]): void {
  if (typeof owner !== 'string' || owner === '') throw new TypeError('runMigrations: owner must be a non-empty string');
  if (!Array.isArray(migrations)) throw new TypeError(`runMigrations: migrations of ${owner} must be an array`);
  let previous: string | undefined;
  for (const m of migrations) {
    if (typeof m?.id !== 'string' || m.id === '' || typeof m.up !== 'function') {
      throw new TypeError(`runMigrations: every migration of ${owner} needs a non-empty string id and an up(db) function`);
    }
    // Plain code-unit order, the same order SQLite and Array.sort use, so ids sort the same everywhere.
    if (previous !== undefined && !(previous < m.id)) {
      throw new RangeError(`runMigrations: migration ids of ${owner} must be unique and sorted ascending; "${m.id}" comes after "${previous}"`);
    }
    previous = m.id;
  }
}

/**
 * Runs the steps of `owner` not yet recorded in `kernel_migrations`, in id order, all in ONE
 * transaction: either every pending step is applied and recorded, or none is. Recorded ids that
 * are no longer in the list are ignored (a plugin may squash old steps).
 *
 * With `tablePrefix` (what the plugin host passes for a plugin), each step receives a
 * scopedKysely handle over the transaction, so it can only touch the plugin's own tables; the
 * kernel records the steps through the unscoped `db`.
 *
 * @throws AppError `storage/migration-failed` naming the owner and step; TypeError / RangeError for
 *   malformed lists
 */
export async function runMigrations(
  db: Kysely<any>,
  owner: string,
  migrations: readonly Migration[],
  options: MigrationOptions = {},
): Promise<{ applied: string[] }> {
  checkList(owner, migrations);
  await ensureMigrationsTable(db);
  const done = new Set(
    (await db.selectFrom('kernel_migrations').select('id').where('owner', '=', owner).execute()).map((r) => r.id as string),
  );
  const pending = migrations.filter((m) => !done.has(m.id));
  if (pending.length === 0) return { applied: [] };
  let current: Migration | undefined;
  try {
    await db.transaction().execute(async (trx) => {
      const stepDb = options.tablePrefix ? scopedKysely(trx, options.tablePrefix, { otherPrefixes: options.otherPrefixes }) : trx;
      for (const m of pending) {
        current = m;
        await m.up(stepDb);
        await trx.insertInto('kernel_migrations').values({ owner, id: m.id, applied_at: Date.now() }).execute();
      }
      current = undefined;
    });
  } catch (error) {
    // Disk, lock and corruption errors say what to do better than a migration message would.
    if (isAppError(error) && ['storage/disk-full', 'storage/locked', 'storage/read-only', 'storage/corrupt', 'storage/io-error'].includes(error.code)) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    const step = current?.id ?? '(recording)';
    throw new AppError(
      'storage/migration-failed',
      `Migration ${owner}/${step} failed: ${reason}. None of the ${pending.length} pending migration(s) of ${owner} was applied; the data is as before. Update or disable the plugin "${owner}" and report this to its author.`,
      { cause: error, details: { owner, migration: step } },
    );
  }
  return { applied: pending.map((m) => m.id) };
}

/** Ids recorded for `owner`, in order (for diagnostics and tests). */
export async function appliedMigrations(db: Kysely<any>, owner: string): Promise<string[]> {
  const rows = await sql<{ id: string }>`SELECT id FROM kernel_migrations WHERE owner = ${owner} ORDER BY id`.execute(db);
  return rows.rows.map((r) => r.id);
}
