import { DisposableCollection, isAppError } from '@discordopus/sdk';
import type { Disposable, Logger } from '@discordopus/sdk';
import { z } from 'zod';

/*
 * A transport-independent JSON-RPC 2.0 server: a method table with a zod schema per method,
 * and connections that receive one message (a request, a notification or a batch) as text and
 * send responses and notifications back as text. The Unix-socket transport frames messages as
 * lines; a WebSocket transport (the renderer bridge) can frame them as WebSocket messages.
 */

/** JSON-RPC 2.0 error codes, plus the one used for AppErrors (its `data.code` is the AppError code). */
export const RpcErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** An AppError: `error.message` is the user-facing message, `error.data.code` its stable code. */
  AppError: 1000,
} as const;

/** What a method handler can do besides answering: push notifications, hold resources. */
export interface RpcSession {
  /** Sends a JSON-RPC notification to this connection's peer. */
  notify(method: string, params: unknown): void;
  /** Disposed when the connection closes. */
  readonly subscriptions: DisposableCollection;
  /** Per-connection state for methods that need it (e.g. subscription ids). */
  readonly state: Map<string, unknown>;
}

export interface RpcMethod<P = any> {
  params: z.ZodType<P>;
  handler(params: P, session: RpcSession): unknown;
}

export type RpcMethodTable = Readonly<Record<string, RpcMethod>>;

/** Declares a method with its schema so the handler's parameter type is inferred. */
export function rpcMethod<S extends z.ZodType>(params: S, handler: (params: z.infer<S>, session: RpcSession) => unknown): RpcMethod {
  return { params, handler } as RpcMethod;
}

/** One peer of the server, fed by a transport. */
export interface RpcConnection extends Disposable {
  /** Handles one incoming message; responses go out through the connection's `send`. */
  receive(text: string): Promise<void>;
}

type Id = string | number | null;
interface Response {
  jsonrpc: '2.0';
  id: Id;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

const requestSchema = z.strictObject({
  jsonrpc: z.literal('2.0'),
  method: z.string().min(1).max(200),
  params: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
  id: z.union([z.string().max(200), z.number(), z.null()]).optional(),
});

const MAX_BATCH = 100;

export class RpcServer {
  private readonly connections = new Set<RpcConnection>();

  constructor(private readonly methods: RpcMethodTable, private readonly logger?: Logger) {}

  /** Opens a connection whose outgoing messages are passed to `send`. */
  connect(send: (text: string) => void): RpcConnection {
    const subscriptions = new DisposableCollection();
    let open = true;
    const session: RpcSession = {
      notify: (method, params) => {
        if (open) send(JSON.stringify({ jsonrpc: '2.0', method, params }));
      },
      subscriptions,
      state: new Map(),
    };
    const connection: RpcConnection = {
      receive: async (text) => {
        const reply = await this.handleMessage(text, session);
        if (reply !== undefined && open) send(JSON.stringify(reply));
      },
      dispose: () => {
        if (!open) return;
        open = false;
        this.connections.delete(connection);
        try {
          subscriptions.dispose();
        } catch (error) {
          this.logger?.warn('rpc: a subscription failed to dispose', { error: String(error) });
        }
      },
    };
    this.connections.add(connection);
    return connection;
  }

  /** Closes every connection's subscriptions. Transports close their own sockets. */
  dispose(): void {
    for (const connection of [...this.connections]) connection.dispose();
  }

  private async handleMessage(text: string, session: RpcSession): Promise<Response | Response[] | undefined> {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return failure(null, RpcErrorCode.ParseError, 'Parse error: the message is not valid JSON.');
    }
    if (Array.isArray(message)) {
      if (message.length === 0) return failure(null, RpcErrorCode.InvalidRequest, 'Invalid request: empty batch.');
      if (message.length > MAX_BATCH) return failure(null, RpcErrorCode.InvalidRequest, `Invalid request: a batch holds at most ${MAX_BATCH} requests.`);
      const replies = await Promise.all(message.map((m) => this.handleRequest(m, session)));
      const present = replies.filter((r): r is Response => r !== undefined);
      return present.length > 0 ? present : undefined;
    }
    return this.handleRequest(message, session);
  }

  private async handleRequest(message: unknown, session: RpcSession): Promise<Response | undefined> {
    const parsed = requestSchema.safeParse(message);
    if (!parsed.success) {
      const id = idOf(message);
      return failure(id, RpcErrorCode.InvalidRequest, `Invalid request: ${z.prettifyError(parsed.error)}`);
    }
    const { method: name, params, id } = parsed.data;
    const isNotification = id === undefined;
    const method = Object.hasOwn(this.methods, name) ? this.methods[name] : undefined;
    if (!method) {
      return isNotification ? undefined : failure(id, RpcErrorCode.MethodNotFound, `Method not found: ${name}.`);
    }
    const checked = method.params.safeParse(params ?? {});
    if (!checked.success) {
      return isNotification ? undefined : failure(id, RpcErrorCode.InvalidParams, `Invalid params for ${name}: ${z.prettifyError(checked.error)}`, {
        issues: checked.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
      });
    }
    try {
      const result = await method.handler(checked.data, session);
      return isNotification ? undefined : { jsonrpc: '2.0', id, result: result ?? null };
    } catch (error) {
      if (isNotification) return undefined;
      if (isAppError(error)) return failure(id, RpcErrorCode.AppError, error.message, error.toJSON());
      if (error instanceof TypeError || error instanceof RangeError) {
        return failure(id, RpcErrorCode.InvalidParams, `Invalid params for ${name}: ${error.message}`);
      }
      this.logger?.error('rpc: method failed', { method: name, error: String(error) });
      return failure(id, RpcErrorCode.InternalError, 'Internal error; see the daemon log.');
    }
  }
}

function failure(id: Id, code: number, message: string, data?: unknown): Response {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

function idOf(message: unknown): Id {
  if (message && typeof message === 'object' && 'id' in message) {
    const id = (message as { id: unknown }).id;
    if (typeof id === 'string' || typeof id === 'number') return id;
  }
  return null;
}
