import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import type { Kysely, Transaction } from 'kysely';
import { AppError } from '@discordopus/sdk';

/**
 * A commit made while a sync runs starts its own at once (up to this many in flight) instead of
 * waiting for the running one to return first: the wait of the commit after would otherwise be
 * two fsyncs long.
 */
const MAX_SYNCS_IN_FLIGHT = 2;

/**
 * When commits of the profile reach the disk.
 *
 * The connection runs in WAL mode with synchronous=NORMAL, which never syncs at a commit. This
 * class does it instead, told of every commit by the connection (errorMappingDatabase):
 * - a commit of {@link transaction} is deferred: it returns at once, durable against a crash of
 *   the app (the WAL is in the OS page cache), and against a power loss once the fdatasync of the
 *   WAL that it starts on libuv's pool has returned, while the main thread goes on;
 * - any other commit is synced before it returns (an fdatasync of the WAL on the main thread):
 *   the guarantee of synchronous=FULL, which does exactly that.
 * Before, deferred commits switched the connection to NORMAL and back to FULL around each one:
 * two more statements on the path of every message, on each side.
 *
 * The rule that keeps FULL's guarantee where it matters: whatever depends on a deferred commit
 * of the session layer and leaves this machine (a ciphertext from a ratchet step it stored, an
 * ack for a message it stored) waits for {@link whenDurable} up to that layer's own commits
 * first, so a message key is never used twice and a message acked is on disk. Another deferred
 * commit (a plugin's) holds nothing back: what a power loss may take back there is its owner's
 * choice (docs/storage.md).
 */
export class DeferredSync {
  /** Deferred commits so far, and how many of them are known to be on disk. */
  private committedCount = 0;
  private synced = 0;
  /** The most commits a sync in flight (or done) covers: a sync covers the commits made before it started. */
  private startedUpTo = 0;
  private readonly running = new Set<Promise<void>>();
  private closed = false;
  private waiters: { upTo: number; resolve(): void; reject(error: unknown): void }[] = [];
  /** Set inside a deferred transaction (the connection is its own until it ends): its commit is the next one. */
  private deferring = false;

  private readonly file: FileSync;

  /**
   * `walFile`: the database's `-wal` file. `file` is replaceable for tests of failures.
   * `syncCommits: false` (a profile opened with synchronous 'normal') leaves other commits unsynced.
   */
  constructor(walFile: string, file?: FileSync, private readonly syncCommits = true) {
    this.file = file ?? new WalFileSync(walFile);
  }

  /**
   * Call after the database closed: closing checkpointed the WAL into the database file and
   * synced it, so every commit is on disk. Waits for a sync in progress, then lets go of the WAL file.
   */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running.size > 0) await Promise.all([...this.running]);
    this.file.close();
    this.settle(this.committedCount, undefined);
  }

  /**
   * Runs `fn` in a transaction of `db` (the profile's database) whose commit does not wait for
   * the disk, then starts the sync that makes it durable.
   */
  async transaction<T>(db: Kysely<any>, fn: (trx: Transaction<any>) => Promise<T>): Promise<T> {
    try {
      return await db.transaction().execute((trx) => {
        // After BEGIN: no other statement runs on the connection until this transaction ends.
        this.deferring = true;
        return fn(trx);
      });
    } finally {
      this.deferring = false;
    }
  }

  /**
   * The connection calls this after each statement that ended a transaction that wrote.
   * @throws AppError `storage/sync-failed` when the disk refused to sync a commit that is not deferred
   */
  committed(): void {
    if (this.deferring) {
      this.deferring = false;
      this.committedCount++;
      this.startSync();
      return;
    }
    if (!this.syncCommits || this.closed) return;
    try {
      this.file.syncNow();
    } catch (error) {
      throw syncFailed(error);
    }
    // It covered the deferred commits before it too.
    this.settle(this.committedCount, undefined);
  }

  /** Deferred commits so far: read right after a commit, the mark that {@link whenDurable} waits for. */
  get commits(): number {
    return this.committedCount;
  }

  /**
   * Undefined when the first `upTo` deferred commits (by default all so far) are on disk; else a
   * promise that resolves once they are. A caller that waits only for its own commits passes the
   * {@link commits} it read after its last one: another's deferred commit then does not hold it up.
   * @throws AppError `storage/sync-failed` (through the promise) when the disk refused the sync
   */
  whenDurable(upTo = this.committedCount): Promise<void> | undefined {
    if (this.synced >= upTo) return undefined;
    const durable = new Promise<void>((resolve, reject) => this.waiters.push({ upTo, resolve, reject }));
    this.startSync(); // after a failed sync, each caller tries again
    return durable;
  }

  private startSync(): void {
    if (this.closed || this.startedUpTo >= this.committedCount || this.running.size >= MAX_SYNCS_IN_FLIGHT) return;
    const upTo = this.committedCount;
    this.startedUpTo = upTo;
    let failed = false;
    const sync: Promise<void> = this.file.sync().then(
      () => this.settle(upTo, undefined),
      (error: unknown) => {
        failed = true;
        // What is not known to be on disk needs a new sync: the next commit or wait starts one.
        this.startedUpTo = this.synced;
        this.settle(upTo, syncFailed(error));
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
  /** The same, on the calling thread. */
  syncNow(): void;
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
      let fd: number | undefined;
      try {
        fd = this.descriptor();
      } catch (error) {
        return reject(error);
      }
      if (fd === undefined) return resolve();
      fdatasync(fd, (error) => (error ? reject(error) : resolve()));
    });
  }

  syncNow(): void {
    const fd = this.descriptor();
    if (fd !== undefined) fdatasyncSync(fd);
  }

  /** The WAL's descriptor, opened once; undefined when there is no WAL (nothing written since it was checkpointed and removed). */
  private descriptor(): number | undefined {
    try {
      return (this.fd ??= openSync(this.walFile, 'r'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function syncFailed(error: unknown): AppError {
  return new AppError('storage/sync-failed', `The disk did not confirm writing the profile database (${code(error)}); nothing that depends on the last changes was sent. Check the disk, then try again.`, { cause: error });
}

function code(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? (error instanceof Error ? error.message : String(error));
}
