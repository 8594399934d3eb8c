import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Server as IoServer, type Socket } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { z } from 'zod';
import {
  SignalingEvents, SignalingErrorCodes, SIGNALING_PROTOCOL_VERSION, SignalingLimits, authChallengeSchema, base64urlLength, isAppError, signalingOrigin, type SignalingErrorMessage,
  type UserId,
} from '@discordopus/sdk';
import { defaultLimits, type ServerLimits, type SignalingServerOptions } from './options.ts';
import { ServerMetrics } from './metrics.ts';
import { createHttpHandler } from './health.ts';
import { KeyedTokenBuckets, TokenBucket } from './rate-limit.ts';
import { MemoryPrekeyStore, type PrekeyStore } from './prekey-store.ts';
import { SqlitePrekeyStore } from './sqlite-prekey-store.ts';
import { RedisPrekeyStore } from './redis-prekey-store.ts';
import { LocalPresence, RedisPresence } from './presence.ts';
import { createEventHandlers, type ConnectionState, type Result, type ServerContext } from './handlers.ts';
import { batchWrites } from './write-batching.ts';
import { watchRoom } from './rooms.ts';

export interface SignalingServer {
  /** `http(s)://host:port` the server listens on. */
  readonly url: string;
  readonly port: number;
  /** Origins clients may sign. */
  readonly origins: readonly string[];
  readonly metrics: ServerMetrics;
  /** Graceful shutdown: refuse new sockets, tell clients, disconnect them, release stores. */
  close(): Promise<void>;
}

