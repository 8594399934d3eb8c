import { CompiledQuery, Kysely, SqliteDialect } from 'kysely';
import type {
  ConnectionProvider, DatabaseConnection, Driver, KyselyPlugin, OperationNode, QueryExecutor, QueryId, QueryResult, RootOperationNode,
} from 'kysely';
import { AppError, isTrustedSqlNode } from '@discordopus/sdk';

export interface ScopedKyselyOptions {
  /**
   * Prefixes of OTHER plugins that start with this one's (`a_` vs `a_b_` for plugins `a` and
   * `a-b`): their tables are refused although they match `tablePrefix`.
   */
  otherPrefixes?: readonly string[];
}

const PREFIX = /^[a-z][a-z0-9_]*_$/;
// SQLite functions that read the schema or other databases, or load code.
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DENIED_FUNCTION = /^(pragma_|sqlite_|load_extension$|fts3_tokenizer$|readfile$|writefile$|edit$|fts5$)/i;

/**
 * A kysely handle that can only reach tables whose names start with `tablePrefix`.
 *
 * The handle's executor walks every query's operation-node tree and refuses (AppError
 * `storage/table-not-allowed`) any table, index, view, trigger or CTE name outside the prefix,
 * also in joins, subqueries, foreign-key references and DDL; any schema-qualified name
 * (`main.x`, `temp.x`); raw `sql` fragments (their text cannot be checked: FTS5 tables are made
 * with the SDK's createFtsTable; kysely's own `asc`/`desc` and `on true` nodes are accepted);
 * function names that are not bare identifiers or that read the schema or load code. Qualified
 * column references (`m.body`) are not checked: SQL resolves them against the query's own FROM
 * list, which is.
 *
 * The handle's executor checks the final tree at compile time (after any plugin the caller adds)
 * and executes only queries it compiled itself, so `withoutPlugins()`,
 * `withSchema()`, a hand-made `CompiledQuery`, `getExecutor().provideConnection()` and
 * `connection()` do not get around it; `destroy()` does not close the profile database.
 * Transactions work as usual. A statement whose compiled SQL text was checked before for the same
 * prefixes is not walked again (the text is what runs; values are bound parameters): the walk
 * costs as much as kysely's own compile, and a plugin runs the same few statements over and over.
 * It is still not a sandbox: hostile code in the same JavaScript realm
 * can patch shared prototypes; containing untrusted plugins needs a process boundary.
 */
export function scopedKysely(db: Kysely<any>, tablePrefix: string, options: ScopedKyselyOptions = {}): Kysely<any> {
  if (typeof tablePrefix !== 'string' || !PREFIX.test(tablePrefix)) {
    throw new TypeError(`scopedKysely: tablePrefix must match ${PREFIX}, got ${JSON.stringify(tablePrefix)}`);
  }
  const others = (options.otherPrefixes ?? []).map((p) => p.toLowerCase()).filter((p) => p.startsWith(tablePrefix) && p !== tablePrefix);
  const guard = new TableGuard(tablePrefix, others);
  const executor = new GuardedExecutor(db.getExecutor(), guard);
  // The dialect is only used for introspection, which the guard refuses (it reads sqlite_master).
  const dialect = new SqliteDialect({ database: async () => { throw new Error('scopedKysely: no introspection'); } });
  return new Kysely<any>({ config: { dialect }, dialect, driver: transactionDriver, executor });
}

const ORDER_DIRECTIONS: ReadonlySet<string> = new Set(['asc', 'desc']);
const JOIN_CONDITIONS: ReadonlySet<string> = new Set(['true']);
const RAW_NODE_KEYS = ['kind', 'parameters', 'sqlFragments'].join();

/**
 * True for a raw node exactly as kysely's `RawNode.createWithSql(keyword)` builds it for one of
 * `keywords`: one fragment that is the keyword, no parameters, nothing else. Only such fixed
 * keywords are accepted in place of raw SQL, and only where kysely itself puts them.
 */
function isKeywordNode(node: unknown, keywords: ReadonlySet<string>): boolean {
  if (node === null || typeof node !== 'object') return false;
  const raw = node as { kind?: unknown; sqlFragments?: unknown; parameters?: unknown };
  return raw.kind === 'RawNode'
    && Object.keys(raw).sort().join() === RAW_NODE_KEYS
    && Array.isArray(raw.sqlFragments) && raw.sqlFragments.length === 1
    && typeof raw.sqlFragments[0] === 'string' && keywords.has(raw.sqlFragments[0])
    && Array.isArray(raw.parameters) && raw.parameters.length === 0;
}

const SAVEPOINT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TRANSACTION_CONTROL = /^(begin|commit|rollback|savepoint "[A-Za-z_][A-Za-z0-9_]*"|rollback to "[A-Za-z_][A-Za-z0-9_]*"|release "[A-Za-z_][A-Za-z0-9_]*")$/;

function savepointSql(command: string, name: string): CompiledQuery {
  if (!SAVEPOINT.test(name)) throw new TypeError(`savepoint names must be identifiers, got ${JSON.stringify(name)}`);
  return CompiledQuery.raw(`${command} "${name}"`);
}

