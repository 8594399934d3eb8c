import { sql } from 'kysely';
import type { Kysely, RawBuilder } from 'kysely';

/** Options of {@link createFtsTable}. Every name is a plain SQL identifier (`a-z A-Z 0-9 _`). */
export interface FtsTableOptions {
  /** Name of the FTS5 table; it must start with the plugin's table prefix (`messaging_messages_fts`). */
  table: string;
  /** Indexed columns. With `content`, they must be columns of the content table too. */
  columns: string[];
  /**
   * Index an existing table of the plugin (external content): triggers named `<table>_ai`,
   * `<table>_ad`, `<table>_au` keep the index in step with inserts, deletes and updates of the
   * indexed columns (an update of other columns leaves the index alone).
   */
  content?: { table: string; rowid: string };
  /**
   * With `content`: when new rows reach the index.
   * - `immediate` (default): in the transaction that inserts them.
   * - `deferred`: they wait in `<table>_pending` until {@link indexPendingFts} indexes them
   *   in one go. Indexing a row costs about as much as writing it again (FTS5 writes a segment per
   *   transaction), so a table written one row per transaction on a hot path, such as a chat's
   *   messages, saves half of each commit. Call {@link indexPendingFts} before a search and from
   *   time to time. Updates and deletes of indexed rows still reach the index at once.
   */
  indexing?: 'immediate' | 'deferred';
  /** FTS5 tokenizer; default `unicode61 remove_diacritics 2`. */
  tokenize?: 'unicode61' | 'unicode61 remove_diacritics 2' | 'porter unicode61' | 'trigram';
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Statements built here may contain raw SQL; the kernel's table guard accepts exactly these
// (and still checks every table name inside them against the plugin's prefix).
const trusted = new WeakSet<object>();

/** @internal For the kernel's table guard: true for SQL built by {@link createFtsTable}. */
export function isTrustedSqlNode(node: object): boolean {
  return trusted.has(node);
}

function trust(builder: RawBuilder<unknown>): RawBuilder<unknown> {
  const mark = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    if ((node as { kind?: unknown }).kind === 'RawNode') trusted.add(node);
    for (const value of Object.values(node)) mark(value);
  };
  mark(builder.toOperationNode());
  return builder;
}

function checkIdent(what: string, name: unknown): string {
  if (typeof name !== 'string' || !IDENT.test(name)) throw new TypeError(`createFtsTable: ${what} must be an identifier of a-z, A-Z, 0-9 and _, got ${JSON.stringify(name)}`);
  return name;
}

/**
 * Creates an FTS5 full-text index inside the plugin's (encrypted) tables. Plugins cannot send raw
 * SQL through their scoped database handle, so this is the way to create a virtual table; call it
 * from a migration with the handle the migration receives. Query the index with the query
 * builder: `.where('<table>', 'match', query).orderBy('rank')`, `eb.fn('snippet', ...)`.
 *
 * @throws TypeError for names that are not plain identifiers; AppError `storage/table-not-allowed`
 *   (from the kernel) for a name outside the plugin's prefix.
 * @example
 * await createFtsTable(db, { table: 'notes_fts', columns: ['body'], content: { table: 'notes_items', rowid: 'id' } });
 */
export async function createFtsTable(db: Kysely<any>, options: FtsTableOptions): Promise<void> {
  const names = checkOptions(options);
  await trust(sql`CREATE VIRTUAL TABLE ${sql.table(names.table)} USING fts5(${list(names.columns)}${
    names.content ? sql`, content=${sql.table(names.content.table)}, content_rowid=${sql.id(names.content.rowid)}` : sql``
  }, tokenize=${sql.lit(names.tokenize)})`).execute(db);
  if (names.content) await writeTriggers(db, names, names.content);
}

/**
 * Brings the triggers of an index made by {@link createFtsTable} (of any earlier SDK version) in
 * line with `options`, from a migration: e.g. to switch an existing index to `indexing:
 * 'deferred'`, or back (which indexes what is pending first). The index itself is kept.
 * @throws TypeError without `options.content` or for names that are not plain identifiers
 */
