/**
 * Encrypted file transfer between two client processes on loopback, against a bare werift data
 * channel in the same run. This process runs the signaling server and forks the sender and the
 * receiver (this file with FILES_BENCH_ROLE): full clients with encrypted profiles, kernels,
 * werift peer links and the files plugin (per-chunk AES-256-GCM, acknowledgements, partial file,
 * whole-file SHA-256). A 1 KiB warm-up transfer brings the peer link up first.
 *   mb_per_s              file bytes (10^6) per second, sender 'transferring' until 'completed'
 *                         (the receiver verified the hash and renamed the file)
 *   baseline_mb_per_s     a bare werift data channel between two processes, same config as the
 *                         clients' peer links, same message size (one chunk frame, 256 KiB), the
 *                         same 1 MiB backpressure high-water mark, no encryption beyond DTLS;
 *                         measured before and after the transfer (baseline_before_/after_mb_per_s)
 *                         and averaged, since the load of a shared machine drifts
 *   ratio                 mb_per_s / baseline_mb_per_s (target >= 0.9)
 *   cpu_ms_per_mb_sender / cpu_ms_per_mb_receiver   CPU time (user + system, all threads) of each
 *                         client process per 10^6 file bytes during the transfer; baseline_cpu_*
 *                         the same for the bare channel's two ends; cpu_ratio = baseline CPU per MB
 *                         (both ends) / encrypted CPU per MB (both ends). Load inflates these far
 *                         less than it distorts MB/s.
 *   peak_rss_mb_sender / peak_rss_mb_receiver   peak RSS of each client process (sampled every
 *                         50 ms during the transfer); *_growth_mb is the rise over its RSS before
 *                         the transfer (target < 100 MiB)
 * Options: --mib N (file size, default 1024), --baseline-mib N (default 256), --quick (256/128),
 * --no-stock (skip the stock-werift line). FILES_BENCH_CPU_PROF=<dir>: CPU profiles of every child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import { TUNED_DATACHANNEL_CONFIG } from './datachannel-tuned-config.ts';
import { SecureChannels, type UserId } from '@discordopus/sdk';
import type { BenchOutput } from './run.ts';
import type { FilesApi, Transfer } from '../plugins/files/src/index.ts';
import { DEFAULT_CHUNK_BYTES, CHUNK_FRAME_HEADER } from '../plugins/files/src/index.ts';
import { createSignalingServer } from '../server/src/index.ts';
import { createClient } from '../core/src/node/client/create-client.ts';
import { firstPartyPlugins } from '../core/src/node/client/first-party-plugins.ts';
import { TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { createLogger } from '../core/src/node/kernel/kernel.ts';
import { writeRandomFile } from '../test/support/random-file.ts';

const PASS = 'bench passphrase';
const MiB = 1024 * 1024;
const FRAME_BYTES = DEFAULT_CHUNK_BYTES + CHUNK_FRAME_HEADER + 16;
const HIGH_WATER = 1024 * 1024;
/** The clients' peer links with `loopbackOnly` (core/src/node/peer/peer-link.ts). */
const LOOPBACK = { iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false, maxMessageSize: 262_144 };
const round1 = (x: number) => Math.round(x * 10) / 10;
const mb = (bytes: number) => round1(bytes / MiB);

type ToChild =
  | { t: 'add'; userId: UserId }
  | { t: 'send'; file: string; warmup: boolean }
  | { t: 'make'; mib: number }
  | { t: 'rtc-offer'; sdp: unknown } | { t: 'rtc-candidate'; candidate: unknown } | { t: 'rtc-run'; total: number }
  | { t: 'stop' };
