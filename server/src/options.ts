import { SignalingLimits } from '@discordopus/sdk';
import type { Logger } from 'pino';
import type { PrekeyStore } from './prekey-store.ts';

/** Operator-tunable limits. Defaults suit a public server; tests and benchmarks lower or raise them. */
export interface ServerLimits {
  /** An unauthenticated socket is disconnected after this long. */
  authTimeoutMs: number;
  /** Unauthenticated sockets held at once by the process, and per IP. */
  maxPendingAuth: number;
  maxPendingAuthPerIp: number;
  /** Open sockets per IP. */
  maxConnectionsPerIp: number;
  /** New connections per IP: token bucket. */
  connectionRatePerIp: number;
  connectionBurstPerIp: number;
  /** Events per connection: token bucket. */
  eventRate: number;
  eventBurst: number;
  /** Events per IP over all its connections: token bucket. */
  ipEventRate: number;
  ipEventBurst: number;
  /** Refused events (rate-limited or malformed) a connection may accumulate (refilling at 1/s) before it is dropped. */
  maxStrikes: number;
  maxPayloadBytes: number;
  maxSubscriptions: number;
  maxStoredPrekeys: number;
}

export const defaultLimits: ServerLimits = {
  authTimeoutMs: 10_000,
  maxPendingAuth: 5_000,
  maxPendingAuthPerIp: 50,
  maxConnectionsPerIp: 200,
  connectionRatePerIp: 10,
  connectionBurstPerIp: 50,
  eventRate: 200,
  eventBurst: 400,
  ipEventRate: 2_000,
  ipEventBurst: 4_000,
  maxStrikes: 100,
  maxPayloadBytes: SignalingLimits.maxPayloadBytes,
  maxSubscriptions: SignalingLimits.maxSubscriptions,
  maxStoredPrekeys: SignalingLimits.maxStoredPrekeys,
};

export interface SignalingServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** PEM certificate and key: the server speaks HTTPS/WSS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Origins (`wss://chat.example.org`) clients may sign in their auth response: the public
   * address clients dial, e.g. that of a reverse proxy. Default: the listening address.
   */
  origins?: string[];
  /** `memory` (default without Redis), `sqlite:PATH`, `redis` (default with Redis) or a store instance. */
  store?: string | PrekeyStore;
  /** Scale-out: socket.io Redis adapter, presence and prekeys in Redis. */
  redisUrl?: string;
  /** Prefix of every Redis key; lets deployments share a Redis. Default `do:`. */
  redisPrefix?: string;
  /** Heartbeat of this process in Redis; a process is considered dead after three missed beats. */
  presenceHeartbeatMs?: number;
  /** Take the client IP from the last X-Forwarded-For entry (only behind a trusted proxy). */
  trustProxy?: boolean;
  limits?: Partial<ServerLimits>;
  logger?: Logger;
  /** Collect Node process metrics (CPU, memory, event loop) in /metrics. Default true. */
  processMetrics?: boolean;
  /** How long clients are told to wait before reconnecting after a shutdown notice. */
  reconnectAfterMs?: number;
}
