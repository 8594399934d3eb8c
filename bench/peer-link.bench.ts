/**
 * Peer links over werift on loopback. The figures in the summary are PeerLink between two
 * processes (this one and core/src/node/peer/peer-link-child.ts, signals over stdio):
 *   connect_p50_ms   connect() on a fresh PeerLink (offer, ICE, DTLS, SCTP) to channel open,
 *                    p50 over 20 sessions; includes the link's own DTLS certificate (~20 ms)
 *   latency_p50_ms / latency_p99_ms   one-way latency of 64-byte messages (echo RTT / 2)
 *   mb_per_s         64 KiB messages, raw (no end-to-end encryption), until the peer has them;
 *                    also cpu_ms_per_mb_both_ends (CPU of sender + receiver per MB), which a busy
 *                    machine changes less than wall-clock throughput
 *   streams_mb_per_s PeerStreams (a data channel per stream, awaited writes of maxWriteBytes =
 *                    256 KiB) with both ends in this process: compare with the baseline below
 *   small_*          200-byte messages between two processes (issue 4's transport half), with
 *                    the loopback SCTP tuning the app uses (LOOPBACK_SCTP_TUNING) and, as extra
 *                    lines and small_default, the settings links use off loopback: one-way
 *                    latency (process.hrtime stamps, the host's monotonic clock) one at a time,
 *                    in groups of 2 and 10 sent back to back in one go, and 10 sent one after
 *                    the other with microtask hops between (as a handler doing async work);
 *                    a burst of 10,000 (msgs/s until the peer has the last); CPU of both ends
 *                    per message (wall clock is noisy on a shared machine). Medians of
 *                    --rounds N rounds (default 1, so the full run stays near a minute;
 *                    3 with --small, the small-message figures alone).
 * Baseline, same run: bare werift data channels (no PeerLink) with both ends in this process.
 * Options: --quick (fewer rounds), --small (only the small-message figures).
 */
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import { nextEvent } from '@discordopus/sdk';
import type { BenchOutput } from './run.ts';
import { PeerLink } from '../core/src/node/peer/peer-link.ts';
import { PeerChildProcess } from '../core/src/node/peer/peer-child-process.ts';
import { PeerLinkManager } from '../core/src/node/peer/peer-link-manager.ts';
import { InMemorySignalRelay } from '../core/src/node/peer/in-memory-signal-relay.ts';
import { PeerStreamsImpl } from '../core/src/node/streams/peer-streams-impl.ts';
import { userIdFromPublicKey, type Contact, type Logger, type UserId } from '@discordopus/sdk';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
const sortNum = (xs: number[]) => [...xs].sort((a, b) => a - b);
const round = (x: number) => Math.round(x * 1000) / 1000;