type FromChild =
  | { t: 'ready'; userId?: UserId }
  | { t: 'added' }
  | { t: 'made'; file: string; sha256: string }
  | { t: 'sent'; ms: number; rssBeforeMb: number; peakRssMb: number; state: string; cpuMs: number }
  | { t: 'received'; name: string; sha256: string; rssBeforeMb: number; peakRssMb: number; cpuMs: number }
  | { t: 'rtc-answer'; sdp: unknown } | { t: 'rtc-candidate'; candidate: unknown } | { t: 'rtc-done'; bytes: number; cpuMs: number }
  | { t: 'error'; message: string };

/** Peak RSS while `running`, sampled every 50 ms (maxRSS would include start-up). */
function rssSampler(): { before: number; peak(): number; stop(): void } {
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  return { before, peak: () => Math.max(peak, process.memoryUsage.rss()), stop: () => clearInterval(timer) };
}

/** CPU time (user + system, all threads) of this process since the call, in ms. */
function cpuSince(): () => number {
  const start = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
}

async function childMain(role: string): Promise<void> {
  const send = (m: FromChild) => process.send!(m);
  process.on('uncaughtException', (e) => send({ t: 'error', message: String(e?.stack ?? e) }));
  if (role === 'baseline' || role === 'baseline-tuned') return baselineReceiver(send, role === 'baseline-tuned');
  const temp = tempDir(`discordopus-bench-files-${role}-`);
  const client = await createClient({
    profileDir: path.join(temp.dir, 'profile'), passphrase: PASS, create: true, profileKdf: TEST_PROFILE_KDF,
    serverUrl: process.env.FILES_BENCH_SERVER!, connectSignaling: true, peerLinks: { loopbackOnly: true },
    plugins: firstPartyPlugins(), logger: createLogger({ level: 'error', destination: 2 }),
  });
  await client.kernel.container.get<SecureChannels & { whenReady(): Promise<void> }>(SecureChannels).whenReady();
  const files = client.kernel.pluginApi<FilesApi>('files')!;
  let sampler: ReturnType<typeof rssSampler> | undefined;
  let cpu: (() => number) | undefined;
  if (role === 'receiver') {
    const dir = path.join(temp.dir, 'in');
    const hashes = new Map<string, ReturnType<typeof createHash>>();
    files.onDidChange((t: Transfer) => {
      if (t.direction !== 'in') return;
      if (t.state === 'offered') {
        if (t.size > MiB) {
          sampler = rssSampler();
          cpu = cpuSince();
        }
        void files.accept(t.id, dir);
      }
      if (t.state === 'completed' && t.path) {
        const peak = sampler?.peak() ?? process.memoryUsage.rss();
        const before = sampler?.before ?? peak;
        const cpuMs = cpu?.() ?? 0;
        sampler?.stop();
        sampler = undefined;
        void hashFile(t.path, hashes).then((sha256) => send({ t: 'received', name: t.name, sha256, rssBeforeMb: mb(before), peakRssMb: mb(peak), cpuMs }));
      }
    });
  }
  process.on('message', (raw) => {
    const m = raw as ToChild;
    if (m.t === 'add') void client.contacts.add(m.userId, { name: 'peer' }).then(() => send({ t: 'added' }));
    if (m.t === 'make') {
      const file = path.join(temp.dir, `file-${m.mib}.bin`);
      send({ t: 'made', file, sha256: writeRandomFile(file, m.mib * MiB) });
    }
    if (m.t === 'send') {
      void (async () => {
        const local = m.warmup ? undefined : rssSampler();
        let started = 0;
        let cpuUsed = () => 0;
        const done = new Promise<Transfer>((resolve) => files.onDidChange((t) => {
          if (t.direction !== 'out') return;
          if (t.state === 'transferring' && started === 0) {
            started = performance.now();
            cpuUsed = cpuSince();
          }
          if (['completed', 'failed', 'cancelled', 'declined'].includes(t.state)) resolve(t);
        }));
        await files.send('peer', m.file);
        const t = await done;
        const cpuMs = cpuUsed();
        local?.stop();
        send({ t: 'sent', ms: performance.now() - started, rssBeforeMb: mb(local?.before ?? 0), peakRssMb: mb(local?.peak() ?? 0), state: t.state, cpuMs });
      })();
    }
    if (m.t === 'stop') void client.close().finally(() => { temp.cleanup(); process.exit(0); });
  });
  send({ t: 'ready', userId: client.identity.userId });
}