/**
 * Transaction control for scoped handles (the statements SqliteDriver issues). Connections come
 * from the executor, never from here; destroying a scoped handle leaves the database open.
 */
const transactionDriver: Driver = {
  init: async () => {},
  acquireConnection: async () => { throw new Error('scopedKysely: connections come from the executor'); },
  releaseConnection: async () => {},
  destroy: async () => {},
  beginTransaction: async (c) => { await c.executeQuery(CompiledQuery.raw('begin')); },
  commitTransaction: async (c) => { await c.executeQuery(CompiledQuery.raw('commit')); },
  rollbackTransaction: async (c) => { await c.executeQuery(CompiledQuery.raw('rollback')); },
  savepoint: async (c, name) => { await c.executeQuery(savepointSql('savepoint', name)); },
  rollbackToSavepoint: async (c, name) => { await c.executeQuery(savepointSql('rollback to', name)); },
  releaseSavepoint: async (c, name) => { await c.executeQuery(savepointSql('release', name)); },
};

/**
 * Statements a guarded handle compiled after checking them: the tree kysely compiled (frozen)
 * and the SQL text it gave, per set of prefixes. Only these run, with any bound values: so a
 * statement compiled once runs again with new values without being built, checked and compiled
 * again (the SDK's preparedQuery), on any handle of the same plugin, also the one a store step
 * gets for the kernel's transaction.
 */
const approved = new WeakMap<object, { prefixes: string; sql: string }>();

class GuardedExecutor implements QueryExecutor {
  constructor(
    private readonly base: QueryExecutor,
    private readonly guard: TableGuard,
  ) {}

  get adapter() {
    return this.base.adapter;
  }

  get plugins() {
    return this.base.plugins;
  }

  transformQuery<T extends RootOperationNode>(node: T, queryId: QueryId): T {
    return this.base.transformQuery(node, queryId);
  }

  compileQuery<R = unknown>(node: RootOperationNode, queryId: QueryId): CompiledQuery<R> {
    // Compiling only builds text; nothing runs before the check.
    const compiled = this.base.compileQuery<R>(node, queryId);
    this.guard.checkCompiled(node, compiled.sql);
    approved.set(compiled.query, { prefixes: this.guard.prefixes, sql: compiled.sql });
    return compiled;
  }

  private require(compiled: CompiledQuery<unknown>, allowTransactionControl: boolean): void {
    const approval = approved.get(compiled.query);
    if (approval && approval.prefixes === this.guard.prefixes && approval.sql === compiled.sql) return;
    if (allowTransactionControl && compiled.parameters.length === 0 && TRANSACTION_CONTROL.test(compiled.sql)) return;
    throw new AppError(
      'storage/table-not-allowed',
      "Pre-compiled queries cannot run on a plugin's database handle: build the query with this handle's query builder.",
      { details: { prefix: this.guard.prefix } },
    );
  }

  async executeQuery<R>(compiled: CompiledQuery<R>): Promise<QueryResult<R>> {
    this.require(compiled, false);
    return this.base.executeQuery(compiled);
  }

  async *stream<R>(compiled: CompiledQuery<R>, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    this.require(compiled, false);
    yield* this.base.stream(compiled, chunkSize);
  }

  provideConnection<T>(consumer: (connection: DatabaseConnection) => Promise<T>): Promise<T> {
    return this.base.provideConnection((connection) =>
      consumer({
        executeQuery: async (compiled) => {
          this.require(compiled, true);
          return connection.executeQuery(compiled);
        },
        streamQuery: (compiled, chunkSize) => {
          this.require(compiled, true);
          return connection.streamQuery(compiled, chunkSize);
        },
      }),
    );
  }

  private derive(base: QueryExecutor): GuardedExecutor {
    return new GuardedExecutor(base, this.guard);
  }

  withConnectionProvider(connectionProvider: ConnectionProvider): QueryExecutor {
    return this.derive(this.base.withConnectionProvider(connectionProvider));
  }

  withPlugin(plugin: KyselyPlugin): QueryExecutor {
    return this.derive(this.base.withPlugin(plugin));
  }

  withPlugins(plugins: ReadonlyArray<KyselyPlugin>): QueryExecutor {
    return this.derive(this.base.withPlugins(plugins));
  }

  withPluginAtFront(plugin: KyselyPlugin): QueryExecutor {
    return this.derive(this.base.withPluginAtFront(plugin));
  }

  withoutPlugins(): QueryExecutor {
    return this.derive(this.base.withoutPlugins());
  }
}

/** Most SQL texts remembered as checked per set of prefixes (then the oldest are forgotten and checked again when they come back). */
const CHECKED_STATEMENTS = 1024;
const checkedByPrefixes = new Map<string, Set<string>>();

/** The SQL texts already checked for one set of prefixes, shared by every handle with those prefixes. */
function checkedStatements(prefixes: string): Set<string> {
  let checked = checkedByPrefixes.get(prefixes);
  if (!checked) checkedByPrefixes.set(prefixes, (checked = new Set()));
  return checked;
}

