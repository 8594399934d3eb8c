/**
 * Child processes for bench/server.bench.ts, so that clients and servers do not share a CPU
 * queue or a heap:
 *   bare-server                 a bare socket.io relay (no auth, no validation): the baseline
 *   conns <url> <n> <kind>      opens n idle connections, prints {"ready":n}, holds them until killed
 *   relay <url> <kind> <seconds>           A -> server -> B throughput of 200-byte envelopes
 *   echo <url> <kind>                      sends every envelope it gets back to its sender
 *   latency <url> <kind> <rate> <seconds> <echo address>  A -> echo -> A ping-pong at `rate` pings/s
 * kind: `auth` (our protocol), `bare64` (bare relay, base64url text payloads like ours) or
 * `bare` (bare relay, payloads as socket.io binary attachments).
 */
import { createServer } from 'node:http';
import { generateKeyPairSync, sign } from 'node:crypto';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { z } from 'zod';
import { SignalingEvents, authChallengeMessage, authChallengeSchema, authResponseSchema, userIdFromPublicKey } from '@discordopus/sdk';

const [mode, ...args] = process.argv.slice(2);
const print = (record: unknown) => process.stdout.write(`${JSON.stringify(record)}\n`);

/** A connected socket and the address others send to (user ID, or socket id for the bare relay). */
async function open(url: string, kind: string): Promise<{ socket: Socket; address: string }> {
  // A generous connect timeout: thousands of handshakes at once on a busy machine take a while.
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 120_000 });
  if (kind.startsWith('bare')) {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return { socket, address: socket.id! };
  }
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
  const challenge = authChallengeSchema.parse(await new Promise((resolve, reject) => {
    socket.once(SignalingEvents.challenge, resolve);
    socket.once('connect_error', reject);
  }));
  const origin = new URL(url).origin.replace(/^http/, 'ws');
  const result = await socket.emitWithAck(SignalingEvents.auth, z.encode(authResponseSchema, {
    publicKey: raw, signature: new Uint8Array(sign(null, authChallengeMessage(challenge.nonce, origin), privateKey)), origin,
  }));
  if (!result.ok) throw new Error(`auth failed: ${JSON.stringify(result)}`);
  return { socket, address: userIdFromPublicKey(raw) };
}

function send(socket: Socket, kind: string, to: string, payload: Buffer, onAck?: () => void): void {
  if (kind === 'bare64') socket.emit('m', to, payload.toString('base64url'));
  else if (kind === 'bare') socket.emit('m', to, payload);
  else socket.emit(SignalingEvents.envelope, { to, payload: payload.toString('base64url') }, onAck ?? (() => undefined));
}

function onReceive(socket: Socket, kind: string, handler: (payload: Buffer, from: string) => void): void {
  if (kind === 'bare64') socket.on('m', (payload: string, from: string) => handler(Buffer.from(payload, 'base64url'), from));
  else if (kind === 'bare') socket.on('m', (payload: Buffer, from: string) => handler(payload, from));
  else socket.on(SignalingEvents.envelope, (message: { from: string; payload: string }) => handler(Buffer.from(message.payload, 'base64url'), message.from));
}