async function hashFile(file: string, _cache: Map<string, unknown>): Promise<string> {
  const { createReadStream } = await import('node:fs');
  const hash = createHash('sha256');
  for await (const block of createReadStream(file, { highWaterMark: MiB })) hash.update(block as Buffer);
  return hash.digest('hex');
}

/** The baseline's receiving end: a bare werift peer connection answering the parent's offer. */
function baselineReceiver(send: (m: FromChild) => void, tuned: boolean): void {
  const pc = new RTCPeerConnection((tuned ? { ...LOOPBACK, ...TUNED_DATACHANNEL_CONFIG } : LOOPBACK) as never);
  let pending: unknown[] | undefined = [];
  let total = Infinity;
  let bytes = 0;
  let cpu: (() => number) | undefined;
  pc.onIceCandidate.subscribe((c) => c && send({ t: 'rtc-candidate', candidate: c.toJSON() }));
  pc.onDataChannel.subscribe((dc) => dc.onMessage.subscribe((data) => {
    cpu ??= cpuSince();
    bytes += (data as Buffer).length;
    if (bytes >= total) send({ t: 'rtc-done', bytes, cpuMs: cpu() });
  }));
  process.on('message', (raw) => {
    const m = raw as ToChild;
    void (async () => {
      if (m.t === 'rtc-run') total = m.total;
      if (m.t === 'rtc-offer') {
        await pc.setRemoteDescription(m.sdp as never);
        for (const c of pending ?? []) await pc.addIceCandidate(c as never);
        pending = undefined;
        await pc.setLocalDescription(await pc.createAnswer());
        send({ t: 'rtc-answer', sdp: { type: pc.localDescription!.type, sdp: pc.localDescription!.sdp } });
      }
      if (m.t === 'rtc-candidate') {
        if (pending) pending.push(m.candidate);
        else await pc.addIceCandidate(m.candidate as never);
      }
      if (m.t === 'stop') {
        await pc.close().catch(() => undefined);
        process.exit(0);
      }
    })();
  });
  send({ t: 'ready' });
}

