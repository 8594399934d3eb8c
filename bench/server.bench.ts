/**
 * `npm run bench -- server`: the signaling server against a bare socket.io relay (no auth, no
 * validation) measured in the same run.
 *   (a) 10,000 authenticated idle connections held by one process: server RSS per connection
 *   (b) relay throughput of 200-byte envelopes A -> server -> B (ours sending bursts under one
 *       acknowledgement, as SignalingClient does with protocol 2), and ping-pong latency at
 *       5,000 envelopes/s: 2,500 pings/s on a fixed schedule, each echoed by another process,
 *       each round trip (two relays) one sample
 * Servers and clients run in separate processes (bench/server-bench-worker.ts). Needs
 * `ulimit -n` above ~11,000 (checked below).
 */
import { spawn, execSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchOutput } from './run.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const worker = path.join(root, 'bench/server-bench-worker.ts');
const CONNS = Number(process.env.BENCH_SERVER_CONNS ?? 10_000);
const CONN_WORKERS = 4;
const RELAY_SECONDS = 4;
/** Pings per second; each is echoed, so the server relays twice as many envelopes. */
const LATENCY_PINGS = 2_500;
const LATENCY_SECONDS = 3;
const ROUNDS = Number(process.env.BENCH_SERVER_ROUNDS ?? 2);
const RELAY_PAIRS = 2;

interface Child {
  proc: ChildProcess;
  lines: AsyncIterator<Record<string, unknown>>;
}

function start(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  async function* read(): AsyncGenerator<Record<string, unknown>> {
    let buffered = '';
    for await (const chunk of proc.stdout!) {
      buffered += String(chunk);
      let at: number;
      while ((at = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, at);
        buffered = buffered.slice(at + 1);
        try {
          yield JSON.parse(line) as Record<string, unknown>;
        } catch {
          // not JSON
        }
      }
    }
  }
  return { proc, lines: read() };
}