/** Starts a signaling server; resolves once it listens. */
export async function createSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const limits: ServerLimits = { ...defaultLimits, ...options.limits };
  const log: Logger = options.logger ?? pino({ level: 'info', base: { svc: 'discordopus-server' } });
  const metrics = new ServerMetrics(options.processMetrics ?? true);
  const host = options.host ?? '127.0.0.1';
  const nodeId = randomUUID();
  const prefix = options.redisPrefix ?? 'do:';
  let closing = false;

  let redis: Redis | undefined;
  let redisSub: Redis | undefined;
  if (options.redisUrl) {
    redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
    redisSub = redis.duplicate();
    const onRedisError = (error: Error) => log.error({ err: error.message }, 'redis error');
    redis.on('error', onRedisError);
    redisSub.on('error', onRedisError);
    await Promise.all([redis.connect(), redisSub.connect()]);
  }

  const store = openStore(options.store, redis, prefix);
  const http: HttpServer = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key })
    : createHttpServer();
  http.on('request', createHttpHandler({ metrics, isHealthy: () => !closing && (!redis || redis.status === 'ready') }));

  const io = new IoServer(http, {
    transports: ['websocket'],
    serveClient: false,
    // One frame holds at most an envelope (the protocol maximum in base64url, so that payloads
    // over a lower configured cap get a clear error) or a prekey upload (~20 KB of text).
    maxHttpBufferSize: base64urlLength(SignalingLimits.maxPayloadBytes) + 4096,
    perMessageDeflate: false,
    httpCompression: false,
    connectTimeout: limits.authTimeoutMs,
  });

  // With Redis every process hears every transition, so each tells only its own watchers.
  const announce = (userId: UserId, online: boolean) => (redis ? io.local : io).to(watchRoom(userId)).emit(SignalingEvents.presence, { userId, online });
  const state: ServerContext = {
    io, log, metrics, limits, store, nodeId, origins: [], clustered: redis !== undefined,
    presence: new LocalPresence(announce),
  };
  if (redis) {
    io.adapter(createAdapter(redis, redisSub!, { key: `${prefix}socket.io` }));
    state.presence = await RedisPresence.create(redis, {
      nodeId, prefix, heartbeatMs: options.presenceHeartbeatMs ?? 2000, onTransition: announce,
      onError: (error) => log.error({ err: String(error) }, 'presence heartbeat failed'),
    });
  }

  const connectionBuckets = new KeyedTokenBuckets(limits.connectionRatePerIp, limits.connectionBurstPerIp);
  const ipEventBuckets = new KeyedTokenBuckets(limits.ipEventRate, limits.ipEventBurst);
  const connectionsPerIp = new Map<string, number>();
  const pendingPerIp = new Map<string, number>();
  let pending = 0;
  const inFlight = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>) => {
    inFlight.add(work);
    const remove = () => inFlight.delete(work);
    work.then(remove, remove);
  };
  const sweepTimer = setInterval(() => {
    connectionBuckets.sweep();
    ipEventBuckets.sweep();
  }, 10_000);
  sweepTimer.unref();

  const handlers = createEventHandlers(state);

  const clientIp = (socket: Socket): string => {
    if (options.trustProxy) {
      const forwarded = socket.handshake.headers['x-forwarded-for'];
      const last = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded)?.split(',').pop()?.trim();
      if (last) return last;
    }
    return socket.handshake.address;
  };

  const refuse = (socket: Socket, error: SignalingErrorMessage) => {
    socket.emit(SignalingEvents.error, error);
    socket.disconnect(true);
  };

  io.on('connection', (socket) => {
    const ip = clientIp(socket);
    metrics.connections.inc();
    const conn: ConnectionState = {
      socket, ip, userId: undefined, publicKey: undefined, nonce: randomBytes(32), watching: [],
      bucket: new TokenBucket(limits.eventRate, limits.eventBurst),
      strikes: new TokenBucket(1, limits.maxStrikes),
    };
    let countedPending = false;
    const ipConnections = (connectionsPerIp.get(ip) ?? 0) + 1;
    connectionsPerIp.set(ip, ipConnections);

    const leavePending = () => {
      if (!countedPending) return;
      countedPending = false;
      pending--;
      const left = (pendingPerIp.get(ip) ?? 1) - 1;
      if (left > 0) pendingPerIp.set(ip, left);
      else pendingPerIp.delete(ip);
    };

    socket.on('disconnect', () => {
      metrics.connections.dec();
      clearTimeout(conn.authTimer);
      leavePending();
      const left = (connectionsPerIp.get(ip) ?? 1) - 1;
      if (left > 0) connectionsPerIp.set(ip, left);
      else connectionsPerIp.delete(ip);
      const userId = conn.userId;
      if (!userId) return;
      metrics.authenticated.dec();
      track(state.presence.disconnected(userId).catch((error: unknown) => log.error({ err: String(error) }, 'presence update failed')));
    });

    if (closing) return refuse(socket, { code: SignalingErrorCodes.shuttingDown, message: 'The server is shutting down; reconnect in a moment.' });
    if (!connectionBuckets.take(ip) || ipConnections > limits.maxConnectionsPerIp) {
      metrics.rateLimited.inc({ scope: 'connection' });
      return refuse(socket, { code: SignalingErrorCodes.rateLimited, message: 'Too many connections from your address; wait and retry.' });
    }
    if (pending >= limits.maxPendingAuth || (pendingPerIp.get(ip) ?? 0) >= limits.maxPendingAuthPerIp) {
      metrics.rateLimited.inc({ scope: 'pending-auth' });
      return refuse(socket, { code: SignalingErrorCodes.tooManyPending, message: 'Too many connections are waiting to authenticate; retry shortly.' });
    }
    countedPending = true;
    pending++;
    pendingPerIp.set(ip, (pendingPerIp.get(ip) ?? 0) + 1);
    conn.authTimer = setTimeout(() => {
      metrics.authFailures.inc({ reason: 'timeout' });
      refuse(socket, { code: SignalingErrorCodes.authTimeout, message: `No valid authentication within ${limits.authTimeoutMs} ms; connect again and answer the challenge.` });
    }, limits.authTimeoutMs);
    conn.onAuthenticated = () => {
      clearTimeout(conn.authTimer);
      leavePending();
      metrics.authenticated.inc();
    };

    socket.emit(SignalingEvents.challenge, z.encode(authChallengeSchema, { nonce: conn.nonce!, origin: state.origins[0], protocol: SIGNALING_PROTOCOL_VERSION }));

    batchWrites(socket);

    // Envelope outcomes leave in the order the envelopes came: an acknowledgement then also
    // vouches for every earlier envelope that got no `envelope:result` (protocol 2). Only an
    // envelope waiting on Redis makes later ones queue here.
    const replies: ReplySlot[] = [];
    const send = (target: ReplyTarget, result: Result) => {
      if (target.ack) target.ack(result);
      else if (target.seq !== undefined) {
        if (!result.ok) socket.emit(SignalingEvents.envelopeResult, { seq: target.seq, ok: false, error: result.error });
        else if (result.status === 'offline') socket.emit(SignalingEvents.envelopeResult, { seq: target.seq, ok: true, status: 'offline' });
      } else if (!result.ok) socket.emit(SignalingEvents.error, result.error);
    };
    const reply = (target: ReplyTarget, result: Result) => {
      if (target.slot) target.slot.result = result;
      else if (target.ordered && replies.length > 0) replies.push({ target, result });
      else return send(target, result);
      while (replies[0]?.result) {
        const slot = replies.shift()!;
        send(slot.target, slot.result!);
      }
    };
    const fail = (target: ReplyTarget, code: string, message: string) => {
      metrics.rejected.inc({ code });
      reply(target, { ok: false, error: { code, message } });
      if (!conn.strikes.take()) {
        log.warn({ ip, userId: conn.userId }, 'dropping connection after repeated refused events');
        refuse(socket, { code: SignalingErrorCodes.rateLimited, message: 'Too many refused events; the connection is closed.' });
      }
    };
    const done = (target: ReplyTarget, result: Result) => {
      if (result.ok) reply(target, result);
      else fail(target, result.error.code, result.error.message);
    };
    const crashed = (target: ReplyTarget, event: unknown, error: unknown) => {
      if (isAppError(error)) return fail(target, error.code, error.message);
      log.error({ err: String(error), event }, 'handler failed');
      reply(target, { ok: false, error: { code: SignalingErrorCodes.internal, message: 'The server failed to handle this event; retry later.' } });
    };

    socket.onAny((event: unknown, ...args: unknown[]) => {
      const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (value: unknown) => void) : undefined;
      const ordered = event === SignalingEvents.envelope;
      const target: ReplyTarget = { ack, seq: ordered && !ack ? envelopeSeq(args[0]) : undefined, ordered, slot: undefined };
      if (!conn.bucket.take() || !ipEventBuckets.take(ip)) {
        metrics.rateLimited.inc({ scope: 'event' });
        return fail(target, SignalingErrorCodes.rateLimited, 'Too many events; slow down and retry.');
      }
      const handler = typeof event === 'string' ? handlers.get(event) : undefined;
      if (!handler) return fail(target, SignalingErrorCodes.unknownEvent, 'Unknown event.');
      if (args.length !== 1) return fail(target, SignalingErrorCodes.invalidMessage, 'Expected exactly one argument and an acknowledgement callback.');
      let result: Result | Promise<Result>;
      try {
        result = handler(conn, args[0]);
      } catch (error) {
        return crashed(target, event, error);
      }
      if (!(result instanceof Promise)) return done(target, result);
      if (ordered) replies.push(target.slot = { target, result: undefined });
      track(result.then((value) => done(target, value), (error: unknown) => crashed(target, event, error)));
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  const scheme = options.tls ? 'https' : 'http';
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `${scheme}://${urlHost}:${port}`;
  const wsScheme = options.tls ? 'wss' : 'ws';
  state.origins = options.origins?.length
    ? options.origins.map(signalingOrigin)
    : host === '127.0.0.1' ? [`${wsScheme}://127.0.0.1:${port}`, `${wsScheme}://localhost:${port}`] : [`${wsScheme}://${urlHost}:${port}`];
  log.info({ url, origins: state.origins, store: describeStore(options.store, redis), redis: redis ? 'on' : 'off', nodeId }, 'listening');

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      closing = true;
      clearInterval(sweepTimer);
      log.info({}, 'shutting down');
      const notice = { reconnectAfterMs: options.reconnectAfterMs ?? 1000 };
      for (const socket of io.of('/').sockets.values()) {
        socket.emit(SignalingEvents.shutdown, notice);
        socket.disconnect(true);
      }
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      await state.presence.close().catch((error: unknown) => log.error({ err: String(error) }, 'presence close failed'));
      const httpClosed = new Promise<void>((resolve) => io.close(() => resolve()));
      // Every client was told and disconnected above; a half-open request or a reconnect racing
      // the shutdown must not keep the HTTP server (and the process) alive.
      http.closeAllConnections();
      await httpClosed;
      await store.close();
      await Promise.all([redis?.quit(), redisSub?.quit()].map((p) => p?.catch(() => undefined)));
      log.info({}, 'closed');
    })();
    return closed;
  };

  return { url, port, get origins() { return state.origins; }, metrics, close };
}

