/**
 * Messaging between two client processes through a signaling server on loopback: this process
 * runs the server and the senders (alice), a child process (this file, with MESSAGING_BENCH_ROLE)
 * runs the receiver (bob). Both are full clients: encrypted profile (WAL, synchronous=FULL),
 * kernel, sessions, the messaging plugin, werift peer links on loopback.
 *   first_message_p50_ms  a NEW contact's first message (prekey fetch, X3DH, ratchet, relay: the
 *                         link is not up yet) from sendText until the receiver shows it, p50 over
 *                         20 fresh senders
 *   first_direct_message_p50_ms  the same senders, from the first sendText until the peer link
 *                         (ICE + DTLS + SCTP, signals inside the ratchet) is up and a second
 *                         message sent over it is shown
 *   latency_p50_ms / latency_p99_ms  established peer link, one message at a time, sendText until shown
 *                         (2,000 messages, after 1,000 that warm up the code: latency_cold_* report
 *                         those; latency_messages_201_600_* the 400 that stops 1-13 measured, after 200).
 *                         "Shown" is the receiver's own time of it on the machine's monotonic clock:
 *                         the receiver's report to this process (ipc_p50_ms) is not in any figure
 *   msgs_per_s            sustained over the link: N messages queued at once, until the receiver has all
 *                         (median of three such bursts, after one that warms up the code)
 * Extra lines, same run: the same on the relay route (a sender without peer links); the kernel's
 * SecureChannels.send alone (baseline: encrypted, acked, no plugin); fdatasync of this disk (each
 * commit costs one: the floor under every figure here).
 * CPU per message: process.cpuUsage of each client process over the established and sustained
 * phases (`cpu_us_per_msg_sender` / `cpu_us_per_msg_receiver`; the sender's process also hosts the
 * server, idle on the direct route), so figures compare on a loaded machine where wall time does not.
 * Per measured phase also: `cpu-threads` (CPU per message per thread, the main thread's wake-ups)
 * and, with --sql, `sql` (statements, commits, their CPU, and CPU per commit, per message:
 * observeStatements; off by default because timing each statement slows it).
 * Options: --quick (fewer rounds); --sql; --profile=<dir> writes a V8 CPU profile of each process per
 * phase (`<dir>/<phase>-<sender|receiver>.cpuprofile`) and prints its top self-time functions;
 * --latency=<n> measures only the direct route's latency, over n messages (a p99 over 400 moves
 * by a quarter between runs here; comparing two builds needs thousands).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
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
import { TEST_PEER_LINKS, TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { createLogger } from '../core/src/node/kernel/kernel.ts';
import { observeStatements } from '../core/src/node/storage/sqlite-errors.ts';

const PASS = 'bench passphrase';
/**
 * Messages the established-link latency is measured over. A p99 over 400 (stops 1-13) is the 4th
 * largest: it moved by a quarter between runs of the same code here.
 */
const LATENCY_MESSAGES = 2_000;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
const sortNum = (xs: number[]) => [...xs].sort((a, b) => a - b);
const round = (x: number) => Math.round(x * 1000) / 1000;
const stats = (xs: number[]) => {
  const s = sortNum(xs);
  return { p50_ms: round(percentile(s, 0.5)), p90_ms: round(percentile(s, 0.9)), p99_ms: round(percentile(s, 0.99)) };
};

type FromChild =
  | { type: 'ready'; userId: UserId } | { type: 'added' } | { type: 'received'; id: string; count: number; shownAt: number }
  | { type: 'cpu'; micros: number; threads: ThreadCpu; sql: SqlStats } | { type: 'profiled'; top: ProfileTop[] };
type ToChild = { type: 'add'; userId: UserId } | { type: 'stop' } | { type: 'cpu' } | { type: 'profile-start' } | { type: 'profile-stop'; file: string };
type ProfileTop = { fn: string; self_pct: number };

/**
 * CLOCK_MONOTONIC in ms (libuv's hrtime): one clock for every process on this machine, so the
 * receiver's time of showing a message and the sender's time of sending it compare directly, and
 * a latency does not include the bench's own report from the receiver process (`ipc_*`).
 */
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/**
 * Statements and commits of this process's profile databases, and the CPU they took (see
 * observeStatements): only with --sql, as timing each statement costs two getrusage calls.
 */