async function until(child: Child, test: (r: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (;;) {
    const { value, done } = await child.lines.next();
    if (done) throw new Error(`child exited (code ${child.proc.exitCode}) before the expected output`);
    if (test(value)) return value;
  }
}

/** CPU time (user + system) a process has used so far, in microseconds. */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticksPerSecond = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

async function stop(child: Child): Promise<void> {
  if (child.proc.exitCode !== null) return;
  const exited = new Promise((resolve) => child.proc.once('exit', resolve));
  child.proc.kill('SIGKILL');
  await exited;
}

const LIFTED = [
  '--max-connections-per-ip', '100000', '--connection-rate-per-ip', '100000', '--connection-burst-per-ip', '100000',
  '--max-pending-auth', '100000', '--max-pending-auth-per-ip', '100000', '--event-rate', '10000000', '--event-burst', '10000000',
  '--ip-event-rate', '10000000', '--ip-event-burst', '10000000', '--auth-timeout-ms', '60000',
];

async function startOurs(): Promise<{ child: Child; url: string }> {
  const child = start(['server/src/cli.ts', '--port', '0', ...LIFTED]);
  const listening = await until(child, (r) => r.msg === 'listening');
  return { child, url: String(listening.url) };
}

async function startBare(): Promise<{ child: Child; url: string }> {
  const child = start([worker, 'bare-server']);
  const { url } = await until(child, (r) => typeof r.url === 'string');
  return { child, url: String(url) };
}

async function measureConns(kind: 'auth' | 'bare64'): Promise<{ conns: number; rss_kb_per_conn: number; rss_mb: number }> {
  const server = kind === 'auth' ? await startOurs() : await startBare();
  try {
    // Warm up the code paths (and JIT) with a few connections before the baseline reading.
    const warm = start([worker, 'conns', server.url, '50', kind]);
    await until(warm, (r) => r.ready !== undefined);
    await stop(warm);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const before = rssKb(server.child.proc.pid!);
    const per = Math.ceil(CONNS / CONN_WORKERS);
    const workers = Array.from({ length: CONN_WORKERS }, () => start([worker, 'conns', server.url, String(per), kind]));
    const ready = await Promise.all(workers.map((w) => until(w, (r) => r.ready !== undefined)));
    const conns = ready.reduce((n, r) => n + Number(r.ready), 0);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const after = rssKb(server.child.proc.pid!);
    await Promise.all(workers.map(stop));
    return { conns, rss_kb_per_conn: Number(((after - before) / conns).toFixed(2)), rss_mb: Math.round(after / 1024) };
  } finally {
    await stop(server.child);
  }
}

type Kind = 'auth' | 'bare' | 'bare64';
interface Relay {
  relay_per_s: number;
  server_cpu_us_per_envelope: number;
  p50_ms: number | null;
  p99_ms: number | null;
  latency_samples: number;
}

/**
 * One round for every kind of server, each server in its own process: throughput with
 * RELAY_PAIRS client processes and the server's CPU time per relayed envelope, every kind back to
 * back (so that the ratio sees the same load from the rest of the machine), then latency at a
 * fixed rate.
 */
async function relayRound(kinds: Kind[]): Promise<Record<Kind, Relay>> {
  const servers = new Map<Kind, { child: Child; url: string }>();
  try {
    for (const kind of kinds) servers.set(kind, kind === 'auth' ? await startOurs() : await startBare());
    const out = {} as Record<Kind, Relay>;
    for (const kind of kinds) {
      const server = servers.get(kind)!;
      const pid = server.child.proc.pid!;
      // Several sender/receiver pairs in their own processes, so that the server saturates.
      const relayers = Array.from({ length: RELAY_PAIRS }, () => start([worker, 'relay', server.url, kind, String(RELAY_SECONDS)]));
      await Promise.all(relayers.map((r) => until(r, (x) => x.measuring === true)));
      const cpuBefore = cpuMicros(pid);
      const results = await Promise.all(relayers.map((r) => until(r, (x) => x.relay_per_s !== undefined)));
      const relayed = results.reduce((n, r) => n + Number(r.relayed), 0);
      const cpuPerEnvelope = (cpuMicros(pid) - cpuBefore) / Math.max(1, relayed);
      out[kind] = {
        relay_per_s: results.reduce((n, r) => n + Number(r.relay_per_s), 0), server_cpu_us_per_envelope: Number(cpuPerEnvelope.toFixed(2)),
        p50_ms: null, p99_ms: null, latency_samples: 0,
      };
    }
    // Latency only where it is compared: ours and the text baseline.
    for (const kind of kinds.filter((k) => k !== 'bare')) {
      const server = servers.get(kind)!;
      const echo = start([worker, 'echo', server.url, kind]);
      const { address } = await until(echo, (r) => typeof r.address === 'string');
      const latency = await until(start([worker, 'latency', server.url, kind, String(LATENCY_PINGS), String(LATENCY_SECONDS), String(address)]), (r) => r.p50_ms !== undefined);
      await stop(echo);
      Object.assign(out[kind], { p50_ms: latency.p50_ms as number | null, p99_ms: latency.p99_ms as number | null, latency_samples: Number(latency.samples) });
    }
    return out;
  } finally {
    await Promise.all([...servers.values()].map((server) => stop(server.child)));
  }
}

export default async function serverBench(out: BenchOutput): Promise<void> {
  const limit = Number(execSync('ulimit -n', { shell: '/bin/bash' }).toString().trim());
  if (limit < CONNS + 1000) out.line({ warning: `ulimit -n is ${limit}; raise it (ulimit -n 65536) to hold ${CONNS} connections` });

  // Keep each server's best round: other processes on the machine only ever slow a round down.
  const lower = (x: number | null | undefined, y: number | null) => (x == null ? y : y == null ? x : Math.min(x, y));
  const best = (a: Relay | undefined, b: Relay): Relay => ({
    relay_per_s: Math.max(a?.relay_per_s ?? 0, b.relay_per_s),
    server_cpu_us_per_envelope: Math.min(a?.server_cpu_us_per_envelope ?? Infinity, b.server_cpu_us_per_envelope), p50_ms: lower(a?.p50_ms, b.p50_ms), p99_ms: lower(a?.p99_ms, b.p99_ms),
    latency_samples: Math.max(a?.latency_samples ?? 0, b.latency_samples),
  });
  // The ratio compares rounds measured back to back, summed over rounds.
  let oursTotal = 0;
  let bareTotal = 0;
  let bareRelay: Relay | undefined;
  let relay: Relay | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    const results = await relayRound(['bare64', 'auth', 'bare']);
    out.line({ part: 'relay', round, server: 'bare socket.io (base64url payloads, the baseline)', ...results.bare64 });
    // The same bare relay with binary attachments: why the protocol carries payloads as text.
    out.line({ part: 'relay', round, server: 'bare socket.io (binary attachments)', ...results.bare });
    out.line({ part: 'relay', round, server: 'discordopus', ...results.auth });
    bareRelay = best(bareRelay, results.bare64);
    relay = best(relay, results.auth);
    oursTotal += results.auth.relay_per_s;
    bareTotal += results.bare64.relay_per_s;
  }
  if (!bareRelay || !relay) throw new Error('no relay rounds');

  const bareConns = await measureConns('bare64');
  out.line({ part: 'connections', server: 'bare socket.io', ...bareConns });
  const conns = await measureConns('auth');
  out.line({ part: 'connections', server: 'discordopus (authenticated)', ...conns });

  out.summary({
    conns: conns.conns,
    rss_kb_per_conn: conns.rss_kb_per_conn,
    baseline_rss_kb_per_conn: bareConns.rss_kb_per_conn,
    relay_per_s: relay.relay_per_s,
    baseline_relay_per_s: bareRelay.relay_per_s,
    ratio: Number((oursTotal / bareTotal).toFixed(3)),
    server_cpu_us_per_envelope: relay.server_cpu_us_per_envelope,
    baseline_server_cpu_us_per_envelope: bareRelay.server_cpu_us_per_envelope,
    cpu_ratio: Number((bareRelay.server_cpu_us_per_envelope / relay.server_cpu_us_per_envelope).toFixed(3)),
    p50_ms: relay.p50_ms,
    p99_ms: relay.p99_ms,
    baseline_p50_ms: bareRelay.p50_ms,
    baseline_p99_ms: bareRelay.p99_ms,
    latency_envelopes_per_s: 2 * LATENCY_PINGS,
  });
}
