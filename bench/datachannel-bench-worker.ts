/**
 * Receiving end for bench/datachannel.bench.ts, in its own process so that sender and receiver
 * do not share a CPU queue or a heap. Talks to the parent over the fork IPC channel:
 *   parent -> child  {t:'run', config, total}  {t:'offer', sdp}  {t:'candidate', candidate}  {t:'progress'}  {t:'close'}
 *   child -> parent  {t:'answer', sdp}  {t:'candidate', candidate}  {t:'progress', ...}  {t:'done', ...}  {t:'closed'}
 * Each message carries its index in its first 4 bytes; the child checks the order and hashes
 * everything it receives, so the parent can compare against what it sent.
 */
import { createHash } from 'node:crypto';
import { RTCPeerConnection, type RTCIceCandidate } from 'werift';

type FromParent =
  | { t: 'run'; config: Record<string, unknown>; total: number }
  | { t: 'offer'; sdp: { type: 'offer'; sdp: string } }
  | { t: 'candidate'; candidate: unknown }
  | { t: 'progress' }
  | { t: 'close' };

const send = (m: unknown) => process.send!(m);

let pc: RTCPeerConnection | undefined;
let pending: unknown[] | undefined = [];
let received = 0;

process.on('message', (raw) => {
  const m = raw as FromParent;
  void handle(m).catch((e: unknown) => {
    send({ t: 'error', message: String((e as Error)?.stack ?? e) });
  });
});

async function handle(m: FromParent) {
  switch (m.t) {
    case 'run': {
      pending = [];
      pc = new RTCPeerConnection(m.config as never);
      pc.onIceCandidate.subscribe((c: RTCIceCandidate | undefined) => {
        if (c) send({ t: 'candidate', candidate: c.toJSON() });
      });
      pc.onDataChannel.subscribe((dc) => {
        const hash = createHash('sha256');
        let bytes = 0;
        let next = 0;
        let inOrder = true;
        let cpu0: NodeJS.CpuUsage | undefined;
        let t0 = 0;
        dc.onMessage.subscribe((data) => {
          const buf = data as Buffer;
          if (!cpu0) {
            cpu0 = process.cpuUsage();
            t0 = performance.now();
          }
          if (buf.readUInt32BE(0) !== next) inOrder = false;
          next++;
          hash.update(buf);
          bytes += buf.length;
          received = bytes;
          if (bytes >= m.total) {
            const cpu = process.cpuUsage(cpu0);
            const wallMs = performance.now() - t0;
            send({
              t: 'done', bytes, messages: next, inOrder, sha256: hash.digest('hex'),
              cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 100),
            });
          }
        });
      });
      return;
    }
    case 'offer': {
      await pc!.setRemoteDescription(m.sdp);
      for (const c of pending ?? []) await pc!.addIceCandidate(c as never);
      pending = undefined;
      const answer = await pc!.createAnswer();
      await pc!.setLocalDescription(answer);
      send({ t: 'answer', sdp: { type: pc!.localDescription!.type, sdp: pc!.localDescription!.sdp } });
      return;
    }
    case 'candidate':
      // werift trickles before the other side has the offer: hold candidates until then.
      if (pending) pending.push(m.candidate);
      else await pc!.addIceCandidate(m.candidate as never);
      return;
    case 'progress':
      send({ t: 'progress', bytes: received, ice: pc?.iceConnectionState, sctp: pc?.sctpTransport?.sctp.state });
      return;
    case 'close':
      await pc?.close();
      pc = undefined;
      // Exit on our own (not by the parent's kill) so that --cpu-prof can write its profile.
      process.send!({ t: 'closed' }, () => process.exit(0));
      return;
  }
}
