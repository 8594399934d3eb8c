import { rmSync } from 'node:fs';
import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '@discordopus/sdk';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { DeferredSync, WalFileSync } from './deferred-sync.ts';
import { openProfileDatabase, type ProfileDatabase } from './profile-database.ts';
import { HeldSync, TEST_KDF, tempDir } from './storage-test-support.ts';

const dir = tempDir('deferred-sync');
let profile: ProfileDatabase;
let db: Kysely<any>;

const synchronous = async (handle: Kysely<any> = db) => (await sql<{ synchronous: number }>`pragma synchronous`.execute(handle)).rows[0]!.synchronous;
const count = async () => Number((await sql<{ n: number }>`select count(*) as n from notes`.execute(db)).rows[0]!.n);
const insert = (body: string) => async (trx: Kysely<any>) => {
  await trx.insertInto('notes').values({ body }).execute();
};
const settled = () => new Promise((resolve) => setTimeout(resolve, 10));
/** A DeferredSync on the test profile whose syncs wait for the test to finish them. */
const heldDeferredSync = () => {
  const file = new HeldSync(new WalFileSync(`${profile.file}-wal`));
  return { file, deferred: new DeferredSync(`${profile.file}-wal`, file) };
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
  rmSync(dir, { recursive: true, force: true });
});

describe('DeferredSync', () => {
  it('commits without waiting for the disk, syncs the WAL afterwards, and leaves synchronous=FULL for everything else', async () => {
    expect(await synchronous()).toBe(2);
    const deferred = profile.deferredSync;
    await deferred.transaction(db, insert('first'));
    expect(await count()).toBe(1);
    expect(await synchronous()).toBe(2);
    const durable = deferred.whenDurable();
    expect(durable).toBeInstanceOf(Promise);
    await durable;
    expect(deferred.whenDurable()).toBeUndefined();
  });

  it('rolls back a transaction that throws, still restoring FULL, and has nothing to wait for', async () => {
    const deferred = new DeferredSync(`${profile.file}-wal`);
    const failing = deferred.transaction(db, async (trx) => {
      await insert('undone')(trx);
      throw new Error('the step failed');
    });
    await expect(failing).rejects.toThrow('the step failed');
    expect(await count()).toBe(0);
    expect(await synchronous()).toBe(2);
    expect(deferred.whenDurable()).toBeUndefined();
  });

  it('never lets another transaction run with the relaxed setting', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const deferred = profile.deferredSync.transaction(db, async (trx) => {
      await insert('slow')(trx);
      await held;
    });
    // Queued behind the deferred one on the same connection; it must see FULL.
    const other = db.transaction().execute(async (trx) => synchronous(trx));
    await settled();
    release();
    await deferred;
    expect(await other).toBe(2);
    await profile.deferredSync.whenDurable();
  });

  it('starts a sync per commit, two at most at once, and resolves each wait once a sync that covers its commits returned', async () => {
    const { file, deferred } = heldDeferredSync();
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

  it('a disk that refuses the sync fails the waits with storage/sync-failed; the next wait tries again', async () => {
    const { file, deferred } = heldDeferredSync();
    await deferred.transaction(db, insert('kept'));
    const waiting = deferred.whenDurable()!;
    file.started[0]!.finish(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const error = await waiting.then(() => undefined, (e: unknown) => e);
    expect(isAppError(error, 'storage/sync-failed')).toBe(true);
    expect((error as Error).message).toContain('EIO');
    // The commit itself stands (the app did not crash); it is still not known to be on disk.
    expect(await count()).toBe(1);
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
    const { file, deferred } = heldDeferredSync();
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
