import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { AppError } from '@discordopus/sdk';

/** The SQLite failures a user can act on, turned into AppErrors; anything else is returned unchanged. */
export function mapSqliteError(error: unknown, file: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return error;
  const details = { file, sqliteCode: code };
  const make = (appCode: string, message: string) => new AppError(appCode, message, { cause: error, details });
  if (code === 'SQLITE_FULL') {
    return make('storage/disk-full', `The disk holding ${file} is full; the last change was not saved. Free some disk space and try again.`);
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return make('storage/locked', `The profile database ${file} is in use by another process (another DiscordOpus window, daemon or CLI). Close it and try again.`);
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return make('storage/read-only', `The profile database ${file} cannot be written: its folder or disk is read-only. Check the permissions of the profile folder or move the profile to a writable disk.`);
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return make('storage/corrupt', `The profile database ${file} is damaged or is not a DiscordOpus database. Restore the profile folder from a backup.`);
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return make('storage/cannot-open', `The profile database ${file} cannot be opened (missing file or no access to its folder). Check that the profile folder exists and is accessible.`);
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return make('storage/io-error', `Reading or writing ${file} failed (${code}). Check the disk, then try again.`);
  }
  return error;
}

/** Called after each statement with its SQL text and the CPU it took (µs, whole process). */
export type StatementObserver = (sql: string, cpuMicros: number) => void;
let statementObserver: StatementObserver | undefined;

/**
 * Sets (or with `undefined` clears) the process-wide observer of statements run through
 * {@link errorMappingDatabase}: for benchmarks that split a message's CPU into statements and
 * commits. Costs nothing while unset.
 */
export function observeStatements(observer: StatementObserver | undefined): void {
  statementObserver = observer;
}

function observed<T>(sql: string, fn: () => T): T {
  const observer = statementObserver;
  if (!observer) return fn();
  const start = process.cpuUsage();
  try {
    return fn();
  } finally {
    const used = process.cpuUsage(start);
    observer(sql, used.user + used.system);
  }
}

/** Prepared statements kept per connection (kysely prepares every query anew: ~30-110 µs each). */
const STATEMENT_CACHE_SIZE = 256;

/** What the connection tells about the transactions it ends (see {@link errorMappingDatabase}). */
export interface CommitListener {
  /** True while the connection is inside a transaction (better-sqlite3's `inTransaction`). */
  inTransaction(): boolean;
  /** After each statement that ended a transaction that wrote (a commit, or a write outside a transaction). May throw. */
  committed(): void;
}

const NO_CHANGES = { changes: 0, lastInsertRowid: 0 };

/**
 * Wraps the better-sqlite3 handle given to kysely's SqliteDialect so that every statement's
 * failures pass through {@link mapSqliteError}: a full disk in the middle of a plugin's
 * transaction reaches the caller as `storage/disk-full`, not as a bare SqliteError.
 *
 * Statements are prepared once per SQL text and reused (LRU of {@link STATEMENT_CACHE_SIZE}):
 * kysely builds the same SQL for the same query shape, and preparing costs more than running a
 * small query. SQLite re-prepares a cached statement itself after a schema change. `iterate`
 * gets a statement of its own, since a statement being iterated cannot run anything else.
 *
 * With `commits`, it reports every commit that wrote something (the profile makes it durable
 * there, see DeferredSync). A `rollback` outside a transaction (kysely rolls back after a commit
 * that threw, which may already have ended it) does nothing, so the commit's own error reaches
 * the caller.
 */
export function errorMappingDatabase(db: SqliteDatabase, file: string, commits?: CommitListener): SqliteDatabase {
  const guard = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      throw mapSqliteError(error, file);
    }
  };
  let wrote = false;
  const execute = <T>(sql: string, writes: boolean, fn: () => T): T => {
    const result = statementObserver ? observed(sql, () => guard(fn)) : guard(fn);
    if (commits && (writes || wrote)) {
      wrote = true;
      if (!commits.inTransaction()) {
        wrote = false;
        if (sql !== 'rollback') commits.committed();
      }
    }
    return result;
  };
  // Each cached statement with its error-mapping wrapper, made once (kysely asks for one per query).
  const cache = new Map<string, SqliteStatement>();
  const wrap = (sql: string, statement: SqliteStatement): SqliteStatement => {
    // Transaction control counts as read-only; a commit is noticed by the transaction ending.
    const writes = (statement as { readonly?: boolean }).readonly !== true;
    const rollback = sql === 'rollback';
    return {
      reader: statement.reader,
      all: (parameters) => execute(sql, writes, () => statement.all(parameters)),
      run: (parameters) => {
        if (rollback && commits && !commits.inTransaction()) {
          wrote = false;
          return NO_CHANGES;
        }
        return execute(sql, writes, () => statement.run(parameters));
      },
      iterate: (parameters) => {
        const iterator = guard(() => db.prepare(sql).iterate(parameters));
        return {
          next: () => guard(() => iterator.next()),
          return: (value?: unknown) => iterator.return?.(value) ?? { done: true, value: undefined },
          [Symbol.iterator]() {
            return this;
          },
        } as IterableIterator<unknown>;
      },
    };
  };
  const cached = (sql: string): SqliteStatement => {
    let statement = cache.get(sql);
    if (statement) {
      cache.delete(sql);
    } else {
      statement = wrap(sql, guard(() => db.prepare(sql)));
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    }
    cache.set(sql, statement);
    return statement;
  };
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare: cached,
  };
}