/** The check of one set of prefixes; it runs at compile time ({@link GuardedExecutor.compileQuery}), on the final tree. */
class TableGuard {
  /** This handle's prefix and the other plugins' it must not reach: what a check depends on. */
  readonly prefixes: string;
  private readonly checked: Set<string>;

  constructor(
    readonly prefix: string,
    private readonly others: readonly string[],
  ) {
    this.prefixes = [prefix, ...others].join(' ');
    this.checked = checkedStatements(this.prefixes);
  }

  /** Checks `node` unless its compiled text `sql` was checked before. @throws AppError `storage/table-not-allowed` */
  checkCompiled(node: OperationNode, sql: string): void {
    if (this.checked.has(sql)) return;
    this.visit(node, false);
    if (this.checked.size >= CHECKED_STATEMENTS) this.checked.delete(this.checked.values().next().value!);
    this.checked.add(sql);
  }

  private refuse(what: string, name: string): never {
    throw new AppError(
      'storage/table-not-allowed',
      `Access to ${what} "${name}" is not allowed: this plugin may only use tables whose names start with "${this.prefix}". Rename the table or use the plugin's own data.`,
      { details: { prefix: this.prefix, name } },
    );
  }

  private checkName(what: string, node: unknown): void {
    const ident = node as { kind?: string; schema?: { name: string }; identifier?: { name: string }; name?: string };
    if (ident?.kind === 'SchemableIdentifierNode') {
      if (ident.schema) this.refuse(what, `${ident.schema.name}.${ident.identifier!.name}`);
      this.checkName(what, ident.identifier);
      return;
    }
    const name = ident?.name;
    if (typeof name !== 'string') this.refuse(what, String(name));
    // SQLite folds ASCII case in identifiers: MESSAGING_x is messaging_x.
    const lower = name.toLowerCase();
    if (!lower.startsWith(this.prefix) || lower.length === this.prefix.length || this.others.some((p) => lower.startsWith(p))) this.refuse(what, name);
  }

  /** `on true` (JoinBuilder.onTrue) is a raw node, alone or and-ed with other conditions. */
  private visitJoinCondition(node: unknown): void {
    const n = node as { kind?: unknown; left?: unknown; right?: unknown } | null | undefined;
    if (n?.kind === 'AndNode') {
      this.visitJoinCondition(n.left);
      this.visitJoinCondition(n.right);
    } else if (!isKeywordNode(node, JOIN_CONDITIONS)) {
      this.visit(node, false);
    }
  }

  private visit(node: unknown, inReference: boolean): void {
    if (node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const child of node) this.visit(child, inReference);
      return;
    }
    const n = node as OperationNode & Record<string, unknown>;
    switch (n.kind) {
      case 'TableNode':
        // `t.col` and `t.*` name the FROM list's tables or aliases, which are checked where they appear.
        if (!inReference) this.checkName('table', n.table);
        return;
      case 'ReferenceNode':
        this.visit(n.column, false);
        this.visit(n.table, true);
        return;
      case 'OrderByItemNode':
        // kysely writes `asc`/`desc` as a raw node (order-by-parser, OrderByItemBuilder).
        // `nulls` is compiled as text, so a plugin transformer must not put anything else there.
        if (n.nulls !== undefined && n.nulls !== 'first' && n.nulls !== 'last') this.refuse('order by modifier', String(n.nulls));
        for (const [key, child] of Object.entries(n)) {
          if (key !== 'kind' && !(key === 'direction' && isKeywordNode(child, ORDER_DIRECTIONS))) this.visit(child, false);
        }
        return;
      case 'OnNode':
        this.visitJoinCondition(n.on);
        return;
      case 'ValueNode':
      case 'PrimitiveValueListNode':
        // Bound parameters (or, `immediate`, quoted literals): never names. Not walking them
        // spares a walk over every byte of a blob and every value of a bulk insert.
        return;
      case 'RawNode':
        if (!isTrustedSqlNode(n)) {
          throw new AppError(
            'storage/table-not-allowed',
            `Raw SQL (the sql\`\` tag) is not allowed on a plugin's database handle: its table names cannot be checked. Use the query builder, or the SDK's createFtsTable for full-text indexes.`,
            { details: { prefix: this.prefix } },
          );
        }
        break;
      case 'FunctionNode':
      case 'AggregateFunctionNode':
        // kysely writes the name as given (`eb.fn(name)`), so it must be a bare identifier.
        if (typeof n.func !== 'string' || !FUNCTION_NAME.test(n.func) || DENIED_FUNCTION.test(n.func)) this.refuse('function', String(n.func));
        break;
      case 'CreateIndexNode':
      case 'DropIndexNode':
        this.checkName('index', n.name);
        break;
      case 'CreateViewNode':
      case 'DropViewNode':
        this.checkName('view', n.name);
        break;
    }
    for (const [key, child] of Object.entries(n)) {
      if (key === 'kind') continue;
      if ((n.kind === 'CreateIndexNode' || n.kind === 'DropIndexNode' || n.kind === 'CreateViewNode' || n.kind === 'DropViewNode') && key === 'name') continue;
      this.visit(child, false);
    }
  }
}