export default async (out: BenchOutput) => {
  const quick = out.args.includes('--quick');
  const roundsArg = out.args.indexOf('--rounds');
  const small = out.args.includes('--small');
  const rounds = roundsArg >= 0 ? Number(out.args[roundsArg + 1]) : small ? 3 : 1;
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`peer-link bench: --rounds expects a positive integer, got ${out.args[roundsArg + 1]}`);
  const tuned = await smallMessages(out, true, rounds, quick);
  const untuned = await smallMessages(out, false, rounds, quick);
  const smallSummary = {
    small_latency_p50_ms: tuned.oneP50,
    small_latency_p99_ms: tuned.oneP99,
    small_back_to_back_2_p99_ms: tuned.two99,
    small_back_to_back_10_p99_ms: tuned.ten99,
    small_spread_10_p99_ms: tuned.spread99,
    small_msgs_per_s: tuned.burstRate,
    small_cpu_us_per_msg_both_ends: tuned.burstCpuUs,
    small_one_at_a_time_cpu_us_per_msg_both_ends: tuned.oneCpuUs,
    small_default: untuned,
  };
  if (small) {
    out.summary({ ...smallSummary, loadavg_1m: round(loadavg()[0]!) });
    return;
  }
  const connectRuns = quick ? 5 : 20;
  const pings = quick ? 200 : 1000;
  const megabytes = quick ? 4 : 16;

  // ---- baseline: bare werift, one process ----
  const base = await baseline(connectRuns, pings, megabytes);
  out.line({
    case: 'werift-bare-one-process',
    connect_p50_ms: base.connectP50,
    latency_p50_ms: base.p50,
    latency_p99_ms: base.p99,
    mb_per_s: base.mbps,
    cpu_ms_per_mb_both_ends: base.cpuMsPerMb,
  });

  // ---- PeerStreams, one process (same conditions as the baseline) ----
  const streams = await streamThroughput(megabytes);
  out.line({ case: 'peer-streams-one-process', metric: 'throughput', write_bytes: streams.writeBytes, mib: megabytes, mb_per_s: streams.mbps, cpu_ms_per_mb_both_ends: streams.cpuMsPerMb });

  // ---- PeerLink, two processes ----
  const child = new PeerChildProcess('bob', 'alice');
  let link: PeerLink | undefined;
  child.onSignal((s) => void link?.handleSignal(s));
  const fresh = () => {
    link = new PeerLink({ localId: 'alice', remoteId: 'bob', loopbackOnly: true, sendSignal: (s) => child.signal(s) });
    return link;
  };
  try {
    await child.ready;
    const connects: number[] = [];
    for (let i = 0; i < connectRuns; i++) {
      const l = fresh();
      const t0 = performance.now();
      await l.connect();
      connects.push(performance.now() - t0);
      if (i < connectRuns - 1) {
        const childDown = nextEvent(child.onState, (s) => s === 'disconnected', 20_000);
        await l.close();
        await childDown;
      }
    }
    const connectP50 = round(percentile(sortNum(connects), 0.5));
    out.line({ case: 'peer-link-two-processes', metric: 'connect', runs: connectRuns, p50_ms: connectP50, max_ms: round(Math.max(...connects)) });

    const l = link!;
    const latencies: number[] = [];
    const payload = new Uint8Array(64);
    // How late this process's event loop ran meanwhile: on a busy machine, latency tails are
    // mostly scheduling, and this shows how much.
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    for (let i = 0; i < pings; i++) {
      const echoed = nextEvent(l.onMessage, (m) => m.channel === 'echo', 20_000);
      const t0 = performance.now();
      await l.send('echo', payload);
      await echoed;
      latencies.push((performance.now() - t0) / 2);
    }
    loopDelay.disable();
    const sorted = sortNum(latencies);
    const p50 = round(percentile(sorted, 0.5));
    const p99 = round(percentile(sorted, 0.99));
    out.line({
      case: 'peer-link-two-processes',
      metric: 'latency',
      messages: pings,
      p50_ms: p50,
      p99_ms: p99,
      max_ms: round(sorted.at(-1)!),
      event_loop_delay_p99_ms: round(loopDelay.percentile(99) / 1e6),
      loadavg_1m: round(loadavg()[0]!),
    });

    const chunk = new Uint8Array(64 * 1024).fill(7);
    const count = (megabytes * 1024 * 1024) / chunk.length;
    const sinkReport = async () => {
      const report = nextEvent(l.onMessage, (m) => m.channel === 'sink-report', 60_000);
      await l.send('sink-report', new Uint8Array(0));
      return JSON.parse(new TextDecoder().decode((await report).data)) as { bytes: number; cpuMs: number };
    };
    const before = await sinkReport();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < count; i++) await l.send('sink', chunk);
    const after = await sinkReport();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const received = after.bytes - before.bytes;
    const mbps = round(received / 1e6 / seconds);
    // CPU time of both ends per MB: what the machine's load does not change much.
    const cpuMsPerMb = round(((cpu.user + cpu.system) / 1000 + after.cpuMs - before.cpuMs) / (received / 1e6));
    out.line({ case: 'peer-link-two-processes', metric: 'throughput', message_bytes: chunk.length, mib: megabytes, received_bytes: received, mb_per_s: mbps, cpu_ms_per_mb_both_ends: cpuMsPerMb });

    out.summary({
      connect_p50_ms: connectP50,
      latency_p50_ms: p50,
      latency_p99_ms: p99,
      mb_per_s: mbps,
      cpu_ms_per_mb_both_ends: cpuMsPerMb,
      streams_mb_per_s: streams.mbps,
      streams_cpu_ms_per_mb_both_ends: streams.cpuMsPerMb,
      ...smallSummary,
      loadavg_1m: round(loadavg()[0]!),
      baseline_werift_bare_one_process: {
        connect_p50_ms: base.connectP50,
        latency_p50_ms: base.p50,
        latency_p99_ms: base.p99,
        mb_per_s: base.mbps,
        cpu_ms_per_mb_both_ends: base.cpuMsPerMb,
      },
    });
  } finally {
    await link?.close();
    await child.stop();
  }
};