const sqlStats = { statements: 0, commits: 0, cpu: 0, commitCpu: 0 };
const countStatements = (process.env.MESSAGING_BENCH_SQL ?? (process.argv.includes('--sql') ? '1' : '')) === '1';
if (countStatements) observeStatements((sql, cpu) => {
  sqlStats.statements++;
  sqlStats.cpu += cpu;
  if (sql === 'commit') {
    sqlStats.commits++;
    sqlStats.commitCpu += cpu;
  }
});
type SqlStats = typeof sqlStats;
const sqlDelta = (before: SqlStats, after: SqlStats, messages: number) => ({
  statements_per_msg: round((after.statements - before.statements) / messages),
  commits_per_msg: round((after.commits - before.commits) / messages),
  sql_cpu_us_per_msg: Math.round((after.cpu - before.cpu) / messages),
  cpu_us_per_commit: Math.round((after.commitCpu - before.commitCpu) / Math.max(1, after.commits - before.commits)),
});

/**
 * CPU µs per thread name (Linux /proc, 10 ms ticks; empty elsewhere): tells the main thread from
 * libuv's and V8's helpers. Also `main_sys` (its kernel-mode part) and `main_wakeups` (its
 * voluntary context switches: each a sleep and a wake-up, which costs ~0.15-0.25 ms of CPU here).
 */
type ThreadCpu = Record<string, number>;
const threadCpu = (): ThreadCpu => {
  const result: ThreadCpu = {};
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return result;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = tid === String(process.pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      // utime and stime are fields 14 and 15 of the stat line (11 and 12 after the name), in clock ticks (100/s).
      const micros = (Number(fields[11]) + Number(fields[12])) * 10_000;
      result[name] = (result[name] ?? 0) + micros;
      if (name === 'main') {
        result['main_sys'] = Number(fields[12]) * 10_000;
        // Context switches of the main thread (field 'voluntary_ctxt_switches' in status): each is a sleep and a wake-up.
        const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
        result['main_wakeups'] = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  return result;
};
const threadDelta = (before: ThreadCpu, after: ThreadCpu, messages: number) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, Math.round((10 * (v - (before[k] ?? 0))) / messages) / 10]).filter(([, v]) => (v as number) > 0));

