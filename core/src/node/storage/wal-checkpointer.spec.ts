import { existsSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { keyPragmas, openProfileDatabase } from './profile-database.ts';
import { TEST_KDF, tempDir, tryMountTmpfs } from './storage-test-support.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';

const root = tempDir('wal-checkpointer');
const cleanups: (() => void | Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const until = async (condition: () => boolean, what: string) => {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
};

const count = async (db: Kysely<any>) => Number((await sql<{ n: number }>`select count(*) as n from notes`.execute(db)).rows[0]!.n);

/** An encrypted database in WAL mode that never checkpoints at commit, as the profile's connection, and a checkpointer for it. */
function keyedDatabase(name: string, options: { dir?: string; checkpointerKey?: string; sqliteModule?: string } = {}) {
  const file = path.join(options.dir ?? root, `${name}.db`);
  const keyHex = randomBytes(32).toString('hex');
  const raw = new Database(file);
  for (const pragma of keyPragmas('sqlcipher', keyHex)) raw.pragma(pragma);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('wal_autocheckpoint = 0');
  raw.exec('create table notes (id integer primary key, body text not null)');
  const fallbacks: number[] = [];
  const checkpointer = new WalCheckpointer({
    file,
    keyPragmas: keyPragmas('sqlcipher', options.checkpointerKey ?? keyHex),
    checkpointAtCommit: () => fallbacks.push(raw.pragma('wal_autocheckpoint = 1000', { simple: true }) as number),
    commitsPerCheckpoint: 1,
    ...(options.sqliteModule ? { sqliteModule: options.sqliteModule } : {}),
  });
  const insert = raw.prepare('insert into notes (body) values (?)');
  /** `n` commits, each reported to the checkpointer as the profile's connection does. */
  const commit = (n: number, bytes = 300) => {
    for (let i = 0; i < n; i++) {
      insert.run(`note ${i} `.padEnd(bytes, 'x'));
      checkpointer.committed();
    }
  };
  cleanups.push(async () => {
    await checkpointer.close();
    if (raw.open) raw.close();
  });
  return { file, raw, checkpointer, commit, fallbacks };
}

describe('WalCheckpointer', () => {
  it('takes the checkpoints out of the profile connection\'s commits and runs them on a worker', async () => {
    const dir = path.join(root, 'profile');
    const profile = await openProfileDatabase({ dir, passphrase: 'checkpoints', crypto: new NodeCryptoProvider(), create: true, kdf: TEST_KDF });
    await sql`create table notes (id integer primary key, body text not null)`.execute(profile.db);
    const before = statSync(profile.file).size;
    // ~2,000 pages in 60 commits: SQLite's own trigger (1,000 pages) would have copied them into the file.
    const page = 'p'.repeat(130_000);
    for (let i = 0; i < 60; i++) await profile.db.insertInto('notes').values({ body: page }).execute();
    expect(statSync(profile.file).size).toBe(before);
    expect(profile.checkpoints.checkpoints).toBe(0);
    // The 160th commit asks the worker.
    for (let i = 0; i < 100; i++) await profile.db.insertInto('notes').values({ body: `small ${i}` }).execute();
    await until(() => profile.checkpoints.checkpoints === 1, 'the worker\'s checkpoint');
    expect(profile.checkpoints.fallback).toBeUndefined();
    expect(statSync(profile.file).size).toBeGreaterThan(before + 60 * 130_000);
    expect(await count(profile.db)).toBe(160);
    await profile.close();
    // Closed in order: the worker's connection first, so the profile's own close removed the WAL.
    expect(existsSync(`${profile.file}-wal`)).toBe(false);
    const again = await openProfileDatabase({ dir, passphrase: 'checkpoints', crypto: new NodeCryptoProvider(), kdf: TEST_KDF });
    cleanups.push(() => again.close());
    expect(await count(again.db)).toBe(160);
  });

  it('checkpoints while the connection keeps writing, and loses nothing', async () => {
    const { raw, checkpointer, commit, fallbacks } = keyedDatabase('busy');
    for (let round = 0; round < 20; round++) {
      commit(25);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await until(() => checkpointer.state.checkpoints > 1, 'checkpoints');
    commit(1);
    await checkpointer.close();
    expect(fallbacks).toEqual([]);
    expect(raw.prepare('select count(*) as n from notes').get()).toEqual({ n: 501 });
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    // Its connection is closed: only then can this one leave WAL mode.
    expect(raw.pragma('journal_mode = DELETE', { simple: true })).toBe('delete');
  });

  it('gives checkpoints back to the connection\'s commits when the worker cannot load SQLite', async () => {
    const { checkpointer, commit, fallbacks } = keyedDatabase('no-module', { sqliteModule: path.join(root, 'missing-module.js') });
    commit(1);
    await until(() => checkpointer.state.fallback !== undefined, 'the fallback');
    expect(checkpointer.state.fallback).toMatch(/checkpoint failed.*(MODULE_NOT_FOUND|Cannot find module)/);
    expect(fallbacks).toEqual([1000]);
    // It stays with SQLite's own checkpoints from then on.
    commit(5);
    expect(fallbacks).toEqual([1000]);
  });

  it('gives checkpoints back when the worker\'s key does not open the database', async () => {
    const { checkpointer, commit, fallbacks } = keyedDatabase('wrong-key', { checkpointerKey: randomBytes(32).toString('hex') });
    commit(1);
    await until(() => checkpointer.state.fallback !== undefined, 'the fallback');
    expect(checkpointer.state.fallback).toMatch(/SQLITE_NOTADB/);
    expect(fallbacks).toEqual([1000]);
  });

  it('gives checkpoints back when the disk is full (real tmpfs), and keeps what was committed', async (ctx) => {
    const mount = tryMountTmpfs('4m', 'checkpoint-full');
    if (!mount) return ctx.skip();
    cleanups.push(() => mount.unmount());
    const { raw, checkpointer, fallbacks } = keyedDatabase('full', { dir: mount.dir });
    // The WAL takes ~1.6 MB; the filler takes the rest, so copying the pages into the file fails.
    const insert = raw.prepare('insert into notes (body) values (?)');
    for (let i = 0; i < 200; i++) insert.run('f'.repeat(4000));
    let filler = 0;
    try {
      for (;; filler++) writeFileSync(path.join(mount.dir, `filler-${filler}`), Buffer.alloc(64 * 1024));
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    // The commits before were not reported: this one asks for the checkpoint.
    checkpointer.committed();
    await until(() => checkpointer.state.fallback !== undefined, 'the fallback');
    expect(checkpointer.state.fallback).toMatch(/SQLITE_FULL|SQLITE_IOERR/);
    expect(fallbacks).toEqual([1000]);
    expect(raw.prepare('select count(*) as n from notes').get()).toEqual({ n: 200 });
  });
});
