/**
 * Raw werift data-channel throughput between two Node processes on loopback: this process sends,
 * bench/datachannel-bench-worker.ts receives (signals over the fork IPC channel). Stock werift
 * settings and the tuned settings of patches/werift+0.24.4.patch (docs/werift-tuning.md) run in
 * the same invocation, alternating, so the ratio is measured under the same machine load.
 *   mb_per_s     payload bytes (10^6) per second, first send until the receiver has everything
 *   cpu_*        CPU time of each side over its wall time (100 = one core)
 * The receiver checks the order (index in each message) and a SHA-256 of the stream.
 * Summary (64 KiB messages): stock_mb_per_s, tuned_mb_per_s (medians over the rounds), ratio
 * (their quotient), ratio_min / ratio_max (per round); also the 16 KiB figures.
 * Options: --quick (64 MiB per run), --rounds N (default 1), --mib N (MiB per 64 KiB run),
 * --tuned '<json>' (try other tuned settings), --only-64k.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import type { BenchOutput } from './run.ts';
import { TUNED_DATACHANNEL_CONFIG } from './datachannel-tuned-config.ts';

/** Loopback only, no STUN (PLATFORM-NOTES: werift's default STUN server and IPv6 candidates). */
const LOOPBACK = { iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false };
const CONFIGS: Record<ConfigName, Record<string, unknown>> = {
  stock: { ...LOOPBACK },
  tuned: { ...LOOPBACK, ...TUNED_DATACHANNEL_CONFIG },
};
type ConfigName = 'stock' | 'tuned';

const workerPath = fileURLToPath(new URL('./datachannel-bench-worker.ts', import.meta.url));
const round1 = (x: number) => Math.round(x * 10) / 10;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Done { t: 'done'; bytes: number; messages: number; inOrder: boolean; sha256: string; cpuPercent: number }

export default async (out: BenchOutput) => {
  const quick = out.args.includes('--quick');
  const flag = (name: string) => {
    const i = out.args.indexOf(name);
    return i >= 0 ? Number(out.args[i + 1]) : undefined;
  };
  const rounds = flag('--rounds') ?? 1;
  const mib64 = flag('--mib') ?? (quick ? 64 : 256);
  const mib16 = Math.max(16, Math.round(mib64 / 4));
  const tunedArg = out.args.indexOf('--tuned');
  if (tunedArg >= 0) CONFIGS.tuned = { ...LOOPBACK, ...(JSON.parse(out.args[tunedArg + 1]!) as Record<string, unknown>) };
  const sizes = out.args.includes('--only-64k') ? [[64 * 1024, mib64]] as const : [[64 * 1024, mib64], [16 * 1024, mib16]] as const;
  out.line({ tuned_config: CONFIGS.tuned });

  const results: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [size, mib] of sizes) {
      for (const name of ['stock', 'tuned'] as const) {
        const res = await runOnce(name, size, mib * 1024 * 1024);
        out.line({ case: name, round: r, message_kib: size / 1024, mib, ...res });
        (results[`${name}${size / 1024}`] ??= []).push(res.mb_per_s);
      }
    }
  }
  const stock = median(results.stock64!);
  const tuned = median(results.tuned64!);
  // Each round's own ratio: stock and tuned ran back to back under the same load.
  const ratios = results.tuned64!.map((t, i) => t / results.stock64![i]!);
  out.summary({
    stock_mb_per_s: round1(stock),
    tuned_mb_per_s: round1(tuned),
    ratio: Math.round((tuned / stock) * 100) / 100,
    ratio_min: Math.round(Math.min(...ratios) * 100) / 100,
    ratio_max: Math.round(Math.max(...ratios) * 100) / 100,
    ...(results.stock16 ? {
      stock_16k_mb_per_s: round1(median(results.stock16)),
      tuned_16k_mb_per_s: round1(median(results.tuned16!)),
    } : {}),
    rounds,
    mib_per_run: mib64,
  });
};