export async function updateFtsTriggers(db: Kysely<any>, options: FtsTableOptions): Promise<void> {
  const names = checkOptions(options);
  if (!names.content) throw new TypeError('updateFtsTriggers: only an index with `content` has triggers');
  const run = async (trx: Kysely<any>): Promise<void> => {
    if (names.indexing === 'immediate') {
      // Coming back from deferred (or never there: then this creates and drops an empty table).
      await trust(sql`CREATE TABLE IF NOT EXISTS ${sql.table(pendingTable(names.table))} (id INTEGER PRIMARY KEY)`).execute(trx);
      await indexPending(trx, names, names.content!);
      await trust(sql`DROP TABLE ${sql.table(pendingTable(names.table))}`).execute(trx);
    }
    for (const suffix of ['_ai', '_ad', '_au']) await trust(sql`DROP TRIGGER IF EXISTS ${sql.table(names.table + suffix)}`).execute(trx);
    await writeTriggers(trx, names, names.content!);
  };
  await atomically(db, run);
}

/**
 * Indexes the rows that wait for an index with `indexing: 'deferred'`, in one transaction (the
 * caller's, if `db` is one). Returns how many it indexed; 0 at once when none wait.
 */
export async function indexPendingFts(db: Kysely<any>, options: FtsTableOptions): Promise<number> {
  const names = checkOptions(options);
  if (!names.content || names.indexing !== 'deferred') throw new TypeError('indexPendingFts: the index must have `content` and `indexing: \'deferred\'`');
  const content = names.content;
  return atomically(db, (trx) => indexPending(trx, names, content));
}

/**
 * Runs `fn` all or nothing on one connection, whether or not `db` is in a transaction already (a
 * savepoint: outside a transaction it is one). `db.isTransaction` cannot tell: the handle a plugin
 * gets in a transaction or a migration is not a kysely Transaction.
 */
async function atomically<T>(db: Kysely<any>, fn: (db: Kysely<any>) => Promise<T>): Promise<T> {
  // A kysely Transaction holds its connection already (and refuses connection()).
  const hold = (body: (connection: Kysely<any>) => Promise<T>) => (db.isTransaction ? body(db) : db.connection().execute(body));
  return hold(async (connection) => {
    await trust(sql`SAVEPOINT sdk_fts`).execute(connection);
    let result: T;
    try {
      result = await fn(connection);
    } catch (error) {
      await trust(sql`ROLLBACK TO sdk_fts`).execute(connection);
      await trust(sql`RELEASE sdk_fts`).execute(connection);
      throw error;
    }
    await trust(sql`RELEASE sdk_fts`).execute(connection);
    return result;
  });
}

type Names = Required<Omit<FtsTableOptions, 'content'>> & Pick<FtsTableOptions, 'content'>;

function checkOptions(options: FtsTableOptions): Names {
  const table = checkIdent('table', options.table);
  if (!Array.isArray(options.columns) || options.columns.length === 0) throw new TypeError('createFtsTable: columns must be a non-empty array');
  const columns = options.columns.map((c) => checkIdent('column', c));
  const tokenize = options.tokenize ?? 'unicode61 remove_diacritics 2';
  if (!['unicode61', 'unicode61 remove_diacritics 2', 'porter unicode61', 'trigram'].includes(tokenize)) throw new TypeError(`createFtsTable: unknown tokenizer ${JSON.stringify(tokenize)}`);
  const indexing = options.indexing ?? 'immediate';
  if (indexing !== 'immediate' && indexing !== 'deferred') throw new TypeError(`createFtsTable: indexing must be 'immediate' or 'deferred', got ${JSON.stringify(indexing)}`);
  if (indexing === 'deferred' && !options.content) throw new TypeError("createFtsTable: indexing: 'deferred' needs `content` (the rows wait in the content table)");
  const content = options.content && { table: checkIdent('content.table', options.content.table), rowid: checkIdent('content.rowid', options.content.rowid) };
  return { table, columns, tokenize, indexing, content };
}

