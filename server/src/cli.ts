import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { createSignalingServer } from './server.ts';
import { defaultLimits, type ServerLimits } from './options.ts';

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (name: string) => `DISCORDOPUS_${kebab(name).replace(/-/g, '_').toUpperCase()}`;
const limitHelp: Record<keyof ServerLimits, string> = {
  authTimeoutMs: 'disconnect sockets that have not authenticated after this many ms',
  maxPendingAuth: 'unauthenticated sockets held at once',
  maxPendingAuthPerIp: 'unauthenticated sockets per client IP',
  maxConnectionsPerIp: 'open sockets per client IP',
  connectionRatePerIp: 'new connections per second per IP (token bucket rate)',
  connectionBurstPerIp: 'new connections per IP in a burst',
  eventRate: 'events per second per connection',
  eventBurst: 'events per connection in a burst',
  ipEventRate: 'events per second per IP, all its connections together',
  ipEventBurst: 'events per IP in a burst',
  maxStrikes: 'refused events (refilling 1/s) before a connection is dropped',
  maxPayloadBytes: 'largest envelope payload in bytes (protocol maximum 65536)',
  maxSubscriptions: 'user IDs one connection may watch for presence',
  maxStoredPrekeys: 'one-time prekeys stored per user',
};

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got "${value}"`);
  return n;
};

const program = new Command('discordopus-server')
  .description('DiscordOpus signaling server: authenticated socket.io relay, presence and prekey directory.\nEvery flag can also be set by the environment variable shown.')
  .addOption(new Option('--host <address>', 'interface to listen on').env('DISCORDOPUS_HOST').default('127.0.0.1'))
  .addOption(new Option('--port <port>', 'TCP port (0 = any free port)').env('DISCORDOPUS_PORT').default(8787).argParser(positiveInt))
  .addOption(new Option('--tls-cert <file>', 'PEM certificate: serve HTTPS/WSS (else run behind a TLS reverse proxy)').env('DISCORDOPUS_TLS_CERT'))
  .addOption(new Option('--tls-key <file>', 'PEM private key for --tls-cert').env('DISCORDOPUS_TLS_KEY'))
  .addOption(new Option('--origin <url...>', 'public address(es) clients dial, e.g. wss://chat.example.org (default: the listening address)').env('DISCORDOPUS_ORIGIN'))
  .addOption(new Option('--store <store>', 'prekey store: memory, sqlite:PATH or redis').env('DISCORDOPUS_STORE'))
  .addOption(new Option('--redis <url>', 'scale out: Redis URL for the socket.io adapter, presence and prekeys').env('DISCORDOPUS_REDIS_URL'))
  .addOption(new Option('--redis-prefix <prefix>', 'prefix of every Redis key').env('DISCORDOPUS_REDIS_PREFIX').default('do:'))
  .addOption(new Option('--presence-heartbeat-ms <ms>', 'heartbeat of this process in Redis; dead after 3 missed').env('DISCORDOPUS_PRESENCE_HEARTBEAT_MS').default(2000).argParser(positiveInt))
  .addOption(new Option('--trust-proxy', 'take the client IP from X-Forwarded-For (only behind your own proxy)').env('DISCORDOPUS_TRUST_PROXY'))
  .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug').env('DISCORDOPUS_LOG_LEVEL').default('info'));
for (const [key, value] of Object.entries(defaultLimits) as [keyof ServerLimits, number][]) {
  program.addOption(new Option(`--${kebab(key)} <n>`, limitHelp[key]).env(envName(key)).default(value).argParser(positiveInt));
}
program.addHelpText('after', '\nEndpoints: socket.io on /socket.io (WebSocket only), GET /healthz, GET /metrics (Prometheus).\nLogs: JSON lines on stdout; payloads and keys are never logged. SIGTERM/SIGINT shut down gracefully.');
program.parse();

const opts = program.opts<Record<string, unknown>>();
const logger = pino({ level: String(opts.logLevel), base: { svc: 'discordopus-server' } });
if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) program.error('--tls-cert and --tls-key go together');
const limits = Object.fromEntries(Object.keys(defaultLimits).map((key) => [key, opts[key] as number])) as unknown as ServerLimits;
const origins = typeof opts.origin === 'string' ? opts.origin.split(',') : (opts.origin as string[] | undefined);

try {
  const server = await createSignalingServer({
    host: String(opts.host),
    port: opts.port as number,
    tls: opts.tlsCert ? { cert: readFileSync(String(opts.tlsCert)), key: readFileSync(String(opts.tlsKey)) } : undefined,
    origins,
    store: opts.store as string | undefined,
    redisUrl: opts.redis as string | undefined,
    redisPrefix: String(opts.redisPrefix),
    presenceHeartbeatMs: opts.presenceHeartbeatMs as number,
    trustProxy: Boolean(opts.trustProxy),
    limits,
    logger,
  });
  const stop = (signal: string) => {
    logger.info({ signal }, 'signal received');
    server.close().then(() => process.exit(0), (error: unknown) => {
      logger.error({ err: String(error) }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
} catch (error) {
  logger.fatal({ err: error instanceof Error ? error.message : String(error) }, 'failed to start');
  process.exit(1);
}
