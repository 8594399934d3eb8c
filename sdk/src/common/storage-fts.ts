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
   * `<table>_ad`, `<table>_au` keep the index in step with inserts, deletes and updates.
   */
  content?: { table: string; rowid: string };
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
  const table = checkIdent('table', options.table);
  if (!Array.isArray(options.columns) || options.columns.length === 0) throw new TypeError('createFtsTable: columns must be a non-empty array');
  const columns = options.columns.map((c) => checkIdent('column', c));
  const tokenize = options.tokenize ?? 'unicode61 remove_diacritics 2';
  if (!['unicode61', 'unicode61 remove_diacritics 2', 'porter unicode61', 'trigram'].includes(tokenize)) throw new TypeError(`createFtsTable: unknown tokenizer ${JSON.stringify(tokenize)}`);
  const list = (names: string[], prefix?: string) => {
    let fragment = sql``;
    names.forEach((n, i) => {
      const id = prefix ? sql`${sql.raw(prefix)}.${sql.id(n)}` : sql`${sql.id(n)}`;
      fragment = i === 0 ? id : sql`${fragment}, ${id}`;
    });
    return fragment;
  };
  const content = options.content;
  const contentArgs = content
    ? sql`, content=${sql.table(checkIdent('content.table', content.table))}, content_rowid=${sql.id(checkIdent('content.rowid', content.rowid))}`
    : sql``;
  await trust(sql`CREATE VIRTUAL TABLE ${sql.table(table)} USING fts5(${list(columns)}${contentArgs}, tokenize=${sql.lit(tokenize)})`).execute(db);
  if (!content) return;
  const source = sql.table(content.table);
  const rowid = sql.id(content.rowid);
  const fts = sql.table(table);
  const ftsName = sql.id(table);
  await trust(sql`CREATE TRIGGER ${sql.table(`${table}_ai`)} AFTER INSERT ON ${source} BEGIN INSERT INTO ${fts}(rowid, ${list(columns)}) VALUES (new.${rowid}, ${list(columns, 'new')}); END`).execute(db);
  await trust(sql`CREATE TRIGGER ${sql.table(`${table}_ad`)} AFTER DELETE ON ${source} BEGIN INSERT INTO ${fts}(${ftsName}, rowid, ${list(columns)}) VALUES ('delete', old.${rowid}, ${list(columns, 'old')}); END`).execute(db);
  await trust(sql`CREATE TRIGGER ${sql.table(`${table}_au`)} AFTER UPDATE ON ${source} BEGIN INSERT INTO ${fts}(${ftsName}, rowid, ${list(columns)}) VALUES ('delete', old.${rowid}, ${list(columns, 'old')}); INSERT INTO ${fts}(rowid, ${list(columns)}) VALUES (new.${rowid}, ${list(columns, 'new')}); END`).execute(db);
}
