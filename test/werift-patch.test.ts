/**
 * patches/werift+0.24.4.patch (docs/werift-tuning.md): the opt-in SCTP tuning of werift keeps
 * data intact and in order, recovers lost datagrams, interoperates with stock werift, leaves
 * the defaults alone, and rejects bad settings. Real werift on 127.0.0.1, through a small UDP
 * proxy that drops DTLS application-data datagrams on a fixed pattern.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { RTCPeerConnection, type RTCDataChannel } from 'werift';
import { TUNED_DATACHANNEL_CONFIG } from '../bench/datachannel-tuned-config.ts';

const LOOPBACK = { iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false };
const TUNED = { ...LOOPBACK, ...TUNED_DATACHANNEL_CONFIG };
const STOCK = { ...LOOPBACK };
const DTLS_APPLICATION_DATA = 23;

/**
 * Two UDP sockets between the peers: A talks to `towardA`, B to `towardB`. Every `dropEvery`-th
 * DTLS application-data datagram in each direction is dropped (handshakes pass untouched, so
 * only SCTP's own recovery is exercised).
 */
class LossyUdpProxy {
  readonly towardA = createSocket('udp4');
  readonly towardB = createSocket('udp4');
  realA?: { address: string; port: number };
  realB?: { address: string; port: number };
  dropped = { aToB: 0, bToA: 0 };
  forwarded = { aToB: 0, bToA: 0 };
  private seen = { aToB: 0, bToA: 0 };

  constructor(private readonly dropEvery: number) {
    this.towardA.on('message', (msg, from) => this.relay(msg, from, 'aToB'));
    this.towardB.on('message', (msg, from) => this.relay(msg, from, 'bToA'));
  }