const median = (xs: number[]) => round(percentile(sortNum(xs), 0.5));
const cpuMsNow = () => {
  const cpu = process.cpuUsage();
  return (cpu.user + cpu.system) / 1000;
};

/**
 * 200-byte messages between this process and a child, over PeerLink with (`tuned`) or without
 * the loopback SCTP tuning. Per round: one at a time (each acknowledged before the next), groups
 * of 2 and of 10 back to back (the last of a group acknowledged), a burst of 10,000.
 */
async function smallMessages(out: BenchOutput, tuned: boolean, rounds: number, quick: boolean) {
  const config = tuned ? 'loopback-tuned' : 'default';
  const child = new PeerChildProcess('bob', 'alice', { sctpTuning: tuned });
  const link = new PeerLink({ localId: 'alice', remoteId: 'bob', loopbackOnly: true, sctpTuning: tuned, sendSignal: (s) => child.signal(s) });
  child.onSignal((s) => void link.handleSignal(s));
  const request = async <T>(channel: string, data = new Uint8Array(0)) => {
    const reply = nextEvent(link.onMessage, (m) => m.channel === channel, 60_000);
    await link.send(channel, data);
    return JSON.parse(new TextDecoder().decode((await reply).data)) as T;
  };
  const message = (ack: boolean) => {
    const data = new Uint8Array(200);
    new DataView(data.buffer).setBigUint64(0, process.hrtime.bigint());
    data[8] = ack ? 1 : 0;
    return data;
  };
  /**
   * Sends `groups` groups of `size` messages back to back (`spread`: two microtask hops before
   * each); one-way latencies (ms) and CPU µs per message, both ends.
   */
  const groupsOf = async (size: number, groups: number, spread = false) => {
    const before = await request<{ cpuMs: number }>('lat-report');
    const cpu0 = cpuMsNow();
    for (let g = 0; g < groups; g++) {
      const acked = nextEvent(link.onMessage, (m) => m.channel === 'lat-ack', 60_000);
      const sends: Promise<void>[] = [];
      for (let i = 0; i < size; i++) {
        if (spread) {
          await Promise.resolve();
          await Promise.resolve();
        }
        sends.push(link.send('lat', message(i === size - 1)));
      }
      await Promise.all(sends);
      await acked;
    }
    const cpu = cpuMsNow() - cpu0;
    const report = await request<{ latUs: number[]; cpuMs: number }>('lat-report');
    const lat = sortNum(report.latUs.map((us) => us / 1000));
    return { lat, cpuUs: round(((cpu + report.cpuMs - before.cpuMs) * 1000) / (size * groups)) };
  };
  const burst = async (count: number) => {
    await request('lat-report'); // drain
    const cpuChild0 = (await request<{ cpuMs: number }>('lat-report')).cpuMs;
    const done = nextEvent(link.onMessage, (m) => m.channel === 'burst-done', 120_000);
    const cpu0 = cpuMsNow();
    const t0 = performance.now();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const data = new Uint8Array(200);
      const view = new DataView(data.buffer);
      view.setUint32(0, i);
      view.setUint32(4, count);
      sends.push(link.send('burst', data));
    }
    await Promise.all(sends);
    const report = JSON.parse(new TextDecoder().decode((await done).data)) as { received: number; outOfOrder: number; cpuMs: number };
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuMsNow() - cpu0 + report.cpuMs - cpuChild0;
    if (report.received !== count || report.outOfOrder !== 0) throw new Error(`burst: ${report.received}/${count} arrived, ${report.outOfOrder} out of order`);
    return { rate: round(count / seconds), cpuUs: round((cpu * 1000) / count) };
  };
  const figures = {
    oneP50: [] as number[], oneP99: [] as number[], oneCpu: [] as number[], two50: [] as number[], two99: [] as number[], ten50: [] as number[], ten99: [] as number[],
    spread50: [] as number[], spread99: [] as number[], spreadCpu: [] as number[], rate: [] as number[], burstCpu: [] as number[],
  };
  try {
    await child.ready;
    await link.connect();
    await groupsOf(1, 100); // warm up (JIT, cwnd)
    const perRound = quick ? 200 : 300;
    const burstCount = 10_000;
    for (let r = 0; r < rounds; r++) {
      const one = await groupsOf(1, perRound);
      const two = await groupsOf(2, perRound / 2);
      const ten = await groupsOf(10, perRound / 10);
      const spread = await groupsOf(10, perRound / 10, true);
      const b = await burst(burstCount);
      const line = {
        case: `peer-link-small-${config}`, round: r + 1, message_bytes: 200,
        one_at_a_time_p50_ms: round(percentile(one.lat, 0.5)), one_at_a_time_p99_ms: round(percentile(one.lat, 0.99)), one_at_a_time_cpu_us_per_msg: one.cpuUs,
        back_to_back_2_p50_ms: round(percentile(two.lat, 0.5)), back_to_back_2_p99_ms: round(percentile(two.lat, 0.99)), back_to_back_2_cpu_us_per_msg: two.cpuUs,
        back_to_back_10_p50_ms: round(percentile(ten.lat, 0.5)), back_to_back_10_p99_ms: round(percentile(ten.lat, 0.99)), back_to_back_10_cpu_us_per_msg: ten.cpuUs,
        spread_10_p50_ms: round(percentile(spread.lat, 0.5)), spread_10_p99_ms: round(percentile(spread.lat, 0.99)), spread_10_cpu_us_per_msg: spread.cpuUs,
        burst_messages: burstCount, burst_msgs_per_s: b.rate, burst_cpu_us_per_msg: b.cpuUs,
        loadavg_1m: round(loadavg()[0]!),
      };
      out.line(line);
      figures.oneP50.push(line.one_at_a_time_p50_ms);
      figures.oneP99.push(line.one_at_a_time_p99_ms);
      figures.oneCpu.push(one.cpuUs);
      figures.two50.push(line.back_to_back_2_p50_ms);
      figures.two99.push(line.back_to_back_2_p99_ms);
      figures.ten50.push(line.back_to_back_10_p50_ms);
      figures.ten99.push(line.back_to_back_10_p99_ms);
      figures.spread50.push(line.spread_10_p50_ms);
      figures.spread99.push(line.spread_10_p99_ms);
      figures.spreadCpu.push(spread.cpuUs);
      figures.rate.push(b.rate);
      figures.burstCpu.push(b.cpuUs);
    }
  } finally {
    await link.close();
    await child.stop();
  }
  const result = {
    oneP50: median(figures.oneP50), oneP99: median(figures.oneP99), oneCpuUs: median(figures.oneCpu),
    two50: median(figures.two50), two99: median(figures.two99), ten50: median(figures.ten50), ten99: median(figures.ten99),
    spread50: median(figures.spread50), spread99: median(figures.spread99), spreadCpuUs: median(figures.spreadCpu),
    burstRate: median(figures.rate), burstCpuUs: median(figures.burstCpu),
  };
  out.line({ case: `peer-link-small-${config}`, medians_of_rounds: rounds, ...result, loadavg_1m: round(loadavg()[0]!) });
  return result;
}

