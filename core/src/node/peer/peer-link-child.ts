/*
 * A peer in its own process, for the two-process test and benchmark:
 *   node --import tsx core/src/node/peer/peer-link-child.ts <localId> <remoteId> [--untuned]
 * Signals travel as JSON lines, {"signal": …} both ways over stdin/stdout (the stand-in for the
 * encrypted signaling path); the child reports {"ready": true} once and {"state": …} lines too. Messages on channel
 * 'echo' come back unchanged; 'sink' is only counted; a message on 'sink-report' is answered
 * on 'sink-report' with JSON {bytes: 'sink' bytes so far, cpuMs: the child's CPU time so far}.
 * Small-message benchmark: a 'lat' message starts with the sender's process.hrtime (u64 ns,
 * CLOCK_MONOTONIC, shared by the processes of a host) and a flag byte at offset 8; the child
 * keeps the one-way latency and, when the flag is 1, answers on 'lat-ack'. 'lat-report' is
 * answered with JSON {latUs: one-way latencies since the last report, cpuMs}. 'burst' messages
 * carry u32 index and u32 count; after the last one the child answers 'burst-done' with JSON
 * {received, outOfOrder, cpuMs}. `--untuned`: the settings links use off loopback (no LOOPBACK_SCTP_TUNING).
 */
import { createInterface } from 'node:readline';
import { PeerLink } from './peer-link.ts';

const [localId, remoteId, flag] = process.argv.slice(2);
if (!localId || !remoteId) {
  process.stderr.write('usage: peer-link-child.ts <localId> <remoteId> [--untuned]\n');
  process.exit(2);
}

const write = (record: unknown) => process.stdout.write(`${JSON.stringify(record)}\n`);
let sinkBytes = 0;
let latencies: number[] = [];
let burstReceived = 0;
let burstOutOfOrder = 0;
const cpuMs = () => {
  const cpu = process.cpuUsage();
  return (cpu.user + cpu.system) / 1000;
};
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

// One link for the child's life: after the parent closes its end, the next offer starts a new
// session on it, so one child serves many sessions.
const link = new PeerLink({
  localId,
  remoteId,
  loopbackOnly: true,
  ...(flag === '--untuned' ? { sctpTuning: false } : {}),
  sendSignal: (signal) => void write({ signal }),
  keepaliveMs: 500,
  deadAfterMs: 3_000,
});
link.onDidChangeState((state) => write({ state }));
link.onError((error) => process.stderr.write(`child: ${error.code}: ${error.message}\n`));
link.onMessage(({ channel, data }) => {
  if (channel === 'echo') link.send('echo', data).catch(() => {});
  else if (channel === 'sink') sinkBytes += data.length;
  else if (channel === 'sink-report') link.send('sink-report', json({ bytes: sinkBytes, cpuMs: cpuMs() })).catch(() => {});
  else if (channel === 'lat' && data.length >= 9) {
    const view = new DataView(data.buffer, data.byteOffset, data.length);
    latencies.push(Number(process.hrtime.bigint() - view.getBigUint64(0)) / 1000);
    if (data[8] === 1) link.send('lat-ack', data.subarray(0, 9)).catch(() => {});
  } else if (channel === 'lat-report') {
    link.send('lat-report', json({ latUs: latencies, cpuMs: cpuMs() })).catch(() => {});
    latencies = [];
  } else if (channel === 'burst' && data.length >= 8) {
    const view = new DataView(data.buffer, data.byteOffset, data.length);
    const index = view.getUint32(0);
    const count = view.getUint32(4);
    if (index !== burstReceived) burstOutOfOrder++;
    burstReceived++;
    if (index === count - 1) {
      link.send('burst-done', json({ received: burstReceived, outOfOrder: burstOutOfOrder, cpuMs: cpuMs() })).catch(() => {});
      burstReceived = burstOutOfOrder = 0;
    }
  }
});

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let record: { signal?: unknown };
  try {
    record = JSON.parse(line) as { signal?: unknown };
  } catch {
    process.stderr.write('child: ignored a line that is not JSON\n');
    return;
  }
  void link.handleSignal(record.signal);
});
lines.on('close', () => void link.close().finally(() => process.exit(0)));
write({ ready: true });
