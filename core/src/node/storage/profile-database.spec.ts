import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import Database from 'better-sqlite3-multiple-ciphers';
import { isAppError } from '@discordopus/sdk';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { changePassphrase, openProfileDatabase, profileExists } from './profile-database.ts';
import type { OpenProfileOptions, ProfileDatabase } from './profile-database.ts';
import { readProfileHeader } from './profile-header.ts';
import { TEST_KDF, hashFiles, tempDir, tryMountTmpfs } from './storage-test-support.ts';

const crypto = new NodeCryptoProvider();
const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function newDir(label = 'profile'): string {
  const dir = tempDir(label);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function open(dir: string, passphrase: string, extra: Partial<OpenProfileOptions> = {}): Promise<ProfileDatabase> {
  const profile = await openProfileDatabase({ dir, passphrase, crypto, kdf: TEST_KDF, ...extra });
  cleanups.push(() => profile.close());
  return profile;
}

async function createWithNote(dir: string, passphrase: string, note: string): Promise<ProfileDatabase> {
  const profile = await open(dir, passphrase, { create: true });
  await profile.db.schema.createTable('t_notes').addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('body', 'text').execute();
  await profile.db.insertInto('t_notes').values({ body: note }).execute();
  return profile;
}

async function notes(profile: ProfileDatabase): Promise<string[]> {
  return (await profile.db.selectFrom('t_notes').select('body').orderBy('id').execute()).map((r) => r.body as string);
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(isAppError(error, code), `expected AppError ${code}, got ${String(error)}`).toBe(true);
  return error as Error;
}

describe('openProfileDatabase', () => {
  it('creates a profile, reports progress, and reopens it with the same passphrase', async () => {
    const dir = path.join(newDir(), 'nested', 'profile');
    expect(profileExists(dir)).toBe(false);
    const progress: string[] = [];
    const created = await createWithNote(dir, 'correct horse', 'hello');
    await created.close();
    expect(profileExists(dir)).toBe(true);
    const reopened = await open(dir, 'correct horse', { onProgress: (p) => progress.push(`${p.phase}:${p.fraction}`) });
    expect(await notes(reopened)).toEqual(['hello']);
    expect(progress[0]).toBe('derive-key:0');
    expect(progress).toContain('derive-key:1');
    expect(progress.indexOf('open:1')).toBeGreaterThan(progress.indexOf('derive-key:1'));
    expect(progress.at(-1)).toBe('migrate:1');
    expect(reopened.file).toBe(path.join(dir, 'profile.db'));
  });

  it('stores scrypt parameters, a random salt and the cipher in profile.json', async () => {
    const a = newDir();
    const b = newDir();
    await (await open(a, 'pw', { create: true })).close();
    await (await open(b, 'pw', { create: true })).close();
    const ha = readProfileHeader(path.join(a, 'profile.json'));
    const hb = readProfileHeader(path.join(b, 'profile.json'));
    expect(ha).toMatchObject({ format: 1, kdf: { name: 'scrypt', N: TEST_KDF.N, r: 8, p: 1 }, cipher: 'sqlcipher', database: 'profile.db' });
    expect(ha.kdf.salt.length).toBe(32);
    expect(Buffer.from(ha.kdf.salt).equals(Buffer.from(hb.kdf.salt))).toBe(false);
    const text = readFileSync(path.join(a, 'profile.json'), 'utf8');
    expect(text).not.toContain('pw"');
  });

  it('uses N=2^17, r=8, p=1 by default', async () => {
    const dir = newDir();
    const started = performance.now();
    const profile = await openProfileDatabase({ dir, passphrase: 'default cost', crypto, create: true });
    cleanups.push(() => profile.close());
    console.log(`scrypt N=2^17 r=8 p=1 + create: ${(performance.now() - started).toFixed(0)} ms`);
    expect(readProfileHeader(path.join(dir, 'profile.json')).kdf).toMatchObject({ N: 2 ** 17, r: 8, p: 1 });
  });

  it('configures WAL, synchronous=NORMAL (commits are synced by DeferredSync), foreign keys, busy timeout and the SQLCipher 4 cipher', async () => {
    const profile = await open(newDir(), 'pw', { create: true });
    const pragma = async (name: string) => Object.values((await sql.raw(`PRAGMA ${name}`).execute(profile.db)).rows[0] as object)[0];
    expect(await pragma('journal_mode')).toBe('wal');
    expect(await pragma('synchronous')).toBe(1);
    expect(await pragma('foreign_keys')).toBe(1);
    expect(await pragma('busy_timeout')).toBe(5000);
    expect(await pragma('cipher')).toBe('sqlcipher');
    expect(Number(await pragma('legacy'))).toBe(4);
  });

  it('refuses to open a folder without a profile unless asked to create one', async () => {
    await expectCode(openProfileDatabase({ dir: newDir(), passphrase: 'pw', crypto }), 'storage/no-profile');
  });

  it('refuses an empty passphrase for a new profile, and non-string arguments', async () => {
    await expectCode(openProfileDatabase({ dir: newDir(), passphrase: '', crypto, create: true }), 'storage/empty-passphrase');
    await expect(openProfileDatabase({ dir: newDir(), passphrase: 42 as unknown as string, crypto })).rejects.toThrow(TypeError);
    await expect(openProfileDatabase({ dir: '', passphrase: 'x', crypto })).rejects.toThrow(TypeError);
  });

  it('rejects a wrong passphrase with storage/wrong-passphrase and leaves the files byte-for-byte unchanged', async () => {
    const dir = newDir();
    const live = await createWithNote(dir, 'right', 'kept');
    // Keep the profile open so that -wal and -shm exist too.
    await live.db.insertInto('t_notes').values({ body: 'in the wal' }).execute();
    const before = hashFiles(dir);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['profile.db', 'profile.db-wal', 'profile.db-shm', 'profile.json']));
    const error = await expectCode(open(dir, 'wrong'), 'storage/wrong-passphrase');
    expect(error.message).toMatch(/passphrase is wrong/);
    expect(hashFiles(dir)).toEqual(before);
    await live.close();
    const closedState = hashFiles(dir);
    await expectCode(open(dir, 'Right'), 'storage/wrong-passphrase');
    expect(hashFiles(dir)).toEqual(closedState);
    expect(await notes(await open(dir, 'right'))).toEqual(['kept', 'in the wal']);
  });

  it('normalizes the passphrase (NFKC) so composed and decomposed forms unlock alike', async () => {
    const dir = newDir();
    await (await createWithNote(dir, 'caf\u00e9', 'x')).close();
    expect(await notes(await open(dir, 'cafe\u0301'))).toEqual(['x']);
  });

  it('writes no plaintext to the .db or -wal file, and Debian sqlite3 cannot read it', async () => {
    const dir = newDir();
    const marker = 'PLAINTEXT-MARKER-7f3a9c';
    const profile = await createWithNote(dir, 'pw', marker);
    for (let i = 0; i < 200; i++) await profile.db.insertInto('t_notes').values({ body: `${marker} ${i}` }).execute();
    const wal = readFileSync(path.join(dir, 'profile.db-wal'));
    expect(wal.length).toBeGreaterThan(0);
    expect(wal.includes(marker)).toBe(false);
    expect(wal.includes('t_notes')).toBe(false);
    await profile.close();
    const db = readFileSync(path.join(dir, 'profile.db'));
    expect(db.includes(marker)).toBe(false);
    expect(db.includes('SQLite format 3')).toBe(false);

    // The same rows in an unencrypted database do show up: the grep itself works.
    const plainFile = path.join(dir, 'control.db');
    const plain = new Database(plainFile);
    plain.exec('CREATE TABLE t(x)');
    plain.prepare('INSERT INTO t VALUES (?)').run(marker);
    plain.close();
    expect(readFileSync(plainFile).includes(marker)).toBe(true);
    rmSync(plainFile);

    const cli = spawnSync('sqlite3', [path.join(dir, 'profile.db'), 'SELECT * FROM t_notes;'], { encoding: 'utf8' });
    if (!cli.error) {
      expect(cli.status).not.toBe(0);
      expect(cli.stderr).toMatch(/not a database/);
      expect(cli.stdout).not.toContain(marker);
    }
  });

  it('reports a missing profile.json beside an existing database', async () => {
    const dir = newDir();
    await (await createWithNote(dir, 'pw', 'x')).close();
    rmSync(path.join(dir, 'profile.json'));
    expect(profileExists(dir)).toBe(false);
    const error = await expectCode(open(dir, 'pw', { create: true }), 'storage/corrupt-header');
    expect(error.message).toMatch(/missing.*Restore profile\.json/);
    expect(existsSync(path.join(dir, 'profile.db'))).toBe(true);
  });

  it.each([
    ['not JSON', '{"format": 1,'],
    ['a wrong format version', JSON.stringify({ format: 2 })],
    ['an absurd scrypt cost', null],
  ])('reports a corrupt profile.json (%s)', async (_label, content) => {
    const dir = newDir();
    await (await createWithNote(dir, 'pw', 'x')).close();
    const file = path.join(dir, 'profile.json');
    const header = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, content ?? JSON.stringify({ ...header, kdf: { ...header.kdf, N: 2 ** 30 } }));
    const error = await expectCode(open(dir, 'pw'), 'storage/corrupt-header');
    expect(error.message).toMatch(/profile\.json/);
  });

  it('reports a truncated, a missing and a non-database file as storage/corrupt without writing to it', async () => {
    const dir = newDir();
    await (await createWithNote(dir, 'pw', 'x')).close();
    const file = path.join(dir, 'profile.db');
    const good = readFileSync(file);

    truncateSync(file, 1000);
    await expectCode(open(dir, 'pw'), 'storage/corrupt');
    truncateSync(file, 0);
    await expectCode(open(dir, 'pw'), 'storage/corrupt');

    writeFileSync(file, Buffer.alloc(8192, 'this is not a database '));
    const before = hashFiles(dir);
    const error = await expectCode(open(dir, 'pw'), 'storage/corrupt');
    expect(error.message).toMatch(/damaged or is not a DiscordOpus database/);
    expect(hashFiles(dir)).toEqual(before);

    rmSync(file);
    await expectCode(open(dir, 'pw'), 'storage/corrupt');
    writeFileSync(file, good);
    expect(await notes(await open(dir, 'pw'))).toEqual(['x']);
  });

  it('reports storage/locked when another connection holds the write lock', async () => {
    const dir = newDir();
    const first = await createWithNote(dir, 'pw', 'x');
    let opened: Promise<unknown> | undefined;
    await first.db.transaction().execute(async (trx) => {
      await trx.insertInto('t_notes').values({ body: 'pending' }).execute();
      opened = open(dir, 'pw', { busyTimeoutMs: 50 });
      const error = await expectCode(opened, 'storage/locked');
      expect(error.message).toMatch(/in use by another process/);
    });
    expect(await notes(first)).toEqual(['x', 'pending']);
  });

  it('reports storage/locked at query time too, through kysely', async () => {
    const dir = newDir();
    const first = await createWithNote(dir, 'pw', 'x');
    const second = await open(dir, 'pw', { busyTimeoutMs: 50 });
    await first.db.transaction().execute(async (trx) => {
      await trx.insertInto('t_notes').values({ body: 'pending' }).execute();
      await expectCode(second.db.insertInto('t_notes').values({ body: 'blocked' }).execute(), 'storage/locked');
    });
  });

  it('reports a read-only profile folder as storage/read-only', async () => {
    const mount = tryMountTmpfs('4m', 'ro');
    let dir: string;
    if (mount) {
      cleanups.push(() => mount.unmount());
      dir = path.join(mount.dir, 'profile');
    } else {
      dir = path.join(newDir(), 'profile');
    }
    await (await createWithNote(dir, 'pw', 'x')).close();
    if (mount) mount.remountReadOnly();
    else {
      chmodSync(dir, 0o500);
      cleanups.push(() => chmodSync(dir, 0o700));
    }
    const error = await expectCode(open(dir, 'pw'), 'storage/read-only');
    expect(error.message).toMatch(/read-only/);
    await expectCode(open(path.join(dir, 'new-profile'), 'pw', { create: true }), 'storage/read-only');
  });

  it('reports a full disk (real tmpfs) as storage/disk-full and keeps what was committed', async (ctx) => {
    const mount = tryMountTmpfs('768k', 'full');
    if (!mount) return ctx.skip();
    cleanups.push(() => mount.unmount());
    const dir = path.join(mount.dir, 'profile');
    const profile = await createWithNote(dir, 'pw', 'before');
    const blob = new Uint8Array(64 * 1024).fill(7);
    let error: unknown;
    for (let i = 0; i < 100 && !error; i++) {
      error = await profile.db.insertInto('t_notes').values({ body: Buffer.from(blob).toString('hex') }).execute().then(() => undefined, (e: unknown) => e);
    }
    expect(isAppError(error, 'storage/disk-full'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/full.*Free some disk space/);
    expect((await notes(profile))[0]).toBe('before');
  });

  it('reports SQLITE_FULL from the page limit as storage/disk-full (works without root)', async () => {
    const profile = await createWithNote(newDir(), 'pw', 'before');
    const pages = Object.values((await sql.raw('PRAGMA page_count').execute(profile.db)).rows[0] as object)[0] as number;
    await sql.raw(`PRAGMA max_page_count = ${pages + 2}`).execute(profile.db);
    const big = 'z'.repeat(64 * 1024);
    const error = await expectCode(profile.db.insertInto('t_notes').values({ body: big }).execute(), 'storage/disk-full');
    expect(error.message).toMatch(/last change was not saved/);
    expect(await notes(profile)).toEqual(['before']);
  });

  it('streams rows through the error-mapping wrapper', async () => {
    const profile = await createWithNote(newDir(), 'pw', 'a');
    await profile.db.insertInto('t_notes').values([{ body: 'b' }, { body: 'c' }]).execute();
    const seen: string[] = [];
    for await (const row of profile.db.selectFrom('t_notes').select('body').orderBy('id').stream()) {
      seen.push(row.body as string);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(['a', 'b']);
    expect(await notes(profile)).toEqual(['a', 'b', 'c']);
  });

  it('runs migrations given at open in the migrate phase', async () => {
    const profile = await open(newDir(), 'pw', {
      create: true,
      migrations: [{ owner: 'demo', migrations: [{ id: '0010-a', up: (db) => db.schema.createTable('demo_a').addColumn('x', 'integer').execute() }] }],
    });
    expect(await profile.db.selectFrom('kernel_migrations').select(['owner', 'id']).execute()).toEqual([{ owner: 'demo', id: '0010-a' }]);
  });
});