/** Two PeerLinkManagers + PeerStreams in this process; one stream, awaited writes. */
async function streamThroughput(megabytes: number) {
  const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
  const relay = new InMemorySignalRelay();
  const ids = [0, 1].map((i) => userIdFromPublicKey(new Uint8Array(32).fill(i + 1)));
  const contact = (userId: UserId): Contact => ({ userId, name: '', verified: false, identityChanged: false, addedAt: 0 });
  const ends = ids.map((id, i) => {
    const other = ids[1 - i]!;
    const links: PeerLinkManager = new PeerLinkManager({ localId: id, sendSignal: (to, s) => send(to, s), link: { loopbackOnly: true } });
    const send = relay.attach(id, (from, signal) => links.handleSignal(from, signal));
    const streams = new PeerStreamsImpl({ links, contacts: { get: async (u) => (u === other ? contact(u) : undefined) }, logger: silent });
    return { links, streams };
  });
  const [a, b] = ends as [typeof ends[0], typeof ends[0]];
  try {
    const total = megabytes * 1024 * 1024;
    let got = 0;
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    b.streams.onStream('bench', (s) => s.onData((d) => {
      if ((got += d.length) >= total) resolveDone();
    }));
    const stream = await a.streams.open(ids[1]!, 'bench', { timeoutMs: 60_000 });
    const chunk = new Uint8Array(stream.maxWriteBytes).fill(7);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let sent = 0; sent < total; sent += chunk.length) await stream.write(chunk.subarray(0, Math.min(chunk.length, total - sent)));
    await done;
    const mbps = round(total / 1e6 / ((performance.now() - t0) / 1000));
    const cpu = process.cpuUsage(cpu0);
    await stream.close();
    return { writeBytes: chunk.length, mbps, cpuMsPerMb: round((cpu.user + cpu.system) / 1000 / (total / 1e6)) };
  } finally {
    for (const end of ends) {
      end.streams.dispose();
      await end.links.dispose();
    }
  }
}

