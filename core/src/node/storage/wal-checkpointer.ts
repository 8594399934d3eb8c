import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3-multiple-ciphers';

/**
 * Commits between two checkpoints. A message commits ~6 pages on each side, so this is close to
 * SQLite's own trigger (1,000 pages in the WAL): the same few large checkpoints, not more small ones.
 */
const COMMITS_PER_CHECKPOINT = 160;

export interface WalCheckpointerOptions {
  /** The database file. */
  file: string;
  /** Statements that key a fresh connection to it (see keyPragmas). */
  keyPragmas: readonly string[];
  /** Turns SQLite's own checkpoints at commit back on, on the profile's connection (the fallback). */
  checkpointAtCommit(): void;
  commitsPerCheckpoint?: number;
  /** For tests: the better-sqlite3 module file the worker loads. */
  sqliteModule?: string;
}

/** What {@link WalCheckpointer} did so far (for tests and diagnostics). */
export interface CheckpointerState {
  /** Checkpoints the worker completed. */
  checkpoints: number;
  /** Why it gave up and left checkpoints to the connection's commits again, if it did. */
  fallback?: string;
}

type FromWorker = { type: 'checkpointed'; busy: number; log: number; checkpointed: number } | { type: 'failed'; message: string };

/*
 * The worker's code, plain CommonJS evaluated by Node (no TypeScript loader in a worker, and
 * bundles move files): it opens its own connection to the profile and runs a passive
 * checkpoint each time it is asked.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fail = (error) => parentPort.postMessage({ type: 'failed', message: String((error && (error.code || error.message)) || error) });
let db;
try {
  const Database = require(workerData.sqliteModule);
  db = new Database(workerData.file, { fileMustExist: true });
  for (const pragma of workerData.keyPragmas) db.pragma(pragma);
  db.pragma('busy_timeout = 0');
  db.prepare('SELECT count(*) FROM sqlite_master').get();
} catch (error) {
  fail(error);
  if (db) db.close();
  db = undefined;
}
parentPort.on('message', (message) => {
  if (message === 'close') {
    if (db) db.close();
    parentPort.close();
    return;
  }
  if (!db) return;
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ type: 'checkpointed', busy: result.busy, log: result.log, checkpointed: result.checkpointed });
  } catch (error) {
    fail(error);
  }
});
`;

/**
 * Checkpoints the profile's WAL on a worker thread, off the main thread.
 *
 * SQLite checkpoints inside the commit that fills the WAL: that commit copies ~1,000 pages into
 * the database file and syncs it twice, 5-10 ms on this disk during which the main thread
 * handles nothing (a message that arrives waits; it made about one message in a hundred take
 * longer than 10 ms). Here the profile's connection runs with `wal_autocheckpoint = 0` and,
 * every {@link COMMITS_PER_CHECKPOINT} commits, a worker with its own connection runs a
 * PASSIVE checkpoint, which never blocks the connection's readers or writers (the next write
 * after it rewinds the WAL, as after any checkpoint). The worker starts at the first checkpoint,
 * so a profile that commits little never starts one.
 *
 * Never less safe than SQLite's own: any failure (the worker does not start, the checkpoint
 * fails) turns SQLite's checkpoints at commit back on, and closing the profile checkpoints
 * whatever is left, as before.
 */
export class WalCheckpointer {
  private readonly every: number;
  private commits = 0;
  private worker: Worker | undefined;
  private running = false;
  /** Commits reached the threshold while a checkpoint ran: run another when it returns. */
  private again = false;
  private stopped = false;
  private exited: Promise<void> = Promise.resolve();
  private readonly current: CheckpointerState = { checkpoints: 0 };
  private readonly options: Omit<WalCheckpointerOptions, 'keyPragmas'>;
  /** Until the worker has them: the key is not kept here longer than needed. */
  private keyPragmas: readonly string[] | undefined;

  constructor({ keyPragmas, ...options }: WalCheckpointerOptions) {
    this.options = options;
    this.keyPragmas = keyPragmas;
    this.every = options.commitsPerCheckpoint ?? COMMITS_PER_CHECKPOINT;
  }

  get state(): Readonly<CheckpointerState> {
    return this.current;
  }

  /** The connection committed a transaction that wrote. Never throws. */
  committed(): void {
    if (this.stopped || ++this.commits < this.every) return;
    this.commits = 0;
    if (this.running) {
      this.again = true;
      return;
    }
    this.checkpoint();
  }

  /** Stops the worker and waits until its connection is closed (before the profile's own closes). */
  async close(): Promise<void> {
    this.stopped = true;
    this.releaseWorker();
    await this.exited;
  }

  private checkpoint(): void {
    this.running = true;
    this.again = false;
    (this.worker ?? this.start())?.postMessage('checkpoint');
  }

  private start(): Worker | undefined {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { file: this.options.file, keyPragmas: this.keyPragmas, sqliteModule: this.options.sqliteModule ?? loadedSqliteModule() },
        // Its own small heap; it holds no more than one connection's page cache.
        resourceLimits: { maxOldGenerationSizeMb: 32 },
        stdout: false,
        stderr: false,
      });
    } catch (error) {
      this.giveUp(`the worker did not start: ${String(error)}`);
      return undefined;
    } finally {
      this.keyPragmas = undefined;
    }
    // A profile left open must not keep the process alive.
    worker.unref();
    this.exited = new Promise<void>((resolve) => worker.once('exit', () => {
      // Still ours: it exited without being asked to.
      if (this.worker === worker) this.giveUp('the worker exited');
      resolve();
    }));
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error) => this.giveUp(`the worker failed: ${error.message}`));
    this.worker = worker;
    return worker;
  }

  private onMessage(message: FromWorker): void {
    if (message.type === 'failed') return this.giveUp(`a checkpoint failed: ${message.message}`);
    this.current.checkpoints++;
    this.running = false;
    if (this.again && !this.stopped) this.checkpoint();
  }

  /**
   * Asks the worker to close its connection and exit; it is no longer ours. A checkpoint in
   * progress finishes first: the worker reads the message after it.
   */
  private releaseWorker(): void {
    const worker = this.worker;
    this.worker = undefined;
    worker?.postMessage('close');
  }

  /** Leaves checkpoints to the connection's commits again, as SQLite does by default. */
  private giveUp(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.current.fallback = reason;
    this.releaseWorker();
    try {
      this.options.checkpointAtCommit();
    } catch {
      // The profile is closing: its close checkpoints anyway.
    }
  }
}

/** The file of the better-sqlite3 module this process loaded (bundles may load it from elsewhere than node_modules). */
function loadedSqliteModule(): string {
  const require = createRequire(import.meta.url);
  for (const [file, module] of Object.entries(require.cache)) {
    if (module?.exports === Database) return file;
  }
  return require.resolve('better-sqlite3-multiple-ciphers');
}
