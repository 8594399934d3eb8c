/**
 * Messaging between two client processes through a signaling server on loopback: this process
 * runs the server and the sender (alice), a child process (this file, with MESSAGING_BENCH_ROLE)
 * runs the receiver (bob). Both are full clients: encrypted profile, kernel, sessions, the
 * messaging plugin; envelopes take the server's relay (the default route of createClient).
 *   first_message_p50_ms  a NEW contact's first message (prekey fetch, X3DH, ratchet, relay, the
 *                         receiver's plugin storing it) from sendText until the receiver shows
 *                         it, p50 over 20 fresh senders
 *   latency_p50_ms / latency_p99_ms  the same on an established session, one message at a time
 *   msgs_per_s            sustained: N messages queued at once, until the receiver has all of them
 * Baseline, same run: the kernel's SecureChannels.send on the same session (encrypted, acked by
 * the peer's kernel, no plugin, nothing displayed), one at a time.
 * Options: --quick (fewer rounds); --direct (werift peer links on loopback: the first message
 * still takes the relay while the link is set up; the established figures wait for the link).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { SecureChannels, type UserId } from '@discordopus/sdk';
import type { BenchOutput } from './run.ts';
import type { MessagingApi } from '../plugins/messaging/src/index.ts';
import { createSignalingServer } from '../server/src/index.ts';
import { createClient, type DiscordOpusClient } from '../core/src/node/client/create-client.ts';
import { firstPartyPlugins } from '../core/src/node/client/first-party-plugins.ts';
import { TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { createLogger } from '../core/src/node/kernel/kernel.ts';

const PASS = 'bench passphrase';
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
const sortNum = (xs: number[]) => [...xs].sort((a, b) => a - b);
const round = (x: number) => Math.round(x * 1000) / 1000;

type FromChild = { type: 'ready'; userId: UserId } | { type: 'added' } | { type: 'received'; id: string; count: number };
type ToChild = { type: 'add'; userId: UserId } | { type: 'stop' };

async function openClient(dir: string, serverUrl: string, direct: boolean): Promise<{ client: DiscordOpusClient; api: MessagingApi }> {
  const client = await createClient({
    profileDir: dir, passphrase: PASS, create: true, profileKdf: TEST_PROFILE_KDF, serverUrl, connectSignaling: true,
    ...(direct ? { peerLinks: { link: { loopbackOnly: true } } } : {}),
    plugins: firstPartyPlugins(), logger: createLogger({ level: 'error', destination: 2 }),
  });
  await client.kernel.container.get<{ whenReady(): Promise<void> }>(SecureChannels).whenReady();
  return { client, api: client.kernel.pluginApi<MessagingApi>('messaging')! };
}

/** The receiver: reports every message its plugin stores (that is when it is shown). */
async function child(): Promise<void> {
  const temp = tempDir('discordopus-bench-bob-');
  const { client, api } = await openClient(path.join(temp.dir, 'bob'), process.env.MESSAGING_BENCH_SERVER!, process.env.MESSAGING_BENCH_DIRECT === '1');
  let count = 0;
  const send = (m: FromChild) => process.send!(m);
  api.onDidChange((c) => {
    if (c.kind === 'message' && c.message.direction === 'in') send({ type: 'received', id: c.message.id, count: ++count });
  });
  process.on('message', (m: ToChild) => {
    if (m.type === 'add') void client.contacts.add(m.userId).then(() => send({ type: 'added' }));
    if (m.type === 'stop') void client.close().finally(() => { temp.cleanup(); process.exit(0); });
  });
  send({ type: 'ready', userId: client.identity.userId });
}

class Receiver {
  private waiters: ((m: FromChild) => boolean)[] = [];
  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: FromChild) => {
      this.waiters = this.waiters.filter((w) => !w(m));
    });
  }
  next<T extends FromChild['type']>(type: T, filter: (m: Extract<FromChild, { type: T }>) => boolean = () => true): Promise<Extract<FromChild, { type: T }>> {
    return new Promise((resolve) => this.waiters.push((m) => {
      if (m.type !== type || !filter(m as Extract<FromChild, { type: T }>)) return false;
      resolve(m as Extract<FromChild, { type: T }>);
      return true;
    }));
  }
  send(m: ToChild): void {
    this.proc.send(m);
  }
}