/** Where the answer to one event goes: its acknowledgement, an `envelope:result` (protocol 2 `seq`), or `server:error`. */
interface ReplyTarget {
  ack: ((value: unknown) => void) | undefined;
  seq: number | undefined;
  /** An envelope: its reply waits for earlier envelopes' replies. */
  ordered: boolean;
  slot: ReplySlot | undefined;
}

interface ReplySlot {
  target: ReplyTarget;
  result: Result | undefined;
}

/** The `seq` of a protocol-2 envelope sent without an acknowledgement, read before validation so that even a refusal can name it. */
function envelopeSeq(input: unknown): number | undefined {
  const seq = typeof input === 'object' && input !== null ? (input as { seq?: unknown }).seq : undefined;
  return typeof seq === 'number' && Number.isInteger(seq) && seq >= 0 && seq <= 0xffffffff ? seq : undefined;
}

function openStore(store: SignalingServerOptions['store'], redis: Redis | undefined, prefix: string): PrekeyStore {
  if (store && typeof store !== 'string') return store;
  if (store === undefined) return redis ? new RedisPrekeyStore(redis, prefix) : new MemoryPrekeyStore();
  if (store === 'memory') return new MemoryPrekeyStore();
  if (store === 'redis') {
    if (!redis) throw new RangeError('createSignalingServer: store "redis" needs a Redis URL');
    return new RedisPrekeyStore(redis, prefix);
  }
  if (store.startsWith('sqlite:') && store.length > 'sqlite:'.length) return new SqlitePrekeyStore(store.slice('sqlite:'.length));
  throw new RangeError(`createSignalingServer: unknown store "${store}" (use memory, sqlite:PATH or redis)`);
}

function describeStore(store: SignalingServerOptions['store'], redis: Redis | undefined): string {
  if (store && typeof store !== 'string') return 'custom';
  return store?.split(':')[0] ?? (redis ? 'redis' : 'memory');
}
