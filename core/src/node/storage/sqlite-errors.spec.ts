import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { errorMappingDatabase, observeStatements } from './sqlite-errors.ts';
import { tempDir } from './storage-test-support.ts';

describe('errorMappingDatabase statement cache', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function open() {
    const dir = tempDir('sqlite-cache');
    dirs.push(dir);
    const raw = new Database(path.join(dir, 'db.sqlite'));
    let prepared = 0;
    const counting = new Proxy(raw, {
      get(target, key) {
        if (key === 'prepare') return (sql: string) => (prepared++, target.prepare(sql));
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: errorMappingDatabase(counting, 'db.sqlite') }) });
    return { db, prepared: () => prepared };
  }

  it('prepares a query shape once and reuses it with new parameters', async () => {
    const { db, prepared } = open();
    await db.schema.createTable('t').addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('v', 'text').execute();
    for (let i = 0; i < 5; i++) await db.insertInto('t').values({ id: i, v: `v${i}` }).execute();
    const before = prepared();
    for (let i = 0; i < 5; i++) expect(await db.selectFrom('t').select('v').where('id', '=', i).executeTakeFirst()).toEqual({ v: `v${i}` });
    expect(prepared() - before).toBe(1);
    await db.destroy();
  });

  it('sees a schema change through a cached statement', async () => {
    const { db } = open();
    await db.schema.createTable('t').addColumn('id', 'integer', (c) => c.primaryKey()).execute();
    await db.insertInto('t').values({ id: 1 }).execute();
    expect(await db.selectFrom('t').selectAll().execute()).toEqual([{ id: 1 }]);
    await db.schema.alterTable('t').addColumn('v', 'text', (c) => c.defaultTo('x')).execute();
    expect(await db.selectFrom('t').selectAll().execute()).toEqual([{ id: 1, v: 'x' }]);
    await db.destroy();
  });

  it('runs a query while the same query is being iterated', () => {
    const dir = tempDir('sqlite-cache');
    dirs.push(dir);
    const raw = new Database(path.join(dir, 'db.sqlite'));
    raw.exec('create table t (id integer primary key); insert into t values (1), (2), (3)');
    const db = errorMappingDatabase(raw, 'db.sqlite');
    const sql = 'select id from t order by id';
    const seen: unknown[] = [];
    for (const row of db.prepare(sql).iterate([])) {
      seen.push(row);
      expect(db.prepare(sql).all([])).toHaveLength(3);
    }
    expect(seen).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    db.close();
  });

  it('still maps errors of cached statements', async () => {
    const { db } = open();
    await db.schema.createTable('t').addColumn('id', 'integer', (c) => c.primaryKey()).execute();
    await db.insertInto('t').values({ id: 1 }).execute();
    await expect(db.insertInto('t').values({ id: 1 }).execute()).rejects.toThrow(/UNIQUE/);
    await expect(db.selectFrom('missing').selectAll().execute()).rejects.toThrow(/no such table/);
    await db.destroy();
  });

  it('reports each statement (also failing ones) to the observer while one is set, and stops when cleared', async () => {
    const { db } = open();
    const seen: { sql: string; cpu: number }[] = [];
    observeStatements((sql, cpu) => seen.push({ sql, cpu }));
    try {
      await db.transaction().execute(async (trx) => {
        await trx.schema.createTable('t').addColumn('id', 'integer', (c) => c.primaryKey()).execute();
        await trx.insertInto('t').values({ id: 1 }).execute();
      });
      await expect(db.insertInto('t').values({ id: 1 }).execute()).rejects.toThrow(/UNIQUE/);
    } finally {
      observeStatements(undefined);
    }
    expect(seen.map((s) => s.sql.split(' ')[0]!.toLowerCase())).toEqual(['begin', 'create', 'insert', 'commit', 'insert']);
    for (const s of seen) expect(s.cpu).toBeGreaterThanOrEqual(0);
    await db.selectFrom('t').selectAll().execute();
    expect(seen).toHaveLength(5);
    await db.destroy();
  });
});

describe('errorMappingDatabase commit reports', () => {
  it('reports each commit that wrote (a transaction, a write outside one, an outermost savepoint), and nothing else', async () => {
    const dir = tempDir('sqlite-commits');
    const raw = new Database(path.join(dir, 'db.sqlite'));
    raw.pragma('journal_mode = WAL');
    let commits = 0;
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: errorMappingDatabase(raw, 'db.sqlite', { inTransaction: () => raw.inTransaction, committed: () => void commits++ }) }) });
    const reported = async (fn: () => Promise<unknown>) => {
      const before = commits;
      await fn().catch(() => undefined);
      return commits - before;
    };
    await db.schema.createTable('t').addColumn('id', 'integer', (c) => c.primaryKey()).execute();
    expect(await reported(() => db.insertInto('t').values({ id: 1 }).execute())).toBe(1);
    expect(await reported(() => db.transaction().execute(async (trx) => {
      await trx.insertInto('t').values({ id: 2 }).execute();
      await trx.insertInto('t').values({ id: 3 }).returning('id').execute();
    }))).toBe(1);
    expect(await reported(() => db.selectFrom('t').selectAll().execute())).toBe(0);
    expect(await reported(() => db.transaction().execute((trx) => trx.selectFrom('t').selectAll().execute()))).toBe(0);
    expect(await reported(() => db.transaction().execute(async (trx) => {
      await trx.insertInto('t').values({ id: 4 }).execute();
      throw new Error('rolled back');
    }))).toBe(0);
    expect(await reported(() => db.connection().execute(async (c) => {
      await sql`savepoint outer_sp`.execute(c);
      await c.insertInto('t').values({ id: 5 }).execute();
      await sql`release outer_sp`.execute(c);
    }))).toBe(1);
    expect(raw.prepare('select count(*) as n from t').get()).toEqual({ n: 4 });
    // A commit that throws: its error reaches the caller, not the error of the rollback kysely tries next.
    let refuse = true;
    const failing = new Kysely<any>({ dialect: new SqliteDialect({ database: errorMappingDatabase(raw, 'db.sqlite', {
      inTransaction: () => raw.inTransaction,
      committed: () => {
        if (refuse) throw new Error('the disk said no');
      },
    }) }) });
    await expect(failing.transaction().execute((trx) => trx.insertInto('t').values({ id: 6 }).execute())).rejects.toThrow('the disk said no');
    refuse = false;
    await failing.insertInto('t').values({ id: 7 }).execute();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
});
