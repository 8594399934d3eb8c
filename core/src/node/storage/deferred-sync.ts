import { closeSync, fdatasync, openSync } from 'node:fs';
import { sql, type Kysely, type Transaction } from 'kysely';
import { AppError } from '@discordopus/sdk';

/**
 * A commit made while a sync runs starts its own at once (up to this many in flight) instead of
 * waiting for the running one to return first: the wait of the commit after would otherwise be
 * two fsyncs long.
 */
const MAX_SYNCS_IN_FLIGHT = 2;

const NORMAL = sql`pragma synchronous = NORMAL`;
const FULL = sql`pragma synchronous = FULL`;

/**
 * Commits that do not wait for the disk on the main thread.
 *
 * The profile runs SQLite in WAL mode with synchronous=FULL: every commit fsyncs the WAL before
 * it returns, blocking the event loop (0.7 ms p50 on this machine's disk, spikes of several ms).
 * A deferred commit runs with synchronous=NORMAL instead: it is durable against a crash of the
 * app at once (the WAL is in the OS page cache), and against a power loss once the fdatasync of
 * the WAL that it starts on libuv's pool has returned, while the main thread goes on.
 *
 * The rule that keeps FULL's guarantee where it matters: whatever depends on a deferred commit
 * and leaves this machine (a ciphertext from a ratchet step it stored, an ack for a message it
 * stored) waits for {@link whenDurable} first. A power loss can then only take back what nobody
 * else has seen: the peer sends its message again, the user's unsent text is gone as if typed
 * just before the power went.
 */
export class DeferredSync {
  /** Deferred commits so far, and how many of them are known to be on disk. */
  private committed = 0;
  private synced = 0;
  /** The most commits a sync in flight (or done) covers: a sync covers the commits made before it started. */
  private startedUpTo = 0;
  private readonly running = new Set<Promise<void>>();
  private closed = false;
  private waiters: { upTo: number; resolve(): void; reject(error: unknown): void }[] = [];

  private readonly file: FileSync;

  /** `walFile`: the database's `-wal` file. `file` is replaceable for tests of failures. */
  constructor(walFile: string, file?: FileSync) {
    this.file = file ?? new WalFileSync(walFile);
  }

  /**
   * Call after the database closed: closing checkpointed the WAL into the database file and
   * synced it (the connection is back at FULL), so every commit is on disk. Waits for a sync in
   * progress, then lets go of the WAL file.
   */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running.size > 0) await Promise.all([...this.running]);
    this.file.close();
    this.settle(this.committed, undefined);
  }

  /**
   * Runs `fn` in a transaction of `db` whose commit does not wait for the disk, then starts
   * the sync that makes it durable. No other statement of `db`'s connection runs in between,
   * so the relaxed setting never reaches another transaction.
   */
  async transaction<T>(db: Kysely<any>, fn: (trx: Transaction<any>) => Promise<T>): Promise<T> {
    const result = await db.connection().execute(async (connection) => {
      await NORMAL.execute(connection);
      let outcome: { value: T } | { error: unknown };
      try {
        outcome = { value: await connection.transaction().execute(fn) };
      } catch (error) {
        outcome = { error };
      }
      // Back to FULL whatever happened; if even that fails, say so (unless the transaction's own error says more).
      await FULL.execute(connection).catch((error: unknown) => {
        if ('value' in outcome) throw error;
      });
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    });
    this.committed++;
    this.startSync();
    return result;
  }

  /**
   * Undefined when every deferred commit so far is on disk; else a promise that resolves once
   * they are.
   * @throws AppError `storage/sync-failed` (through the promise) when the disk refused the sync
   */
  whenDurable(): Promise<void> | undefined {
    if (this.synced >= this.committed) return undefined;
    const upTo = this.committed;
    const durable = new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
    this.startSync(); // after a failed sync, each caller tries again
    return durable;
  }

  private startSync(): void {
    if (this.closed || this.startedUpTo >= this.committed || this.running.size >= MAX_SYNCS_IN_FLIGHT) return;
    const upTo = this.committed;
    this.startedUpTo = upTo;
    let failed = false;
    const sync: Promise<void> = this.file.sync().then(
      () => this.settle(upTo, undefined),
      (error: unknown) => {
        failed = true;
        // What is not known to be on disk needs a new sync: the next commit or wait starts one.
        this.startedUpTo = this.synced;
        this.settle(upTo, new AppError('storage/sync-failed', `The disk did not confirm writing the profile database (${code(error)}); nothing that depends on the last changes was sent. Check the disk, then try again.`, { cause: error }));
      },
    ).finally(() => {
      this.running.delete(sync);
      // Commits made while the syncs in flight were at their limit.
      if (!failed) this.startSync();
    });
    this.running.add(sync);
  }

  private settle(upTo: number, error: AppError | undefined): void {
    if (!error) this.synced = Math.max(this.synced, upTo);
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) {
      if (!error && waiter.upTo <= this.synced) waiter.resolve();
      else if (error && waiter.upTo <= upTo) waiter.reject(error);
      else this.waiters.push(waiter);
    }
  }
}

/** What makes the WAL durable. */
export interface FileSync {
  sync(): Promise<void>;
  close(): void;
}

/**
 * fdatasync of the WAL on libuv's pool, through a descriptor kept open: one trip to the pool per
 * sync (an open and a close each cost another, and each trip waits for a free main thread). The
 * WAL keeps its inode while the database is open (SQLite rewinds it, never replaces it).
 */
export class WalFileSync implements FileSync {
  private fd: number | undefined;

  constructor(private readonly walFile: string) {}

  sync(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        this.fd ??= openSync(this.walFile, 'r');
      } catch (error) {
        // No WAL: nothing was written since it was checkpointed and removed.
        return (error as NodeJS.ErrnoException).code === 'ENOENT' ? resolve() : reject(error);
      }
      fdatasync(this.fd, (error) => (error ? reject(error) : resolve()));
    });
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function code(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? (error instanceof Error ? error.message : String(error));
}
