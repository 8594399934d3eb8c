import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '@discordopus/sdk';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { WalFileSync } from './deferred-sync.ts';
import { openProfileDatabase, type ProfileDatabase } from './profile-database.ts';
import { HeldSync, TEST_KDF, tempDir } from './storage-test-support.ts';

const dir = tempDir('deferred-sync');
let profile: ProfileDatabase;
let db: Kysely<any>;

const count = async (handle: Kysely<any> = db) => Number((await sql<{ n: number }>`select count(*) as n from notes`.execute(handle)).rows[0]!.n);
const insert = (body: string) => async (trx: Kysely<any>) => {
  await trx.insertInto('notes').values({ body }).execute();
};
const settled = () => new Promise((resolve) => setTimeout(resolve, 10));
const opened: ProfileDatabase[] = [];
/** A profile of its own whose deferred syncs wait for the test to finish them. */
const heldProfile = async () => {
  let file!: HeldSync;
  const held = await openProfileDatabase({
    dir: mkdtempSync(path.join(dir, 'held-')), passphrase: 'held', crypto: new NodeCryptoProvider(), create: true, kdf: TEST_KDF,
    fileSync: (wal) => (file = new HeldSync(new WalFileSync(wal))),
  });
  opened.push(held);
  await sql`create table notes (id integer primary key, body text not null)`.execute(held.db);
  return { file, db: held.db, deferred: held.deferredSync };
};

beforeAll(async () => {
  profile = await openProfileDatabase({ dir, passphrase: 'deferred sync', crypto: new NodeCryptoProvider(), create: true, kdf: TEST_KDF });
  db = profile.db;
  await sql`create table notes (id integer primary key, body text not null)`.execute(db);
});

afterEach(async () => {
  await sql`delete from notes`.execute(db);
});