describe('changePassphrase', () => {
  it('re-encrypts the database under the new passphrase only', async () => {
    const dir = newDir();
    await (await createWithNote(dir, 'old', 'kept')).close();
    const oldSalt = readProfileHeader(path.join(dir, 'profile.json')).kdf.salt;
    await changePassphrase(dir, 'old', 'new', crypto);
    expect(Buffer.from(readProfileHeader(path.join(dir, 'profile.json')).kdf.salt).equals(Buffer.from(oldSalt))).toBe(false);
    expect(existsSync(path.join(dir, 'profile.json.next'))).toBe(false);
    await expectCode(open(dir, 'old'), 'storage/wrong-passphrase');
    const profile = await open(dir, 'new');
    expect(await notes(profile)).toEqual(['kept']);
    const mode = await sql.raw('PRAGMA journal_mode').execute(profile.db);
    expect(mode.rows[0]).toEqual({ journal_mode: 'wal' });
  });

  it('refuses a wrong old passphrase, an empty new one, and a profile open elsewhere', async () => {
    const dir = newDir();
    const live = await createWithNote(dir, 'old', 'x');
    await expectCode(changePassphrase(dir, 'nope', 'new', crypto), 'storage/wrong-passphrase');
    await expectCode(changePassphrase(dir, 'old', '', crypto), 'storage/empty-passphrase');
    await expectCode(changePassphrase(dir, 'old', 'new', crypto), 'storage/locked');
    expect(existsSync(path.join(dir, 'profile.json.next'))).toBe(false);
    await live.close();
    expect(await notes(await open(dir, 'old'))).toEqual(['x']);
    await expectCode(changePassphrase(newDir(), 'a', 'b', crypto), 'storage/no-profile');
  });

  it('finishes a change interrupted after the rekey when the new passphrase is typed', async () => {
    const dir = newDir();
    await (await createWithNote(dir, 'old', 'x')).close();
    copyFileSync(path.join(dir, 'profile.json'), path.join(dir, 'old-header'));
    await changePassphrase(dir, 'old', 'new', crypto);
    // State after a crash between the rekey and the rename: old header in place, new one pending.
    copyFileSync(path.join(dir, 'profile.json'), path.join(dir, 'profile.json.next'));
    copyFileSync(path.join(dir, 'old-header'), path.join(dir, 'profile.json'));
    const error = await expectCode(open(dir, 'old'), 'storage/passphrase-change-interrupted');
    expect(error.message).toMatch(/NEW passphrase/);
    expect(await notes(await open(dir, 'new'))).toEqual(['x']);
    expect(existsSync(path.join(dir, 'profile.json.next'))).toBe(false);
  });

  it('abandons a change interrupted before the rekey', async () => {
    const dir = newDir();
    await (await createWithNote(dir, 'old', 'x')).close();
    // A pending header whose key never reached this database.
    const other = newDir();
    execFileSync('cp', ['-r', `${dir}/.`, other]);
    await changePassphrase(other, 'old', 'new', crypto);
    copyFileSync(path.join(other, 'profile.json'), path.join(dir, 'profile.json.next'));
    const error = await expectCode(open(dir, 'new'), 'storage/wrong-passphrase');
    expect(error.message).toMatch(/PREVIOUS passphrase/);
    expect(existsSync(path.join(dir, 'profile.json.next'))).toBe(false);

    copyFileSync(path.join(other, 'profile.json'), path.join(dir, 'profile.json.next'));
    expect(await notes(await open(dir, 'old'))).toEqual(['x']);
    expect(existsSync(path.join(dir, 'profile.json.next'))).toBe(false);
  });
});
