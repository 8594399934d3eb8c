import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompiledQuery, OperationNodeTransformer, TableNode, sql } from 'kysely';
import type { Kysely, KyselyPlugin, OrderByItemNode, RawNode } from 'kysely';
import { createFtsTable, indexPendingFts, isAppError, preparedQuery, updateFtsTriggers } from '@discordopus/sdk';
import type { FtsTableOptions } from '@discordopus/sdk';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { openProfileDatabase } from './profile-database.ts';
import type { ProfileDatabase } from './profile-database.ts';
import { runMigrations } from './migrations.ts';
import { scopedKysely } from './table-guard.ts';
import { TEST_KDF, tempDir } from './storage-test-support.ts';

let dir: string;
let profile: ProfileDatabase;
let db: Kysely<any>;
let chat: Kysely<any>;

beforeAll(async () => {
  dir = tempDir('guard');
  profile = await openProfileDatabase({ dir, passphrase: 'pw', crypto: new NodeCryptoProvider(), kdf: TEST_KDF, create: true });
  db = profile.db;
  await runMigrations(db, 'chat', [
    {
      id: '0010-tables',
      async up(d) {
        await d.schema.createTable('chat_rooms').addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('name', 'text').execute();
        await d.schema
          .createTable('chat_messages')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('room', 'integer', (c) => c.references('chat_rooms.id').onDelete('cascade'))
          .addColumn('body', 'text')
          .execute();
        await d.schema.createIndex('chat_messages_room').on('chat_messages').column('room').execute();
      },
    },
  ], { tablePrefix: 'chat_' });
  await db.schema.createTable('secret_keys').addColumn('k', 'text').execute();
  await db.insertInto('secret_keys').values({ k: 'do not read' }).execute();
  await db.schema.createTable('chat_x_other').addColumn('k', 'text').execute();
  chat = scopedKysely(db, 'chat_', { otherPrefixes: ['chat_x_', 'files_'] });
  await chat.insertInto('chat_rooms').values({ id: 1, name: 'general' }).execute();
  await chat.insertInto('chat_messages').values([{ room: 1, body: 'hello' }, { room: 1, body: 'world' }]).execute();
});
afterAll(async () => {
  await profile.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refused(query: Promise<unknown>, name?: string): Promise<void> {
  const error = await query.then(() => undefined, (e: unknown) => e);
  expect(isAppError(error, 'storage/table-not-allowed'), String(error)).toBe(true);
  if (name) expect((error as Error).message).toContain(`"${name}"`);
}

describe('scopedKysely', () => {
  it('allows queries on the prefix: joins, aliases, subqueries, CTEs, DML and transactions', async () => {
    const joined = await chat
      .selectFrom('chat_messages as m')
      .innerJoin('chat_rooms as r', 'r.id', 'm.room')
      .select(['m.body', 'r.name'])
      .where('m.room', 'in', chat.selectFrom('chat_rooms').select('id'))
      .orderBy('m.id')
      .execute();
    expect(joined).toEqual([{ body: 'hello', name: 'general' }, { body: 'world', name: 'general' }]);
    const cte = await chat.with('chat_recent', (q) => q.selectFrom('chat_messages').selectAll()).selectFrom('chat_recent').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    expect(cte).toEqual({ n: 2 });
    expect(await chat.selectFrom('CHAT_rooms').selectAll('CHAT_rooms').execute()).toEqual([{ id: 1, name: 'general' }]);
    await chat.transaction().execute(async (trx) => {
      await trx.updateTable('chat_messages').set({ body: 'HELLO' }).where('body', '=', 'hello').execute();
      await trx.deleteFrom('chat_messages').where('body', '=', 'world').execute();
    });
    expect(await chat.selectFrom('chat_messages').select('body').execute()).toEqual([{ body: 'HELLO' }]);
  });

  it('refuses tables outside the prefix in every position', async () => {
    await refused(chat.selectFrom('secret_keys').selectAll().execute(), 'secret_keys');
    await refused(chat.selectFrom('chat_messages').innerJoin('secret_keys', 'secret_keys.k', 'chat_messages.body').selectAll().execute(), 'secret_keys');
    // A builder of the scoped handle is checked as soon as it is embedded (synchronously).
    await refused((async () => chat.selectFrom('chat_messages').selectAll().where('body', 'in', chat.selectFrom('secret_keys').select('k')).execute())(), 'secret_keys');
    await refused(chat.selectFrom('chat_messages').selectAll().where('body', 'in', db.selectFrom('secret_keys').select('k')).execute(), 'secret_keys');
    await refused(chat.selectFrom('chat_messages').select((eb) => eb.selectFrom('kernel_migrations').select('id').limit(1).as('leak')).execute(), 'kernel_migrations');
    await refused(chat.selectFrom((eb) => eb.selectFrom('secret_keys').selectAll().as('chat_t')).selectAll().execute(), 'secret_keys');
    await refused(chat.with('leak', (q) => q.selectFrom('chat_rooms').selectAll()).selectFrom('leak').selectAll().execute(), 'leak');
    await refused(chat.insertInto('secret_keys').values({ k: 'x' }).execute(), 'secret_keys');
    await refused(chat.insertInto('chat_rooms').columns(['name']).expression((eb) => eb.selectFrom('secret_keys').select('k')).execute(), 'secret_keys');
    await refused(chat.updateTable('secret_keys').set({ k: 'x' }).execute(), 'secret_keys');
    await refused(chat.deleteFrom('secret_keys').execute(), 'secret_keys');
    await refused(chat.selectFrom('main.chat_rooms').selectAll().execute(), 'main.chat_rooms');
    await refused(chat.selectFrom('chat_').selectAll().execute(), 'chat_');
    await refused(chat.selectFrom('chat_x_other').selectAll().execute(), 'chat_x_other');
    expect(await db.selectFrom('secret_keys').select('k').execute()).toEqual([{ k: 'do not read' }]);
  });

  it('refuses DDL that names or reaches other tables, indexes or views', async () => {
    await refused(chat.schema.createTable('kernel_evil').addColumn('x', 'integer').execute(), 'kernel_evil');
    await refused(chat.schema.dropTable('secret_keys').execute(), 'secret_keys');
    await refused(chat.schema.alterTable('chat_rooms').renameTo('kernel_rooms').execute(), 'kernel_rooms');
    await refused(chat.schema.alterTable('secret_keys').addColumn('y', 'text').execute(), 'secret_keys');
    await refused(chat.schema.createIndex('kernel_idx').on('chat_rooms').column('name').execute(), 'kernel_idx');
    await refused(chat.schema.createIndex('chat_idx').on('secret_keys').column('k').execute(), 'secret_keys');
    await refused(chat.schema.dropIndex('kernel_migrations_pk').execute(), 'kernel_migrations_pk');
    await refused(chat.schema.createTable('chat_fk').addColumn('k', 'text', (c) => c.references('secret_keys.k')).execute(), 'secret_keys');
    await refused(chat.schema.createView('chat_view').as(db.selectFrom('secret_keys').selectAll()).execute(), 'secret_keys');
    await refused(chat.schema.createView('evil_view').as(chat.selectFrom('chat_rooms').selectAll()).execute(), 'evil_view');
    expect(await db.selectFrom('sqlite_master').select('name').where('name', 'like', 'kernel_e%').execute()).toEqual([]);
  });

  it('refuses raw sql fragments and schema-reading functions', async () => {
    const error = await sql`SELECT * FROM secret_keys`.execute(chat).then(() => undefined, (e: unknown) => e);
    expect(isAppError(error, 'storage/table-not-allowed')).toBe(true);
    expect((error as Error).message).toMatch(/Raw SQL .* createFtsTable/);
    await refused(chat.selectFrom('chat_rooms').select(sql`(SELECT k FROM secret_keys)`.as('k')).execute());
    await refused(chat.selectFrom('chat_rooms').where(sql<boolean>`1 = 1`).selectAll().execute());
    await refused(chat.selectFrom('chat_rooms').select((eb) => eb.fn('sqlite_version').as('v')).execute(), 'sqlite_version');
    await refused(chat.selectFrom((eb) => eb.fn('pragma_table_list').as('chat_t')).selectAll().execute(), 'pragma_table_list');
    const injected = 'upper((SELECT k FROM secret_keys))||upper';
    await refused(chat.selectFrom('chat_rooms').select((eb) => eb.fn(injected, []).as('v')).execute(), injected);
    expect(await chat.selectFrom('chat_rooms').select((eb) => eb.fn<string>('upper', ['name']).as('v')).execute()).toEqual([{ v: 'GENERAL' }]);
  });

  it("accepts kysely's own order directions and `on true`, but no raw SQL in their place", async () => {
    const bodies = async (q: { execute(): Promise<Array<{ body: string }>> }) => (await q.execute()).map((r) => r.body);
    await chat.insertInto('chat_messages').values([{ id: 10, room: 1, body: 'a' }, { id: 11, room: 1, body: 'b' }, { id: 12, room: null, body: 'c' }]).execute();
    const base = chat.selectFrom('chat_messages').select('body').where('id', '>=', 10);
    expect(await bodies(base.orderBy('id', 'desc'))).toEqual(['c', 'b', 'a']);
    expect(await bodies(base.orderBy('id', 'asc'))).toEqual(['a', 'b', 'c']);
    expect(await bodies(base.orderBy('room', (ob) => ob.desc().nullsLast()).orderBy('id', (ob) => ob.asc()))).toEqual(['a', 'b', 'c']);
    expect(await bodies(base.orderBy('room', (ob) => ob.asc().nullsFirst()).orderBy('id', (ob) => ob.desc()))).toEqual(['c', 'b', 'a']);
    expect(await bodies(base.orderBy('body', (ob) => ob.collate('nocase').desc()))).toEqual(['c', 'b', 'a']);
    const joined = await chat.selectFrom('chat_messages as m').innerJoin('chat_rooms as r', (j) => j.onTrue()).select('m.body').where('m.id', '=', 10).execute();
    expect(joined).toEqual([{ body: 'a' }]);
    const both = await chat.selectFrom('chat_messages as m').innerJoin('chat_rooms as r', (j) => j.onRef('r.id', '=', 'm.room').onTrue()).select('m.body').where('m.id', '=', 10).execute();
    expect(both).toEqual([{ body: 'a' }]);

    await refused(base.orderBy('id', sql`desc, (SELECT k FROM secret_keys)`).execute());
    await refused(base.orderBy(sql`(SELECT k FROM secret_keys)`, 'desc').execute());
    await refused(chat.selectFrom('chat_messages').innerJoin('chat_rooms', (j) => j.on(sql<boolean>`(SELECT 1 FROM secret_keys)`)).selectAll().execute());
    // Raw nodes shaped like kysely's keywords but carrying anything more, injected by a transformer.
    const direction = (raw: object): KyselyPlugin => ({
      transformQuery: (args) => new (class extends OperationNodeTransformer {
        protected override transformOrderByItem(node: OrderByItemNode): OrderByItemNode {
          return { ...super.transformOrderByItem(node), direction: raw as RawNode };
        }
      })().transformNode(args.node),
      transformResult: async (args) => args.result,
    });
    const imitations = [
      { kind: 'RawNode', sqlFragments: ['desc, (SELECT k FROM secret_keys)'], parameters: [] },
      { kind: 'RawNode', sqlFragments: ['DESC'], parameters: [] },
      { kind: 'RawNode', sqlFragments: ['desc', ''], parameters: [TableNode.create('secret_keys')] },
      { kind: 'RawNode', sqlFragments: ['true'], parameters: [] },
    ];
    for (const raw of imitations) await refused(base.orderBy('id', 'desc').withPlugin(direction(raw)).execute());
    // What runs is the compiled text: a node with an extra field the compiler ignores compiles to
    // the text of a statement checked above, and runs just that.
    const extra = { kind: 'RawNode', sqlFragments: ['desc'], parameters: [], extra: TableNode.create('secret_keys') };
    expect(await bodies(base.orderBy('id', 'desc').withPlugin(direction(extra)))).toEqual(['c', 'b', 'a']);
    const nulls: KyselyPlugin = {
      transformQuery: (args) => new (class extends OperationNodeTransformer {
        protected override transformOrderByItem(node: OrderByItemNode): OrderByItemNode {
          return { ...super.transformOrderByItem(node), nulls: 'last, (SELECT k FROM secret_keys)' as 'last' };
        }
      })().transformNode(args.node),
      transformResult: async (args) => args.result,
    };
    await refused(base.orderBy('id', (ob) => ob.nullsLast()).withPlugin(nulls).execute());
    await chat.deleteFrom('chat_messages').where('id', '>=', 10).execute();
  });

  it('runs prepared statements with new values on any handle of the plugin, inside transactions too, and nowhere else', async () => {
    const insert = preparedQuery((d, id: number, body: string) => d.insertInto('chat_messages').values({ id, room: 1, body }));
    const bodies = preparedQuery((d, from: number) => d.selectFrom('chat_messages').select('body').where('id', '>=', from).orderBy('id'));
    await insert(chat, 20, 'first');
    // Another handle with the same prefixes (a store step gets one on the kernel's transaction).
    const again = scopedKysely(db, 'chat_', { otherPrefixes: ['chat_x_', 'files_'] });
    await again.transaction().execute(async (trx) => {
      await insert(trx, 21, 'second');
      await insert(scopedKysely(trx, 'chat_', { otherPrefixes: ['chat_x_', 'files_'] }), 22, 'third');
    });
    expect((await bodies(chat, 20)).rows).toEqual([{ body: 'first' }, { body: 'second' }, { body: 'third' }]);
    // Compiled by chat_'s handle: another plugin's handle does not run it.
    const other = scopedKysely(db, 'files_');
    await refused(bodies(other, 20));
    // The tree that was checked, with SQL of its own: refused.
    const compiled = chat.selectFrom('chat_messages').select('body').compile();
    await refused(chat.executeQuery({ ...compiled, sql: 'SELECT k AS body FROM secret_keys' }));
    // A refused statement stays refused however often it is tried.
    const secret = preparedQuery((d, k: string) => d.selectFrom('secret_keys').selectAll().where('k', '=', k));
    await refused(secret(chat, 'x'));
    await refused(secret(chat, 'x'));
    // A value must be a bound value: one that shapes the statement cannot be prepared.
    const shaped = preparedQuery((d, limited: boolean) => (limited ? d.selectFrom('chat_messages').select('body').limit(1) : d.selectFrom('chat_messages').select('body')));
    await expect(shaped(chat, true)).rejects.toThrow(TypeError);
    await chat.deleteFrom('chat_messages').where('id', '>=', 20).execute();
  });

  it('cannot be bypassed through withoutPlugins, withSchema, pre-compiled queries, raw connections or extra plugins', async () => {
    await refused(chat.withoutPlugins().selectFrom('secret_keys').selectAll().execute(), 'secret_keys');
    await refused(chat.withSchema('main').selectFrom('chat_rooms').selectAll().execute(), 'main.chat_rooms');
    await refused(chat.executeQuery(CompiledQuery.raw('SELECT * FROM secret_keys')));
    const approved = chat.selectFrom('chat_rooms').selectAll().compile();
    await refused(chat.executeQuery({ ...approved, sql: 'SELECT k AS name, 1 AS id FROM secret_keys' }));
    await refused(chat.getExecutor().provideConnection((c) => c.executeQuery(CompiledQuery.raw('SELECT * FROM secret_keys'))));
    await refused(chat.connection().execute((c) => c.selectFrom('secret_keys').selectAll().execute()), 'secret_keys');
    expect(await chat.connection().execute((c) => c.selectFrom('chat_rooms').select('name').execute())).toEqual([{ name: 'general' }]);
    const renamer: KyselyPlugin = {
      transformQuery: (args) => new (class extends OperationNodeTransformer {
        protected override transformTable(_node: TableNode): TableNode {
          return TableNode.create('secret_keys');
        }
      })().transformNode(args.node),
      transformResult: async (args) => args.result,
    };
    await refused(chat.withPlugin(renamer).selectFrom('chat_rooms').selectAll().execute(), 'secret_keys');
    await refused(chat.transaction().execute((trx) => trx.withoutPlugins().deleteFrom('secret_keys').execute()), 'secret_keys');
    const streamed: unknown[] = [];
    for await (const row of chat.selectFrom('chat_rooms').select('name').stream()) streamed.push(row);
    expect(streamed).toEqual([{ name: 'general' }]);
    await chat.destroy();
    expect(await db.selectFrom('secret_keys').select('k').execute()).toEqual([{ k: 'do not read' }]);
  });

  it('supports rollback and savepoints on the scoped handle', async () => {
    const h = scopedKysely(db, 'chat_');
    await expect(h.transaction().execute(async (trx) => {
      await trx.insertInto('chat_rooms').values({ id: 50, name: 'temp' }).execute();
      throw new Error('abort');
    })).rejects.toThrow('abort');
    const trx = await h.startTransaction().execute();
    await trx.insertInto('chat_rooms').values({ id: 60, name: 'kept' }).execute();
    const sp = await trx.savepoint('before_extra').execute();
    await sp.insertInto('chat_rooms').values({ id: 61, name: 'undone' }).execute();
    await sp.rollbackToSavepoint('before_extra').execute();
    await trx.commit().execute();
    expect(await h.selectFrom('chat_rooms').select('id').where('id', '>=', 50).execute()).toEqual([{ id: 60 }]);
    await h.deleteFrom('chat_rooms').where('id', '=', 60).execute();
  });

  it('checks its arguments', () => {
    expect(() => scopedKysely(db, 'chat')).toThrow(TypeError);
    expect(() => scopedKysely(db, 'Chat_')).toThrow(TypeError);
    expect(() => scopedKysely(db, '')).toThrow(TypeError);
  });
});

describe('createFtsTable (FTS5 in the encrypted database)', () => {
  it('creates a synced full-text index from a migration on the scoped handle', async () => {
    await runMigrations(db, 'notes', [
      {
        id: '0010-notes',
        async up(d) {
          await d.schema.createTable('notes_items').addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('title', 'text').addColumn('body', 'text').execute();
          await createFtsTable(d, { table: 'notes_items_fts', columns: ['title', 'body'], content: { table: 'notes_items', rowid: 'id' } });
        },
      },
    ], { tablePrefix: 'notes_' });
    const notes = scopedKysely(db, 'notes_');
    await notes.insertInto('notes_items').values([
      { title: 'Groceries', body: 'buy crème fraîche and apples' },
      { title: 'Trip', body: 'train to Lyon on friday' },
      { title: 'Music', body: 'apples and oranges by someone' },
    ]).execute();
    const search = async (q: string) =>
      (await notes.selectFrom('notes_items_fts').select(['rowid', 'title']).where('notes_items_fts', 'match', q).orderBy('rank').execute()).map((r) => r.title);
    expect((await search('apples')).sort()).toEqual(['Groceries', 'Music']);
    expect(await search('creme')).toEqual(['Groceries']);
    expect(await search('lyon AND friday')).toEqual(['Trip']);
    const snippet = await notes
      .selectFrom('notes_items_fts')
      .select((eb) => eb.fn<string>('snippet', [eb.ref('notes_items_fts'), eb.lit(1), eb.val('['), eb.val(']'), eb.val('…'), eb.lit(4)]).as('s'))
      .where('notes_items_fts', 'match', 'lyon')
      .executeTakeFirstOrThrow();
    expect(snippet.s).toContain('[Lyon]');
    await notes.updateTable('notes_items').set({ body: 'bus to Paris' }).where('title', '=', 'Trip').execute();
    await notes.deleteFrom('notes_items').where('title', '=', 'Music').execute();
    expect(await search('lyon')).toEqual([]);
    expect(await search('paris')).toEqual(['Trip']);
    expect(await search('apples')).toEqual(['Groceries']);
    const shadow = await db.selectFrom('sqlite_master').select('name').where('name', 'like', 'notes_items_fts%').orderBy('name').execute();
    expect(shadow.map((r) => r.name)).toEqual(expect.arrayContaining(['notes_items_fts', 'notes_items_fts_ad', 'notes_items_fts_ai', 'notes_items_fts_au', 'notes_items_fts_data']));
  });

  it('with deferred indexing, indexes new rows when asked, and pending rows can change or go first', async () => {
    const index: FtsTableOptions = { table: 'notes_later_fts', columns: ['body'], content: { table: 'notes_later', rowid: 'id' }, indexing: 'deferred' };
    await runMigrations(db, 'notes', [
      {
        id: '0020-later',
        async up(d) {
          await d.schema.createTable('notes_later').addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('body', 'text').addColumn('seen', 'integer').execute();
          await createFtsTable(d, index);
        },
      },
    ], { tablePrefix: 'notes_' });
    const notes = scopedKysely(db, 'notes_');
    const search = async (q: string) =>
      (await notes.selectFrom('notes_later_fts').select('rowid').where('notes_later_fts', 'match', q).orderBy('rowid').execute()).map((r) => r.rowid);
    const intact = () => sql`INSERT INTO notes_later_fts(notes_later_fts, rank) VALUES ('integrity-check', 1)`.execute(db);
    await notes.insertInto('notes_later').values([{ id: 1, body: 'apples' }, { id: 2, body: 'pears' }, { id: 3, body: 'plums' }]).execute();
    expect(await search('apples')).toEqual([]);
    // Pending rows change or go before they are indexed: the index must not hear of it.
    await notes.updateTable('notes_later').set({ body: 'apples and figs' }).where('id', '=', 2).execute();
    await notes.deleteFrom('notes_later').where('id', '=', 3).execute();
    expect(await notes.transaction().execute((trx) => indexPendingFts(trx, index))).toBe(2); // in a transaction

    expect(await indexPendingFts(notes, index)).toBe(0); // or not
    await intact();
    expect(await search('apples')).toEqual([1, 2]);
    expect(await search('figs')).toEqual([2]);
    // Indexed rows: updates and deletes reach the index at once; other columns leave it alone.
    await notes.updateTable('notes_later').set({ body: 'oranges' }).where('id', '=', 1).execute();
    const blocks = async () => (await sql<{ n: number }>`SELECT count(*) AS n FROM notes_later_fts_data`.execute(db)).rows[0]!.n;
    const before = await blocks();
    await notes.updateTable('notes_later').set({ seen: 1 }).execute();
    expect(await blocks()).toBe(before); // no new segment
    await notes.deleteFrom('notes_later').where('id', '=', 2).execute();
    await intact();
    // (The check compares the index with the table, so it runs only while nothing waits.)
    await notes.insertInto('notes_later').values({ id: 4, body: 'oranges again' }).execute();
    expect(await search('apples')).toEqual([]);
    expect(await search('oranges')).toEqual([1]);
    await indexPendingFts(notes, index);
    expect(await search('oranges')).toEqual([1, 4]);
    await intact();
    await expect(indexPendingFts(notes, { ...index, indexing: 'immediate' })).rejects.toThrow(TypeError);
    await expect(createFtsTable(notes, { table: 'notes_z_fts', columns: ['body'], indexing: 'deferred' })).rejects.toThrow(TypeError);
  });

  it('switches the triggers of an existing index between immediate and deferred', async () => {
    const immediate: FtsTableOptions = { table: 'notes_items_fts', columns: ['title', 'body'], content: { table: 'notes_items', rowid: 'id' } };
    const deferred: FtsTableOptions = { ...immediate, indexing: 'deferred' };
    const notes = scopedKysely(db, 'notes_');
    const search = async (q: string) => (await notes.selectFrom('notes_items_fts').select('title').where('notes_items_fts', 'match', q).execute()).map((r) => r.title);
    await runMigrations(db, 'notes', [{ id: '0030-deferred', up: (d) => updateFtsTriggers(d, deferred) }], { tablePrefix: 'notes_' });
    expect(await search('paris')).toEqual(['Trip']); // indexed before: still found
    await notes.insertInto('notes_items').values({ title: 'Kiwi', body: 'kiwis' }).execute();
    expect(await search('kiwis')).toEqual([]);
    // Back to immediate: what waits is indexed on the way.
    await runMigrations(db, 'notes', [{ id: '0040-immediate', up: (d) => updateFtsTriggers(d, immediate) }], { tablePrefix: 'notes_' });
    expect(await search('kiwis')).toEqual(['Kiwi']);
    const tables = await db.selectFrom('sqlite_master').select('name').where('name', '=', 'notes_items_fts_pending').execute();
    expect(tables).toEqual([]);
    await sql`INSERT INTO notes_items_fts(notes_items_fts, rank) VALUES ('integrity-check', 1)`.execute(db);
  });

  it('keeps the prefix rule for the index, its content table and bad identifiers', async () => {
    const notes = scopedKysely(db, 'notes_');
    await refused(createFtsTable(notes, { table: 'kernel_fts', columns: ['body'] }), 'kernel_fts');
    await refused(createFtsTable(notes, { table: 'notes_leak_fts', columns: ['k'], content: { table: 'secret_keys', rowid: 'rowid' } }), 'secret_keys');
    await expect(createFtsTable(notes, { table: 'notes_x; DROP TABLE secret_keys', columns: ['a'] })).rejects.toThrow(TypeError);
    await expect(createFtsTable(notes, { table: 'notes_y', columns: ['a)'] })).rejects.toThrow(TypeError);
    await expect(createFtsTable(notes, { table: 'notes_y', columns: [] })).rejects.toThrow(TypeError);
    await expect(createFtsTable(notes, { table: 'notes_y', columns: ['a'], tokenize: "ascii'" as 'trigram' })).rejects.toThrow(TypeError);
    await expect(createFtsTable(notes, { table: 'notes_y', columns: ['a'], indexing: 'later' as 'deferred' })).rejects.toThrow(TypeError);
    await expect(updateFtsTriggers(notes, { table: 'notes_y', columns: ['a'] })).rejects.toThrow(TypeError);
    expect(await db.selectFrom('secret_keys').select('k').execute()).toEqual([{ k: 'do not read' }]);
  });
});