afterAll(async () => {
  await profile.close();
  for (const held of opened) await held.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('DeferredSync', () => {
  it('leaves a deferred commit to a sync on the pool; every other commit is synced before it returns, as with synchronous=FULL', async () => {
    const { file, db: heldDb, deferred } = await heldProfile();
    expect((await sql<{ synchronous: number }>`pragma synchronous`.execute(heldDb)).rows[0]!.synchronous).toBe(1); // NORMAL: SQLite syncs nothing itself
    const before = file.syncsNow;
    await deferred.transaction(heldDb, insert('deferred'));
    expect(file.syncsNow).toBe(before);
    expect(file.started).toHaveLength(1);
    const durable = deferred.whenDurable()!;
    expect(durable).toBeInstanceOf(Promise);
    // A transaction, a statement outside one: each synced at once. Reads and rollbacks: nothing.
    await heldDb.transaction().execute(insert('in a transaction'));
    expect(file.syncsNow).toBe(before + 1);
    await insert('on its own')(heldDb);
    expect(file.syncsNow).toBe(before + 2);
    await expect(heldDb.transaction().execute(async (trx) => {
      await insert('undone')(trx);
      throw new Error('the step failed');
    })).rejects.toThrow('the step failed');
    expect(await count(heldDb)).toBe(3);
    expect(file.syncsNow).toBe(before + 2);
    // The sync on the main thread covered the deferred commit before it.
    expect(deferred.whenDurable()).toBeUndefined();
    await durable;
    file.release();
  });

  it('rolls back a deferred transaction that throws; nothing to wait for, and the next commit is synced as usual', async () => {
    const { file, db: heldDb, deferred } = await heldProfile();
    const before = file.syncsNow;
    await expect(deferred.transaction(heldDb, async (trx) => {
      await insert('undone')(trx);
      throw new Error('the step failed');
    })).rejects.toThrow('the step failed');
    expect(await count(heldDb)).toBe(0);
    expect(deferred.whenDurable()).toBeUndefined();
    await heldDb.transaction().execute(insert('next'));
    expect(file.syncsNow).toBe(before + 1);
    expect(file.started).toHaveLength(0);
  });

  it('a commit whose sync the disk refuses fails with storage/sync-failed (not with the rollback kysely tries after it)', async () => {
    const { file, db: heldDb } = await heldProfile();
    file.failNow = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const error = await heldDb.transaction().execute(insert('maybe')).then(() => undefined, (e: unknown) => e);
    expect(isAppError(error, 'storage/sync-failed')).toBe(true);
    expect((error as Error).message).toContain('EIO');
    // Committed, but not known to be on disk; the connection goes on.
    expect(await count(heldDb)).toBe(1);
    await heldDb.transaction().execute(insert('then'));
    expect(await count(heldDb)).toBe(2);
  });

  it('defers only its own commit: a transaction queued behind a deferred one is synced before it returns', async () => {
    const { file, db: heldDb, deferred } = await heldProfile();
    const before = file.syncsNow;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow = deferred.transaction(heldDb, async (trx) => {
      await insert('slow')(trx);
      await held;
    });
    const other = heldDb.transaction().execute(insert('queued'));
    await settled();
    release();
    await slow;
    await other;
    expect(file.started).toHaveLength(1);
    expect(file.syncsNow).toBe(before + 1);
    file.release();
  });

  it('starts a sync per commit, two at most at once, and resolves each wait once a sync that covers its commits returned', async () => {
    const { file, db, deferred } = await heldProfile();
    const done: string[] = [];
    const commit = async (name: string) => {
      await deferred.transaction(db, insert(name));
      void deferred.whenDurable()!.then(() => done.push(name));
    };
    await commit('a');
    await commit('b');
    await commit('c');
    // a and b each started a sync; c waits for a free one.
    expect(file.started).toHaveLength(2);
    file.started[0]!.finish();
    await settled();
    expect(done).toEqual(['a']);
    // The first sync returned: one for c starts (it covers a, b and c).
    expect(file.started).toHaveLength(3);
    file.started[2]!.finish();
    await settled();
    expect(done.sort()).toEqual(['a', 'b', 'c']);
    file.started[1]!.finish();
    await settled();
    expect(file.started).toHaveLength(3);
    expect(deferred.whenDurable()).toBeUndefined();
    await deferred.close();
  });

  it('waits for the commits up to a mark only: a later deferred commit that is not on disk yet does not hold it up', async () => {
    const { file, db, deferred } = await heldProfile();
    await deferred.transaction(db, insert('mine'));
    const mine = deferred.commits;
    await deferred.transaction(db, insert('theirs'));
    expect(deferred.commits).toBe(mine + 1);
    let done = false;
    void deferred.whenDurable(mine)!.then(() => (done = true));
    // The first sync covers "mine" only; the second, "theirs" too.
    expect(file.started).toHaveLength(2);
    file.started[0]!.finish();
    await settled();
    expect(done).toBe(true);
    expect(deferred.whenDurable(mine)).toBeUndefined();
    expect(deferred.whenDurable()).toBeDefined();
    file.started[1]!.finish();
    await settled();
    expect(deferred.whenDurable()).toBeUndefined();
    await deferred.close();
  });

  it('a disk that refuses the sync fails the waits with storage/sync-failed; the next wait tries again', async () => {
    const { file, db, deferred } = await heldProfile();
    await deferred.transaction(db, insert('kept'));
    const waiting = deferred.whenDurable()!;
    file.started[0]!.finish(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const error = await waiting.then(() => undefined, (e: unknown) => e);
    expect(isAppError(error, 'storage/sync-failed')).toBe(true);
    expect((error as Error).message).toContain('EIO');
    // The commit itself stands (the app did not crash); it is still not known to be on disk.
    expect(await count(db)).toBe(1);
    const again = deferred.whenDurable()!;
    expect(again).toBeInstanceOf(Promise);
    await settled();
    expect(file.started).toHaveLength(2);
    file.started[1]!.finish();
    await again;
    expect(deferred.whenDurable()).toBeUndefined();
    await deferred.close();
  });

  it('close waits for the sync in progress, starts none, and ends the waits (closing the database synced it)', async () => {
    const { file, db, deferred } = await heldProfile();
    await deferred.transaction(db, insert('one'));
    await deferred.transaction(db, insert('two'));
    const waiting = deferred.whenDurable()!;
    const closing = deferred.close();
    await deferred.transaction(db, insert('three'));
    for (const sync of file.started) sync.finish();
    await closing;
    await waiting;
    expect(file.started).toHaveLength(2);
    expect(deferred.whenDurable()).toBeUndefined();
  });
});