async function baseline(connectRuns: number, pings: number, megabytes: number) {
  const config = { iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false, maxMessageSize: 262_144 };
  const connects: number[] = [];
  let pair: { a: RTCPeerConnection; b: RTCPeerConnection; da: RTCDataChannel; db: RTCDataChannel } | undefined;
  for (let i = 0; i < Math.max(3, Math.ceil(connectRuns / 4)); i++) {
    if (pair) await Promise.all([pair.a.close(), pair.b.close()]);
    const a = new RTCPeerConnection(config);
    const b = new RTCPeerConnection(config);
    const da = a.createDataChannel('kernel', { negotiated: true, id: 0 });
    const db = b.createDataChannel('kernel', { negotiated: true, id: 0 });
    a.onIceCandidate.subscribe((c) => c && void b.addIceCandidate(c.toJSON()).catch(() => {}));
    b.onIceCandidate.subscribe((c) => c && void a.addIceCandidate(c.toJSON()).catch(() => {}));
    const opened = Promise.all([da, db].map((dc) => new Promise<void>((r) => dc.stateChanged.subscribe((s) => s === 'open' && r()))));
    const t0 = performance.now();
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription!);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription!);
    await opened;
    connects.push(performance.now() - t0);
    pair = { a, b, da, db };
  }
  const { a, b, da, db } = pair!;
  db.onMessage.subscribe((m) => {
    if (typeof m !== 'string' && m.length === 64) db.send(m);
  });
  const latencies: number[] = [];
  const ping = Buffer.alloc(64);
  for (let i = 0; i < pings; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const sub = da.onMessage.subscribe(() => {
        sub.unSubscribe();
        resolve();
      });
      da.send(ping);
    });
    latencies.push((performance.now() - t0) / 2);
  }
  // Throughput with bufferedAmountLow backpressure, as PLATFORM-NOTES measured it.
  const chunk = Buffer.alloc(64 * 1024, 7);
  const total = megabytes * 1024 * 1024;
  let got = 0;
  const done = new Promise<void>((resolve) =>
    db.onMessage.subscribe((m) => {
      if (typeof m !== 'string' && m.length === chunk.length && (got += m.length) >= total) resolve();
    }),
  );
  da.bufferedAmountLowThreshold = 256 * 1024;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (da.bufferedAmount > 1024 * 1024) await new Promise<void>((r) => { const s = da.bufferedAmountLow.subscribe(() => { s.unSubscribe(); r(); }); });
    da.send(chunk);
  }
  await done;
  const mbps = round(total / 1e6 / ((performance.now() - t0) / 1000));
  const cpu = process.cpuUsage(cpu0);
  const cpuMsPerMb = round((cpu.user + cpu.system) / 1000 / (total / 1e6));
  await Promise.all([a.close(), b.close()]);
  const sorted = sortNum(latencies);
  return { connectP50: round(percentile(sortNum(connects), 0.5)), p50: round(percentile(sorted, 0.5)), p99: round(percentile(sorted, 0.99)), mbps, cpuMsPerMb };
}