export default async (out: BenchOutput) => {
  const quick = out.args.includes('--quick');
  const direct = out.args.includes('--direct');
  const firstRuns = quick ? 5 : 20;
  const pings = quick ? 50 : 200;
  const burst = quick ? 500 : 2000;
  const temp = tempDir('discordopus-bench-messaging-');
  const server = await createSignalingServer({ logger: pino({ level: 'silent' }), processMetrics: false });
  const proc = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, MESSAGING_BENCH_ROLE: 'receiver', MESSAGING_BENCH_SERVER: server.url, MESSAGING_BENCH_DIRECT: direct ? '1' : '0' },
    execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const bob = new Receiver(proc);
  const { userId: bobId } = await bob.next('ready');
  const load = loadavg()[0];

  try {
    // ---- first message to a new contact, fresh sender each run ----
    const firsts: number[] = [];
    for (let i = 0; i < firstRuns; i++) {
      const { client, api } = await openClient(path.join(temp.dir, `alice-${i}`), server.url, direct);
      await client.contacts.add(bobId, { name: 'bob' });
      const added = bob.next('added');
      bob.send({ type: 'add', userId: client.identity.userId });
      await added;
      const start = performance.now();
      const shown = bob.next('received');
      const sent = await api.sendText('bob', `first message ${i}`);
      const got = await shown;
      if (got.id !== sent.id) throw new Error('bench: unexpected message');
      firsts.push(performance.now() - start);
      await client.close();
    }
    const firstSorted = sortNum(firsts);
    out.line({ case: 'first-message', runs: firstRuns, p50_ms: round(percentile(firstSorted, 0.5)), p90_ms: round(percentile(firstSorted, 0.9)) });

    // ---- established session: one sender for the rest ----
    const { client, api } = await openClient(path.join(temp.dir, 'alice'), server.url, direct);
    await client.contacts.add(bobId, { name: 'bob' });
    const added = bob.next('added');
    bob.send({ type: 'add', userId: client.identity.userId });
    await added;
    const warm = bob.next('received');
    await api.sendText('bob', 'warm-up');
    await warm;
    const channels = client.kernel.container.get<SecureChannels & { isDirect?(peer: UserId): boolean }>(SecureChannels);
    if (direct) {
      const deadline = Date.now() + 20_000;
      while (!channels.isDirect?.(bobId)) {
        if (Date.now() > deadline) throw new Error('bench: the peer link did not connect within 20 s');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    // Baseline: the kernel channel alone (the receiver has no handler on it: acked, then dropped).
    const baseline: number[] = [];
    for (let i = 0; i < pings; i++) {
      const start = performance.now();
      await channels.send(bobId, 'bench/raw', new TextEncoder().encode(`{"t":"text","n":${i}}`));
      baseline.push(performance.now() - start);
    }
    const baseSorted = sortNum(baseline);
    out.line({ case: 'baseline-channel-send', count: pings, p50_ms: round(percentile(baseSorted, 0.5)), p99_ms: round(percentile(baseSorted, 0.99)) });

    const latencies: number[] = [];
    for (let i = 0; i < pings; i++) {
      const start = performance.now();
      const shown = bob.next('received');
      await api.sendText('bob', `ping ${i}`);
      await shown;
      latencies.push(performance.now() - start);
    }
    const latSorted = sortNum(latencies);
    out.line({ case: 'established', count: pings, p50_ms: round(percentile(latSorted, 0.5)), p99_ms: round(percentile(latSorted, 0.99)) });

    // Sustained: the app hands over `burst` messages at once (they share commits: group commit);
    // the outbox packs them into batches. Measured until the receiver has stored the last one.
    let expected = firstRuns + 1 + pings;
    const sustained = async (count: number, concurrent: boolean) => {
      expected += count;
      const counted = bob.next('received', (m) => m.count >= expected);
      const start = performance.now();
      if (concurrent) await Promise.all(Array.from({ length: count }, (_, i) => api.sendText('bob', `burst ${i}`)));
      else for (let i = 0; i < count; i++) await api.sendText('bob', `one by one ${i}`);
      const queuedMs = performance.now() - start;
      await counted;
      const seconds = (performance.now() - start) / 1000;
      return { count, seconds: round(seconds), queue_ms_per_msg: round(queuedMs / count), msgs_per_s: Math.round(count / seconds) };
    };
    const oneByOne = await sustained(Math.min(burst, 200), false);
    out.line({ case: 'sustained-awaiting-each-send', ...oneByOne });
    const together = await sustained(burst, true);
    out.line({ case: 'sustained', ...together });
    const seconds = together.seconds;
    await client.close();

    out.summary({
      first_message_p50_ms: round(percentile(firstSorted, 0.5)),
      latency_p50_ms: round(percentile(latSorted, 0.5)),
      latency_p99_ms: round(percentile(latSorted, 0.99)),
      msgs_per_s: Math.round(burst / seconds),
      baseline_channel_send_p50_ms: round(percentile(baseSorted, 0.5)),
      route: direct ? 'direct' : 'relay',
      load_avg_1m: round(load ?? 0),
    });
  } finally {
    bob.send({ type: 'stop' });
    await new Promise((resolve) => proc.once('exit', resolve));
    await server.close();
    temp.cleanup();
  }
};

if (process.env.MESSAGING_BENCH_ROLE === 'receiver') await child();
