/*
 * A peer in its own process, for the two-process test and benchmark:
 *   node --import tsx core/src/node/peer/peer-link-child.ts <localId> <remoteId>
 * Signals travel as JSON lines, {"signal": …} both ways over stdin/stdout (the stand-in for the
 * encrypted signaling path); the child reports {"ready": true} once and {"state": …} lines too. Messages on channel
 * 'echo' come back unchanged; 'sink' is only counted; a message on 'sink-report' is answered
 * on 'sink-report' with JSON {bytes: 'sink' bytes so far, cpuMs: the child's CPU time so far}.
 */
import { createInterface } from 'node:readline';
import { PeerLink } from './peer-link.ts';

const [localId, remoteId] = process.argv.slice(2);
if (!localId || !remoteId) {
  process.stderr.write('usage: peer-link-child.ts <localId> <remoteId>\n');
  process.exit(2);
}

const write = (record: unknown) => process.stdout.write(`${JSON.stringify(record)}\n`);
let sinkBytes = 0;

// One link for the child's life: after the parent closes its end, the next offer starts a new
// session on it, so one child serves many sessions.
const link = new PeerLink({
  localId,
  remoteId,
  loopbackOnly: true,
  sendSignal: (signal) => void write({ signal }),
  keepaliveMs: 500,
  deadAfterMs: 3_000,
});
link.onDidChangeState((state) => write({ state }));
link.onError((error) => process.stderr.write(`child: ${error.code}: ${error.message}\n`));
link.onMessage(({ channel, data }) => {
  if (channel === 'echo') link.send('echo', data).catch(() => {});
  else if (channel === 'sink') sinkBytes += data.length;
  else if (channel === 'sink-report') {
    const cpu = process.cpuUsage();
    const report = { bytes: sinkBytes, cpuMs: (cpu.user + cpu.system) / 1000 };
    link.send('sink-report', new TextEncoder().encode(JSON.stringify(report))).catch(() => {});
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