class Child {
  private waiters: ((m: FromChild) => boolean)[] = [];
  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: FromChild) => {
      if (m.t === 'error') throw new Error(`files bench child: ${m.message}`);
      this.waiters = this.waiters.filter((w) => !w(m));
    });
  }

  static start(role: string, serverUrl = ''): Child {
    return new Child(fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, FILES_BENCH_ROLE: role, FILES_BENCH_SERVER: serverUrl },
      execArgv: ['--import', 'tsx', ...(process.env.FILES_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.join(process.env.FILES_BENCH_CPU_PROF, role)}`] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }));
  }

  next<T extends FromChild['t']>(type: T): Promise<Extract<FromChild, { t: T }>> {
    return new Promise((resolve) => this.waiters.push((m) => {
      if (m.t !== type) return false;
      resolve(m as Extract<FromChild, { t: T }>);
      return true;
    }));
  }

  send(m: ToChild): void {
    this.proc.send(m);
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.send({ t: 'stop' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    this.proc.kill();
  }
}

interface BaselineResult {
  mbPerS: number;
  cpuMsPerMbSender: number;
  cpuMsPerMbReceiver: number;
}

/** Bare data channel, this process sending to a child: same message size and high-water mark. */
async function baseline(total: number, tuned: boolean): Promise<BaselineResult> {
  const child = Child.start(tuned ? 'baseline-tuned' : 'baseline');
  await child.next('ready');
  const pc = new RTCPeerConnection((tuned ? { ...LOOPBACK, ...TUNED_DATACHANNEL_CONFIG } : LOOPBACK) as never);
  try {
    pc.onIceCandidate.subscribe((c) => c && child.send({ t: 'rtc-candidate', candidate: c.toJSON() }));
    child.proc.on('message', (m: FromChild) => {
      if (m.t === 'rtc-candidate') void pc.addIceCandidate(m.candidate as never);
    });
    const dc = pc.createDataChannel('baseline');
    const opened = new Promise<void>((resolve) => dc.stateChanged.subscribe((s) => s === 'open' && resolve()));
    await pc.setLocalDescription(await pc.createOffer());
    const answer = child.next('rtc-answer');
    child.send({ t: 'rtc-offer', sdp: { type: pc.localDescription!.type, sdp: pc.localDescription!.sdp } });
    await pc.setRemoteDescription((await answer).sdp as never);
    await opened;
    const count = Math.ceil(total / FRAME_BYTES);
    child.send({ t: 'rtc-run', total: count * FRAME_BYTES });
    const done = child.next('rtc-done');
    const pool = randomBytes(FRAME_BYTES);
    const t0 = performance.now();
    const cpu = cpuSince();
    await sendAll(dc, count, pool);
    const { cpuMs } = await done;
    const megabytes = (count * FRAME_BYTES) / 1e6;
    return { mbPerS: megabytes / ((performance.now() - t0) / 1000), cpuMsPerMbSender: cpu() / megabytes, cpuMsPerMbReceiver: cpuMs / megabytes };
  } finally {
    await pc.close().catch(() => undefined);
    await child.stop();
  }
}

async function sendAll(dc: RTCDataChannel, count: number, frame: Buffer): Promise<void> {
  dc.bufferedAmountLowThreshold = HIGH_WATER / 4;
  for (let i = 0; i < count; i++) {
    if (dc.bufferedAmount > HIGH_WATER) await new Promise<void>((resolve) => dc.bufferedAmountLow.once(() => resolve()));
    // A fresh buffer per message, like a sealed chunk.
    dc.send(Buffer.from(frame));
  }
}

export default async (out: BenchOutput) => {
  const quick = out.args.includes('--quick');
  const flag = (name: string) => {
    const i = out.args.indexOf(name);
    return i >= 0 ? Number(out.args[i + 1]) : undefined;
  };
  const mib = flag('--mib') ?? (quick ? 256 : 1024);
  const baselineMib = flag('--baseline-mib') ?? (quick ? 128 : 256);

  // The baseline is the bare data channel with the settings the peer links use on loopback
  // (the tuned werift patch); stock werift is printed too, for the before/after.
  const stock = out.args.includes('--no-stock') ? undefined : await baseline(baselineMib * MiB, false);
  if (stock) out.line({ case: 'baseline-stock-werift', mib: baselineMib, message_bytes: FRAME_BYTES, mb_per_s: round1(stock.mbPerS) });
  // Measured before and after the transfer, and averaged: on a shared machine the load drifts.
  const runBaseline = async (when: string) => {
    const result = await baseline(baselineMib * MiB, true);
    out.line({
      case: 'baseline', when, mib: baselineMib, message_bytes: FRAME_BYTES, mb_per_s: round1(result.mbPerS),
      cpu_ms_per_mb_sender: round1(result.cpuMsPerMbSender), cpu_ms_per_mb_receiver: round1(result.cpuMsPerMbReceiver),
    });
    return result;
  };
  const before = await runBaseline('before');
  const files = await transfer(out, mib);
  const after = await runBaseline('after');
  const mean = (key: keyof BaselineResult) => (before[key] + after[key]) / 2;
  const base = { mbPerS: mean('mbPerS'), cpuMsPerMbSender: mean('cpuMsPerMbSender'), cpuMsPerMbReceiver: mean('cpuMsPerMbReceiver') };
  const { mbPerS, cpuMsPerMbSender, cpuMsPerMbReceiver, s, r } = files;
  out.summary({
    mb_per_s: round1(mbPerS),
    baseline_mb_per_s: round1(base.mbPerS),
    baseline_before_mb_per_s: round1(before.mbPerS),
    baseline_after_mb_per_s: round1(after.mbPerS),
    ...(stock ? { stock_werift_baseline_mb_per_s: round1(stock.mbPerS) } : {}),
    ratio: Math.round((mbPerS / base.mbPerS) * 100) / 100,
    cpu_ms_per_mb_sender: round1(cpuMsPerMbSender),
    cpu_ms_per_mb_receiver: round1(cpuMsPerMbReceiver),
    baseline_cpu_ms_per_mb_sender: round1(base.cpuMsPerMbSender),
    baseline_cpu_ms_per_mb_receiver: round1(base.cpuMsPerMbReceiver),
    cpu_ratio: Math.round(((base.cpuMsPerMbSender + base.cpuMsPerMbReceiver) / (cpuMsPerMbSender + cpuMsPerMbReceiver)) * 100) / 100,
    peak_rss_mb_sender: s.peakRssMb,
    peak_rss_mb_receiver: r.peakRssMb,
    rss_growth_mb_sender: round1(s.peakRssMb - s.rssBeforeMb),
    rss_growth_mb_receiver: round1(r.peakRssMb - r.rssBeforeMb),
    mib,
  });
};

/** The encrypted transfer of `mib` MiB between two client processes (after a 0-byte warm-up). */
async function transfer(out: BenchOutput, mib: number) {

  const server = await createSignalingServer({ logger: pino({ level: 'silent' }), processMetrics: false });
  const sender = Child.start('sender', server.url);
  const receiver = Child.start('receiver', server.url);
  try {
    const [{ userId: a }, { userId: b }] = await Promise.all([sender.next('ready'), receiver.next('ready')]);
    const added = [sender.next('added'), receiver.next('added')];
    sender.send({ t: 'add', userId: b! });
    receiver.send({ t: 'add', userId: a! });
    await Promise.all(added);

    const warm = sender.next('made');
    sender.send({ t: 'make', mib: 0 });
    const warmFile = (await warm).file;
    const warmDone = receiver.next('received');
    const warmSent = sender.next('sent');
    sender.send({ t: 'send', file: warmFile, warmup: true });
    await Promise.all([warmDone, warmSent]);

    const made = sender.next('made');
    sender.send({ t: 'make', mib });
    const { file, sha256 } = await made;
    const received = receiver.next('received');
    const sent = sender.next('sent');
    sender.send({ t: 'send', file, warmup: false });
    const [s, r] = await Promise.all([sent, received]);
    if (s.state !== 'completed' || r.sha256 !== sha256) throw new Error(`files bench: transfer ${s.state}, hash ${r.sha256 === sha256 ? 'equal' : 'DIFFERENT'}`);
    const mbPerS = (mib * MiB) / 1e6 / (s.ms / 1000);
    const cpuMsPerMbSender = s.cpuMs / ((mib * MiB) / 1e6);
    const cpuMsPerMbReceiver = r.cpuMs / ((mib * MiB) / 1e6);
    out.line({
      case: 'files', mib, seconds: round1(s.ms / 1000), mb_per_s: round1(mbPerS), hash_equal: true,
      cpu_ms_per_mb_sender: round1(cpuMsPerMbSender), cpu_ms_per_mb_receiver: round1(cpuMsPerMbReceiver),
      rss_before_mb_sender: s.rssBeforeMb, rss_before_mb_receiver: r.rssBeforeMb,
    });
    return { mbPerS, cpuMsPerMbSender, cpuMsPerMbReceiver, s, r };
  } finally {
    await Promise.all([sender.stop(), receiver.stop()]);
    await server.close();
  }
}

if (process.env.FILES_BENCH_ROLE) await childMain(process.env.FILES_BENCH_ROLE);