if (mode === 'bare-server') {
  const http = createServer();
  const server = new Server(http, { transports: ['websocket'], serveClient: false });
  server.on('connection', (socket) => {
    socket.on('m', (to: string, payload: Buffer) => server.to(to).emit('m', payload, socket.id));
  });
  http.listen(0, '127.0.0.1', () => print({ url: `http://127.0.0.1:${(http.address() as { port: number }).port}` }));
} else if (mode === 'conns') {
  const [url, count, kind] = [args[0]!, Number(args[1]), args[2]!];
  const sockets: Socket[] = [];
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        sockets.push((await open(url, kind)).socket);
      } catch (error) {
        // Retried: a refused or timed-out handshake under load is not what this measures.
        if (++failures > count / 10) throw error;
        next--;
      }
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  print({ ready: sockets.length });
} else if (mode === 'relay') {
  // Client work is kept to the minimum (payload encoded once, deliveries only counted) so that
  // the server, not this process, is what saturates.
  const [url, kind, seconds] = [args[0]!, args[1]!, Number(args[2])];
  const a = await open(url, kind);
  const b = await open(url, kind);
  const payload = Buffer.alloc(200, 7);
  const text = payload.toString('base64url');
  const noop = () => undefined;
  // Ours as SignalingClient sends a burst (protocol 2): a `seq` and no acknowledgement on each
  // envelope but the last, which carries the acknowledgement for the whole burst.
  let seq = 0;
  const emit = kind === 'bare' ? () => a.socket.emit('m', b.address, payload)
    : kind === 'bare64' ? () => a.socket.emit('m', b.address, text)
    : (last: boolean) => (last
      ? a.socket.emit(SignalingEvents.envelope, { to: b.address, payload: text }, noop)
      : a.socket.emit(SignalingEvents.envelope, { to: b.address, payload: text, seq: seq++ }));
  let received = 0;
  b.socket.on(kind === 'auth' ? SignalingEvents.envelope : 'm', () => received++);
  // Keep a window of envelopes in flight: enough to saturate the server, bounded so nothing queues without end.
  const window = 2000;
  const MAX_BURST = 256;
  let sent = 0;
  let stop = false;
  const pump = () => {
    const burst = Math.min(window - (sent - received), MAX_BURST);
    for (let i = 0; !stop && i < burst; i++) {
      sent++;
      emit(i === burst - 1);
    }
    if (!stop) setImmediate(pump);
  };
  const warm = Date.now() + 1000;
  pump();
  await new Promise((resolve) => setTimeout(resolve, warm - Date.now()));
  print({ measuring: true });
  const start = performance.now();
  const before = received;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const relayed = received - before;
  const perSecond = (relayed * 1000) / (performance.now() - start);
  stop = true;
  print({ relay_per_s: Math.round(perSecond), relayed });
  process.exit(0);
} else if (mode === 'echo') {
  const [url, kind] = [args[0]!, args[1]!];
  const b = await open(url, kind);
  onReceive(b.socket, kind, (payload, from) => send(b.socket, kind, from, payload));
  print({ address: b.address });
} else if (mode === 'latency') {
  // Ping-pong on a fixed schedule: ping i leaves at start + i / rate (a 1 ms timer catches up
  // with the schedule, no busy loop stealing the server's CPU), the echo process sends it back,
  // and each ping's round trip (two relays) is one sample. `rate` pings/s are 2 x rate envelopes/s
  // through the server. Each envelope is acknowledged, as a client sending one at a time does.
  const [url, kind, rate, seconds, echo] = [args[0]!, args[1]!, Number(args[2]), Number(args[3]), args[4]!];
  const a = await open(url, kind);
  const sentAt = new Map<number, number>();
  const samples: number[] = [];
  const warmup = rate; // the first second is not measured
  let allSent = false;
  let allBack: () => void = () => undefined;
  onReceive(a.socket, kind, (payload) => {
    const seq = payload.readUInt32BE(0);
    const at = sentAt.get(seq);
    if (at === undefined) return;
    sentAt.delete(seq);
    if (seq >= warmup) samples.push(performance.now() - at);
    if (allSent && sentAt.size === 0) allBack();
  });
  const total = rate * (seconds + 1);
  const start = performance.now();
  let seq = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      while (seq < due) {
        const payload = Buffer.alloc(200);
        payload.writeUInt32BE(seq, 0);
        sentAt.set(seq, performance.now());
        send(a.socket, kind, echo, payload);
        seq++;
      }
      if (seq >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  // Wait for the last pongs (a loaded machine may hold them for seconds); what has not come back
  // after 10 s is reported as lost.
  allSent = true;
  if (sentAt.size > 0) await new Promise<void>((resolve) => {
    allBack = resolve;
    setTimeout(resolve, 10_000);
  });
  samples.sort((x, y) => x - y);
  const pick = (q: number) => (samples.length === 0 ? null : Number(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!.toFixed(3)));
  print({ samples: samples.length, lost: sentAt.size, p50_ms: pick(0.5), p99_ms: pick(0.99), max_ms: pick(1) });
  process.exit(0);
} else {
  console.error('usage: server-bench-worker.ts <bare-server|conns|relay|latency> ...');
  process.exit(2);
}