const pendingTable = (table: string) => `${table}_pending`;

/** `a, b` or `new.a, new.b`. */
function list(names: string[], prefix?: string) {
  let fragment = sql``;
  names.forEach((n, i) => {
    const id = prefix ? sql`${sql.raw(prefix)}.${sql.id(n)}` : sql`${sql.id(n)}`;
    fragment = i === 0 ? id : sql`${fragment}, ${id}`;
  });
  return fragment;
}

async function writeTriggers(db: Kysely<any>, names: Names, content: { table: string; rowid: string }): Promise<void> {
  const source = sql.table(content.table);
  const rowid = sql.id(content.rowid);
  const fts = sql.table(names.table);
  const ftsName = sql.id(names.table);
  const trigger = (suffix: string) => sql.table(names.table + suffix);
  const columns = list(names.columns);
  const changed = sql`${columns}, ${rowid}`;
  const remove = sql`INSERT INTO ${fts}(${ftsName}, rowid, ${columns}) SELECT 'delete', old.${rowid}, ${list(names.columns, 'old')}`;
  const add = sql`INSERT INTO ${fts}(rowid, ${columns}) SELECT new.${rowid}, ${list(names.columns, 'new')}`;
  if (names.indexing === 'immediate') {
    await trust(sql`CREATE TRIGGER ${trigger('_ai')} AFTER INSERT ON ${source} BEGIN ${add}; END`).execute(db);
    await trust(sql`CREATE TRIGGER ${trigger('_ad')} AFTER DELETE ON ${source} BEGIN ${remove}; END`).execute(db);
    await trust(sql`CREATE TRIGGER ${trigger('_au')} AFTER UPDATE OF ${changed} ON ${source} BEGIN ${remove}; ${add}; END`).execute(db);
    return;
  }
  // Deferred: a new row's id waits in the pending table; a pending row is not in the index yet,
  // so its update or delete must not reach the index (a 'delete' of what FTS5 never saw corrupts it).
  const pending = sql.table(pendingTable(names.table));
  const indexed = sql`WHERE NOT EXISTS (SELECT 1 FROM ${pending} WHERE id = old.${rowid})`;
  await trust(sql`CREATE TABLE IF NOT EXISTS ${pending} (id INTEGER PRIMARY KEY)`).execute(db);
  await trust(sql`CREATE TRIGGER ${trigger('_ai')} AFTER INSERT ON ${source} BEGIN INSERT INTO ${pending}(id) VALUES (new.${rowid}); END`).execute(db);
  await trust(sql`CREATE TRIGGER ${trigger('_ad')} AFTER DELETE ON ${source} BEGIN ${remove} ${indexed}; DELETE FROM ${pending} WHERE id = old.${rowid}; END`).execute(db);
  await trust(sql`CREATE TRIGGER ${trigger('_au')} AFTER UPDATE OF ${changed} ON ${source} BEGIN ${remove} ${indexed}; ${add} ${indexed}; UPDATE ${pending} SET id = new.${rowid} WHERE id = old.${rowid}; END`).execute(db);
}

async function indexPending(trx: Kysely<any>, names: Names, content: { table: string; rowid: string }): Promise<number> {
  const pending = sql.table(pendingTable(names.table));
  const waiting = await trust(sql`SELECT count(*) AS n FROM ${pending}`).execute(trx);
  const count = Number((waiting.rows[0] as { n: number | bigint }).n);
  if (count === 0) return 0;
  await trust(sql`INSERT INTO ${sql.table(names.table)}(rowid, ${list(names.columns)}) SELECT ${sql.id(content.rowid)}, ${list(names.columns)} FROM ${sql.table(content.table)} WHERE ${sql.id(content.rowid)} IN (SELECT id FROM ${pending})`).execute(trx);
  await trust(sql`DELETE FROM ${pending}`).execute(trx);
  return count;
}