async function runOnce(name: ConfigName, size: number, total: number) {
  const config = CONFIGS[name];
  const child = fork(workerPath, [], { execArgv: ['--import', 'tsx', ...(process.env.DATACHANNEL_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.DATACHANNEL_BENCH_CPU_PROF}`] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages = new MessageQueue(child);
  const pc = new RTCPeerConnection(config as never);
  try {
    child.send({ t: 'run', config, total });
    pc.onIceCandidate.subscribe((c) => {
      if (c) child.send({ t: 'candidate', candidate: c.toJSON() });
    });
    messages.onCandidate = (c) => void pc.addIceCandidate(c as never);
    const dc = pc.createDataChannel('bench');
    const opened = new Promise<void>((resolve) => dc.stateChanged.subscribe((s) => s === 'open' && resolve()));
    await pc.setLocalDescription(await pc.createOffer());
    child.send({ t: 'offer', sdp: { type: pc.localDescription!.type, sdp: pc.localDescription!.sdp } });
    const answer = (await messages.next('answer')) as { sdp: never };
    await pc.setRemoteDescription(answer.sdp);
    await withTimeout(opened, 60_000, () => `datachannel bench: ${name} connection did not open in 60 s (ice ${pc.iceConnectionState})`);

    const pool = randomBytes(1024 * 1024);
    const count = Math.ceil(total / size);
    const make = (i: number) => {
      const off = (i * 4099) % (pool.length - size);
      const buf = Buffer.allocUnsafe(size);
      pool.copy(buf, 0, off, off + size);
      buf.writeUInt32BE(i, 0);
      return buf;
    };
    const expected = createHash('sha256');
    for (let i = 0; i < count; i++) expected.update(make(i));
    const expectedHash = expected.digest('hex');

    const done = messages.next('done') as Promise<Done>;
    const drops0 = udpReceiveBufferErrors();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const stalled = watchProgress(child, messages, name);
    let result: Done;
    try {
      await Promise.race([sendAll(dc, count, make), stalled.failed]);
      result = await Promise.race([done, stalled.failed]);
    } finally {
      stalled.stop();
    }
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (result.sha256 !== expectedHash || !result.inOrder || result.messages !== count) {
      throw new Error(`datachannel bench: ${name} delivered altered data (inOrder=${result.inOrder}, messages=${result.messages}/${count})`);
    }
    return {
      mb_per_s: round1(total / 1e6 / (wallMs / 1000)),
      seconds: round1(wallMs / 1000),
      cpu_sender_percent: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 100),
      cpu_receiver_percent: result.cpuPercent,
      // CPU of both ends per MB: what a busy machine changes least.
      cpu_ms_per_mb_both_ends: round1((((cpu.user + cpu.system) / 1000) + (result.cpuPercent / 100) * wallMs) / (total / 1e6)),
      // datagrams the kernel dropped for a full socket buffer, machine-wide (Linux), during the run
      udp_rcvbuf_errors: drops0 === undefined ? null : udpReceiveBufferErrors()! - drops0,
      checksum_ok: true,
    };
  } finally {
    await pc.close().catch(() => {});
    const exited = new Promise((r) => child.once('exit', r));
    child.send({ t: 'close' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill();
  }
}

function udpReceiveBufferErrors(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/);
    return Number(lines[1]!.split(/\s+/)[names.indexOf('RcvbufErrors')]);
  } catch {
    return undefined;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  })]).finally(() => clearTimeout(timer));
}

/** Fails the run, with the receiver's state, if it receives nothing new for 60 s. */
function watchProgress(child: ChildProcess, messages: MessageQueue, name: string) {
  let last = -1;
  let still = 0;
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      child.send({ t: 'progress' });
      void messages.next('progress').then((raw) => {
        const p = raw as { bytes: number; ice?: string; sctp?: string };
        still = p.bytes === last ? still + 1 : 0;
        last = p.bytes;
        if (still >= 6) reject(new Error(`datachannel bench: ${name} stalled at ${p.bytes} bytes (ice ${p.ice}, sctp ${p.sctp})`));
      });
    }, 10_000);
  });
  failed.catch(() => {});
  return { failed, stop: () => clearInterval(timer) };
}

/** Backpressure the way an application does: fill to a high-water mark, then wait for bufferedamountlow. */
async function sendAll(dc: RTCDataChannel, count: number, make: (i: number) => Buffer) {
  const high = 1024 * 1024;
  dc.bufferedAmountLowThreshold = 256 * 1024;
  for (let i = 0; i < count; i++) {
    if (dc.bufferedAmount > high) await new Promise<void>((resolve) => dc.bufferedAmountLow.once(() => resolve()));
    dc.send(make(i));
  }
}

/** Parent-side view of the child's IPC messages: waits by type, forwards candidates. */
class MessageQueue {
  onCandidate: (c: unknown) => void = () => {};
  private waiters = new Map<string, (m: unknown) => void>();
  private early = new Map<string, unknown>();
  constructor(child: ChildProcess) {
    child.on('message', (raw) => {
      const m = raw as { t: string; candidate?: unknown; message?: string };
      if (m.t === 'candidate') return this.onCandidate(m.candidate);
      if (m.t === 'error') throw new Error(`datachannel bench worker: ${m.message}`);
      const w = this.waiters.get(m.t);
      if (w) {
        this.waiters.delete(m.t);
        w(m);
      } else this.early.set(m.t, m);
    });
  }
  next(t: string): Promise<unknown> {
    if (this.early.has(t)) {
      const m = this.early.get(t);
      this.early.delete(t);
      return Promise.resolve(m);
    }
    return new Promise((resolve) => this.waiters.set(t, resolve));
  }
}