/** A V8 CPU profile of this process between start and stop (node:inspector, no extra flags). */
class PhaseProfiler {
  private session: Session | undefined;
  async start(): Promise<void> {
    this.session = new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.session.post('Profiler.start');
  }
  /** Writes the profile and returns the functions with the most self time. */
  async stop(file: string): Promise<ProfileTop[]> {
    const session = this.session!;
    this.session = undefined;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
    const hits = new Map<number, number>();
    for (const id of profile.samples ?? []) hits.set(id, (hits.get(id) ?? 0) + 1);
    const total = profile.samples?.length ?? 1;
    const byFn = new Map<string, number>();
    for (const node of profile.nodes) {
      const { functionName, url, lineNumber } = node.callFrame;
      const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${lineNumber + 1}`;
      byFn.set(key, (byFn.get(key) ?? 0) + (hits.get(node.id) ?? 0));
    }
    return [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([fn, n]) => ({ fn, self_pct: round((100 * n) / total) }));
  }
}
type Channels = SecureChannels & { isDirect?(peer: UserId): boolean };

async function openClient(dir: string, serverUrl: string, direct: boolean): Promise<{ client: DiscordOpusClient; api: MessagingApi; channels: Channels }> {
  const client = await createClient({
    profileDir: dir, passphrase: PASS, create: true, profileKdf: TEST_PROFILE_KDF, serverUrl, connectSignaling: true,
    peerLinks: direct ? TEST_PEER_LINKS : false,
    plugins: firstPartyPlugins(), logger: createLogger({ level: 'error', destination: 2 }),
  });
  const channels = client.kernel.container.get<Channels & { whenReady(): Promise<void> }>(SecureChannels);
  await channels.whenReady();
  return { client, api: client.kernel.pluginApi<MessagingApi>('messaging')!, channels };
}

/** The receiver: reports every message its plugin stores (that is when it is shown). */
async function child(): Promise<void> {
  const temp = tempDir('discordopus-bench-bob-');
  const { client, api } = await openClient(path.join(temp.dir, 'bob'), process.env.MESSAGING_BENCH_SERVER!, true);
  let count = 0;
  const send = (m: FromChild) => process.send!(m);
  api.onDidChange((c) => {
    if (c.kind === 'message' && c.message.direction === 'in') send({ type: 'received', id: c.message.id, count: ++count, shownAt: monotonicMs() });
  });
  const profiler = new PhaseProfiler();
  process.on('message', (m: ToChild) => {
    if (m.type === 'cpu') send({ type: 'cpu', micros: cpuMicros(), threads: threadCpu(), sql: { ...sqlStats } });
    if (m.type === 'profile-start') void profiler.start().then(() => send({ type: 'profiled', top: [] }));
    if (m.type === 'profile-stop') void profiler.stop(m.file).then((top) => send({ type: 'profiled', top }));
    if (m.type === 'add') void client.contacts.add(m.userId).then(() => send({ type: 'added' }));
    if (m.type === 'stop') void client.close().finally(() => { temp.cleanup(); process.exit(0); });
  });
  send({ type: 'ready', userId: client.identity.userId });
}

class Receiver {
  private waiters: ((m: FromChild) => boolean)[] = [];
  count = 0;
  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: FromChild) => {
      if (m.type === 'received') this.count = m.count;
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

/** Waits until envelopes to `peer` take the peer link (polled: the bench has no other hook). */
async function linkUp(channels: Channels, peer: UserId, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!channels.isDirect?.(peer)) {
    if (Date.now() > deadline) throw new Error('bench: the peer link did not connect in time');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** The disk's commit floor: a 4 KiB write + fdatasync, as SQLite does per commit with synchronous=FULL. */
function fsyncFigures(dir: string, rounds: number) {
  const fd = openSync(path.join(dir, 'fsync-probe'), 'w');
  const times: number[] = [];
  const block = Buffer.alloc(4096, 1);
  try {
    for (let i = 0; i < rounds; i++) {
      writeSync(fd, block, 0, block.length, (i % 16) * 4096);
      const start = performance.now();
      fdatasyncSync(fd);
      times.push(performance.now() - start);
    }
  } finally {
    closeSync(fd);
  }
  return stats(times);
}

export default async (out: BenchOutput) => {
  const quick = out.args.includes('--quick');
  const profileDir = out.args.find((a) => a.startsWith('--profile='))?.slice('--profile='.length);
  const latencyOnly = Number(out.args.find((a) => a.startsWith('--latency='))?.slice('--latency='.length) ?? 0);
  const firstRuns = quick || latencyOnly > 0 ? 5 : 20;
  const pings = latencyOnly > 0 ? Math.ceil(latencyOnly / 2) : quick ? 50 : 200;
  /** Established-link latency: measured over this many messages, after half as many that warm up the code. */
  const latencyMessages = latencyOnly > 0 ? 2 * pings : quick ? 100 : LATENCY_MESSAGES;
  const burst = quick ? 500 : 2000;
  const temp = tempDir('discordopus-bench-messaging-');
  const server = await createSignalingServer({ logger: pino({ level: 'silent' }), processMetrics: false });
  const proc = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, MESSAGING_BENCH_ROLE: 'receiver', MESSAGING_BENCH_SERVER: server.url, MESSAGING_BENCH_SQL: countStatements ? '1' : '0' },
    execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const bob = new Receiver(proc);
  const { userId: bobId } = await bob.next('ready');
  const load = loadavg()[0];
  const fsync = fsyncFigures(temp.dir, quick ? 50 : 200);
  out.line({ case: 'baseline-fdatasync-4k', ...fsync });

  const sender = async (name: string, direct: boolean) => {
    const opened = await openClient(path.join(temp.dir, name), server.url, direct);
    await opened.client.contacts.add(bobId, { name: 'bob' });
    const added = bob.next('added');
    bob.send({ type: 'add', userId: opened.client.identity.userId });
    await added;
    return opened;
  };
  /** Sends one message; resolves with the receiver's time of showing it (monotonicMs) and when the bench heard of it. */
  const shown = async (api: MessagingApi, text: string) => {
    const received = bob.next('received');
    const sent = await api.sendText('bob', text);
    const got = await received;
    if (got.id !== sent.id) throw new Error('bench: unexpected message');
    return { shownAt: got.shownAt, reportedAt: monotonicMs() };
  };
  /**
   * Runs a phase of `messages` messages and measures the CPU both processes spent on it (and,
   * with --profile, profiles both).
   */
  const measured = async <T extends object>(phase: string, messages: number, run: () => Promise<T>) => {
    const childCpu = async () => {
      const reply = bob.next('cpu');
      bob.send({ type: 'cpu' });
      return await reply;
    };
    const profiler = profileDir ? new PhaseProfiler() : undefined;
    if (profiler) {
      const started = bob.next('profiled');
      bob.send({ type: 'profile-start' });
      await Promise.all([started, profiler.start()]);
    }
    const [bob0, alice0, aliceThreads0, aliceSql0] = [await childCpu(), cpuMicros(), threadCpu(), { ...sqlStats }];
    const result = await run();
    const [alice1, aliceThreads1, aliceSql1, bob1] = [cpuMicros(), threadCpu(), { ...sqlStats }, await childCpu()];
    out.line({
      case: 'cpu-threads', phase, us_per_msg_sender: threadDelta(aliceThreads0, aliceThreads1, messages),
      us_per_msg_receiver: threadDelta(bob0.threads, bob1.threads, messages),
    });
    if (countStatements) out.line({ case: 'sql', phase, sender: sqlDelta(aliceSql0, aliceSql1, messages), receiver: sqlDelta(bob0.sql, bob1.sql, messages) });
    if (profiler) {
      const stopped = bob.next('profiled');
      bob.send({ type: 'profile-stop', file: path.join(profileDir!, `${phase}-receiver.cpuprofile`) });
      out.line({ case: 'profile', phase, process: 'sender', top: await profiler.stop(path.join(profileDir!, `${phase}-sender.cpuprofile`)) });
      out.line({ case: 'profile', phase, process: 'receiver', top: (await stopped).top });
    }
    return {
      ...result,
      cpu_us_per_msg_sender: Math.round((alice1 - alice0) / messages),
      cpu_us_per_msg_receiver: Math.round((bob1.micros - bob0.micros) / messages),
    };
  };
  /** `keep` receives each latency, in order. */
  const established = async (api: MessagingApi, label: string, count = pings, keep?: number[]) => {
    const latencies: number[] = [];
    const reports: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = monotonicMs();
      const { shownAt, reportedAt } = await shown(api, `${label} ${i}`);
      latencies.push(shownAt - start);
      reports.push(reportedAt - shownAt);
    }
    keep?.push(...latencies);
    return { count, ...stats(latencies), ipc_p50_ms: round(percentile(sortNum(reports), 0.5)) };
  };
  // The app hands over `count` messages at once (they share commits); measured until the
  // receiver has stored the last one.
  const sustained = async (api: MessagingApi, count: number, concurrent: boolean) => {
    const expected = bob.count + count;
    const counted = bob.next('received', (m) => m.count >= expected);
    const start = monotonicMs();
    if (concurrent) await Promise.all(Array.from({ length: count }, (_, i) => api.sendText('bob', `burst ${i}`)));
    else for (let i = 0; i < count; i++) await api.sendText('bob', `one by one ${i}`);
    const queuedMs = monotonicMs() - start;
    const seconds = ((await counted).shownAt - start) / 1000;
    return { count, seconds: round(seconds), queue_ms_per_msg: round(queuedMs / count), msgs_per_s: Math.round(count / seconds) };
  };

  /**
   * The sustained rate: a first burst warms up the code that handles hundreds of messages at once
   * (not measured: the JIT has not compiled it yet), then the median of three measured bursts.
   */
  const sustainedRate = async (route: 'direct' | 'relay', api: MessagingApi) => {
    out.line({ case: 'sustained-warm-up', route, ...(await sustained(api, burst, true)) });
    const runs = [];
    for (let i = 0; i < 3; i++) {
      const run = await measured(`sustained-${route}`, burst, () => sustained(api, burst, true));
      out.line({ case: 'sustained', route, ...run });
      runs.push(run);
    }
    return runs.sort((a, b) => a.msgs_per_s - b.msgs_per_s)[1]!;
  };

  try {
    // ---- first message to a new contact, fresh sender each run; then the link comes up ----
    const firsts: number[] = [];
    const firstDirect: number[] = [];
    for (let i = 0; i < firstRuns; i++) {
      const { client, api, channels } = await sender(`alice-${i}`, true);
      const start = monotonicMs();
      firsts.push((await shown(api, `first message ${i}`)).shownAt - start);
      await linkUp(channels, bobId);
      firstDirect.push((await shown(api, `second message ${i}`)).shownAt - start);
      await client.close();
    }
    const first = stats(firsts);
    const firstLink = stats(firstDirect);
    out.line({ case: 'first-message', runs: firstRuns, ...first });
    out.line({ case: 'first-message-then-link-up-and-second-shown', runs: firstRuns, ...firstLink });

    // ---- established peer link ----
    const { client, api, channels } = await sender('alice', true);
    await shown(api, 'warm-up');
    await linkUp(channels, bobId);
    // Baseline: the kernel channel alone (the receiver has no handler on it: acked, then dropped).
    const baseline: number[] = [];
    for (let i = 0; i < pings; i++) {
      const start = performance.now();
      await channels.send(bobId, 'bench/raw', new TextEncoder().encode(`{"t":"text","n":${i}}`));
      baseline.push(performance.now() - start);
    }
    const base = stats(baseline);
    out.line({ case: 'baseline-channel-send', route: 'direct', count: pings, ...base });
    // Baseline for the CPU figures: what both processes burn per second with the link up and no messages.
    const idle = await measured('idle-direct', 1, async () => {
      const start = performance.now();
      await new Promise((resolve) => setTimeout(resolve, quick ? 1_000 : 3_000));
      return { seconds: round((performance.now() - start) / 1000) };
    });
    out.line({
      case: 'baseline-idle-link', route: 'direct', seconds: idle.seconds,
      cpu_us_per_s_sender: Math.round(idle.cpu_us_per_msg_sender / idle.seconds), cpu_us_per_s_receiver: Math.round(idle.cpu_us_per_msg_receiver / idle.seconds),
    });
    // The first pings run code the JIT has not compiled yet: reported apart, then the measured round.
    const coldLatencies: number[] = [];
    const cold = await established(api, 'cold ping', latencyMessages / 2, coldLatencies);
    out.line({ case: 'established-cold', route: 'direct', ...cold });
    // Stops 1-13 measured 400 messages after 200: the same messages of this run, for comparison (not in --quick runs).
    const window400 = coldLatencies.length >= 600 ? stats(coldLatencies.slice(200, 600)) : undefined;
    if (window400) out.line({ case: 'established-messages-201-600', route: 'direct', ...window400 });
    const direct = await measured('established-direct', latencyMessages, () => established(api, 'ping', latencyMessages));
    out.line({ case: 'established', route: 'direct', ...direct });
    if (latencyOnly > 0) {
      await client.close();
      out.summary({
        latency_p50_ms: direct.p50_ms, latency_p90_ms: direct.p90_ms, latency_p99_ms: direct.p99_ms, messages: latencyMessages,
        cpu_us_per_msg_sender: direct.cpu_us_per_msg_sender, cpu_us_per_msg_receiver: direct.cpu_us_per_msg_receiver, route: 'direct', load_avg_1m: round(load ?? 0),
      });
      return;
    }
    out.line({ case: 'sustained-awaiting-each-send', route: 'direct', ...(await sustained(api, Math.min(burst, 200), false)) });
    const together = await sustainedRate('direct', api);
    await client.close();

    // ---- the relay route: a sender without peer links ----
    const relay = await sender('alice-relay', false);
    await shown(relay.api, 'warm-up');
    const relayPing = await measured('established-relay', pings, () => established(relay.api, 'relay ping'));
    out.line({ case: 'established', route: 'relay', ...relayPing });
    const relayBurst = await sustainedRate('relay', relay.api);
    await relay.client.close();

    out.summary({
      first_message_p50_ms: first.p50_ms,
      first_direct_message_p50_ms: firstLink.p50_ms,
      latency_p50_ms: direct.p50_ms,
      latency_p99_ms: direct.p99_ms,
      latency_cold_p50_ms: cold.p50_ms,
      latency_cold_p99_ms: cold.p99_ms,
      ...(window400 ? { latency_messages_201_600_p50_ms: window400.p50_ms, latency_messages_201_600_p99_ms: window400.p99_ms } : {}),
      msgs_per_s: together.msgs_per_s,
      relay_latency_p50_ms: relayPing.p50_ms,
      relay_latency_p99_ms: relayPing.p99_ms,
      relay_msgs_per_s: relayBurst.msgs_per_s,
      cpu_us_per_msg_sender: direct.cpu_us_per_msg_sender,
      cpu_us_per_msg_receiver: direct.cpu_us_per_msg_receiver,
      burst_cpu_us_per_msg_sender: together.cpu_us_per_msg_sender,
      burst_cpu_us_per_msg_receiver: together.cpu_us_per_msg_receiver,
      baseline_channel_send_p50_ms: base.p50_ms,
      fdatasync_p50_ms: fsync.p50_ms,
      route: 'direct',
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