  async start() {
    await Promise.all([this.towardA, this.towardB].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
  }

  portFacing(side: 'A' | 'B') {
    return (side === 'A' ? this.towardA : this.towardB).address().port;
  }

  private relay(msg: Buffer, _from: RemoteInfo, dir: 'aToB' | 'bToA') {
    const to = dir === 'aToB' ? this.realB : this.realA;
    if (!to) return;
    if (msg[0] === DTLS_APPLICATION_DATA && ++this.seen[dir] % this.dropEvery === 0) {
      this.dropped[dir]++;
      return;
    }
    this.forwarded[dir]++;
    (dir === 'aToB' ? this.towardB : this.towardA).send(msg, to.port, to.address);
  }

  close() {
    for (const s of [this.towardA, this.towardB]) s.close();
  }
}

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

/** A and B connected only through the proxy: each gets the other's loopback host candidate rewritten to the proxy. */
async function connectThroughProxy(configA: object, configB: object, proxy: LossyUdpProxy) {
  const a = new RTCPeerConnection(configA as never);
  const b = new RTCPeerConnection(configB as never);
  open.push(a, b);
  // werift gathers before setLocalDescription resolves, so the SDP carries every candidate: keep
  // only the loopback host one (no direct path may bypass the proxy) and point it at the proxy.
  const viaProxy = (sdp: string, side: 'A' | 'B') => sdp.split('\r\n').flatMap((line) => {
    if (!line.startsWith('a=candidate:')) return [line];
    const parts = line.split(' ');
    if (parts[4] !== '127.0.0.1' || parts[7] !== 'host') return [];
    if (side === 'A') proxy.realA = { address: '127.0.0.1', port: Number(parts[5]) };
    else proxy.realB = { address: '127.0.0.1', port: Number(parts[5]) };
    parts[5] = String(proxy.portFacing(side === 'A' ? 'B' : 'A'));
    return [parts.join(' ')];
  }).join('\r\n');

  const dcA = a.createDataChannel('data');
  const dcBPromise = new Promise<RTCDataChannel>((resolve) => b.onDataChannel.subscribe(resolve));
  const openA = new Promise<void>((resolve) => dcA.stateChanged.subscribe((s) => s === 'open' && resolve()));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription({ type: 'offer', sdp: viaProxy(a.localDescription!.sdp, 'A') });
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription({ type: 'answer', sdp: viaProxy(b.localDescription!.sdp, 'B') });
  await openA;
  const dcB = await dcBPromise;
  if (dcB.readyState !== 'open') await new Promise<void>((resolve) => dcB.stateChanged.subscribe((s) => s === 'open' && resolve()));
  return { a, b, dcA, dcB };
}

/** Sends `count` messages of `size` bytes with bufferedamountlow backpressure; resolves with what the far end saw. */
async function transfer(from: RTCDataChannel, to: RTCDataChannel, count: number, size: number) {
  const sent = createHash('sha256');
  const received = createHash('sha256');
  let next = 0;
  let inOrder = true;
  const done = new Promise<void>((resolve) => {
    to.onMessage.subscribe((data) => {
      const buf = data as Buffer;
      if (buf.readUInt32BE(0) !== next) inOrder = false;
      next++;
      received.update(buf);
      if (next === count) resolve();
    });
  });
  from.bufferedAmountLowThreshold = 128 * 1024;
  for (let i = 0; i < count; i++) {
    if (from.bufferedAmount > 512 * 1024) await new Promise<void>((resolve) => from.bufferedAmountLow.once(() => resolve()));
    const msg = randomBytes(size);
    msg.writeUInt32BE(i, 0);
    sent.update(msg);
    from.send(msg);
  }
  await done;
  return { inOrder, messages: next, intact: sent.digest('hex') === received.digest('hex') };
}

/** The association's internals, reached the way the patch's docs describe (pc.sctpTransport.sctp). */
function association(pc: RTCPeerConnection) {
  return (pc.sctpTransport as unknown as { sctp: Record<string, any> }).sctp;
}

/** Nothing left queued or held for reassembly, and all receive-window credit returned. */
function expectDrained(pc: RTCPeerConnection, window: number) {
  const sctp = association(pc);
  expect(sctp.outboundQueue.length).toBe(0);
  expect(sctp.sentQueue.length).toBe(0);
  for (const stream of Object.values(sctp.inboundStreams) as Array<{ reassembly: unknown[] }>) expect(stream.reassembly.length).toBe(0);
  expect(sctp.advertisedRwnd).toBe(window);
}

/** Waits until the sender has every chunk acknowledged (the last SACK may still be on its way). */
async function acknowledged(pc: RTCPeerConnection) {
  const sctp = association(pc);
  while (sctp.sentQueue.length > 0 || sctp.outboundQueue.length > 0) await new Promise((r) => setTimeout(r, 20));
}

describe('werift patch: tuned SCTP', () => {
  it('applies the tuning to the association only when asked, in both the ESM and CJS builds', async () => {
    const require = createRequire(import.meta.url);
    const cjs = require('werift') as typeof import('werift');
    for (const Pc of [RTCPeerConnection, cjs.RTCPeerConnection]) {
      const stock = new Pc(STOCK);
      const tuned = new Pc(TUNED as never);
      open.push(stock, tuned);
      stock.createDataChannel('x');
      tuned.createDataChannel('x');
      expect(association(stock)).toMatchObject({ maxPayloadSize: 1200, sackCoalescing: false, sackBundling: false, maxBurst: 4, advertisedRwnd: 1024 * 1024 });
      expect(association(tuned)).toMatchObject({
        maxPayloadSize: TUNED.sctp.maxPayloadSize,
        sackCoalescing: true,
        sackBundling: true,
        advertisedRwnd: TUNED.sctp.receiveWindow,
      });
    }
  });

  it.each([
    [{ maxPayloadSize: 100 }, RangeError, /sctp.maxPayloadSize: expected 256\.\.16356/],
    [{ maxPayloadSize: 20000 }, RangeError, /sctp.maxPayloadSize/],
    [{ maxPayloadSize: 1.5 }, TypeError, /sctp.maxPayloadSize: expected an integer/],
    [{ receiveWindow: 1000 }, RangeError, /sctp.receiveWindow/],
    [{ maxBurst: 0 }, RangeError, /sctp.maxBurst/],
    [{ initialCwnd: -1 }, RangeError, /sctp.initialCwnd/],
    [{ sackCoalescing: 'yes' }, TypeError, /sctp.sackCoalescing: expected a boolean/],
    [{ sackBundling: 1 }, TypeError, /sctp.sackBundling: expected a boolean/],
    ['fast', TypeError, /sctp: expected an options object/],
  ])('rejects sctp %j', (sctp, type, message) => {
    const require = createRequire(import.meta.url);
    const cjs = require('werift') as typeof import('werift');
    for (const Pc of [RTCPeerConnection, cjs.RTCPeerConnection]) {
      expect(() => new Pc({ ...STOCK, sctp } as never)).toThrow(type);
      expect(() => new Pc({ ...STOCK, sctp } as never)).toThrow(message);
    }
  });

  it('rejects a bad UDP socket buffer size', () => {
    expect(() => new RTCPeerConnection({ ...STOCK, iceUdpSocketBufferSize: -5 } as never)).toThrow(RangeError);
    expect(() => new RTCPeerConnection({ ...STOCK, iceUdpSocketBufferSize: 'big' } as never)).toThrow(TypeError);
  });

  it('delivers everything intact and in order through a lossy path (tuned both ends)', async () => {
    const proxy = new LossyUdpProxy(25);
    open.push(proxy);
    await proxy.start();
    const { a, b, dcA, dcB } = await connectThroughProxy(TUNED, TUNED, proxy);
    const there = await transfer(dcA, dcB, 96, 64 * 1024);
    const back = await transfer(dcB, dcA, 32, 16 * 1024);
    expect(there).toEqual({ inOrder: true, messages: 96, intact: true });
    expect(back).toEqual({ inOrder: true, messages: 32, intact: true });
    expect(proxy.dropped.aToB).toBeGreaterThan(3);
    expect(proxy.dropped.bToA).toBeGreaterThan(0);
    await acknowledged(a);
    await acknowledged(b);
    expectDrained(a, TUNED.sctp.receiveWindow);
    expectDrained(b, TUNED.sctp.receiveWindow);
  }, 120_000);

  it('still recovers losses with stock settings (the patch leaves them alone)', async () => {
    const proxy = new LossyUdpProxy(40);
    open.push(proxy);
    await proxy.start();
    const { a, b, dcA, dcB } = await connectThroughProxy(STOCK, STOCK, proxy);
    expect(await transfer(dcA, dcB, 24, 64 * 1024)).toEqual({ inOrder: true, messages: 24, intact: true });
    expect(proxy.dropped.aToB).toBeGreaterThan(3);
    await acknowledged(a);
    expectDrained(b, 1024 * 1024);
  }, 120_000);

  it('carries the owed SACK inside DATA going the other way: a request/response exchange takes 2 packets, not 4', async () => {
    const exchanges = 100;
    const packets = async (config: object) => {
      const proxy = new LossyUdpProxy(Number.MAX_SAFE_INTEGER);
      open.push(proxy);
      await proxy.start();
      const { a, dcA, dcB } = await connectThroughProxy(config, config, proxy);
      dcB.onMessage.subscribe((data) => dcB.send(data as Buffer));
      const before = proxy.forwarded.aToB + proxy.forwarded.bToA;
      for (let i = 0; i < exchanges; i++) {
        const ping = Buffer.alloc(200, i);
        const pong = await new Promise<Buffer>((resolve) => {
          const sub = dcA.onMessage.subscribe((data) => {
            sub.unSubscribe();
            resolve(data as Buffer);
          });
          dcA.send(ping);
        });
        expect(pong.equals(ping)).toBe(true);
      }
      await acknowledged(a);
      return { packets: proxy.forwarded.aToB + proxy.forwarded.bToA - before, bundled: association(a).sacksBundled as number | undefined };
    };
    const stock = await packets(STOCK);
    const bundled = await packets({ ...LOOPBACK, sctp: { sackCoalescing: true, sackBundling: true } });
    expect(stock.packets).toBeGreaterThanOrEqual(exchanges * 4);
    expect(stock.bundled ?? 0).toBe(0);
    // 2 per exchange, plus a few lone SACKs when a reply did not leave in the same turn.
    expect(bundled.packets).toBeLessThanOrEqual(exchanges * 2.5);
    expect(bundled.bundled).toBeGreaterThanOrEqual(exchanges * 0.8);
  }, 120_000);

  it('interoperates with a stock werift peer in both directions', async () => {
    const proxy = new LossyUdpProxy(30);
    open.push(proxy);
    await proxy.start();
    const { a, dcA, dcB } = await connectThroughProxy(TUNED, STOCK, proxy);
    expect(await transfer(dcA, dcB, 32, 64 * 1024)).toEqual({ inOrder: true, messages: 32, intact: true });
    expect(await transfer(dcB, dcA, 32, 64 * 1024)).toEqual({ inOrder: true, messages: 32, intact: true });
    expect(proxy.dropped.aToB + proxy.dropped.bToA).toBeGreaterThan(2);
    await acknowledged(a);
  }, 120_000);
});

