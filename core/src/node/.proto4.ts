import { RTCPeerConnection } from 'werift';
const cfg = { iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false, maxMessageSize: 0 } as any;
const a = new RTCPeerConnection(cfg), b = new RTCPeerConnection(cfg);
const da = a.createDataChannel('kernel', { negotiated: true, id: 0 });
const db = b.createDataChannel('kernel', { negotiated: true, id: 0 });
a.onIceCandidate.subscribe((c) => { if (c) b.addIceCandidate(c.toJSON()).catch(e=>console.log('b add', e.message)); });
b.onIceCandidate.subscribe((c) => { if (c) a.addIceCandidate(c.toJSON()).catch(e=>console.log('a add', e.message)); });
const offer = await a.createOffer(); await a.setLocalDescription(offer);
await b.setRemoteDescription(a.localDescription!);
const ans = await b.createAnswer(); await b.setLocalDescription(ans);
await a.setRemoteDescription(b.localDescription!);
await Promise.all([new Promise<void>(r => da.stateChanged.subscribe(s => s==='open' && r())), new Promise<void>(r => db.stateChanged.subscribe(s => s==='open' && r()))]);
const RB = Number(process.argv[4] ?? 0);
if (RB) for (const pc of [a, b]) for (const t of (pc as any).iceTransports) for (const p of t.connection.protocols) { const sock = p.transport?.socket; if (sock) { sock.setRecvBufferSize(RB); sock.setSendBufferSize(RB); } }
const N = 256, size = 65536; const hi = Number(process.argv[2] ?? 1<<20), lo = Number(process.argv[3] ?? 256*1024);
let got = 0; const t0 = performance.now();
const done = new Promise<void>(r => db.onMessage.subscribe((m) => { got += (m as Buffer).length; if (got === N*size) r(); }));
da.bufferedAmountLowThreshold = lo;
const buf = Buffer.alloc(size);
for (let i = 0; i < N; i++) {
  if (da.bufferedAmount > hi) await new Promise<void>(r => { const s = da.bufferedAmountLow.subscribe(() => { s.unSubscribe(); r(); }); });
  da.send(buf);
}
await done;
const ms = performance.now() - t0;
console.log('MB/s', (N*size/1e6)/(ms/1000));
const s: any = (a as any).sctpTransport.sctp;
console.log('cwnd', s.cwnd, 'ssthresh', s.ssthresh, 'rto', s.rto);
await a.close(); await b.close();
