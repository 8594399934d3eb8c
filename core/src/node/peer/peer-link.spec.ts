import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isAppError, nextEvent, type AppError } from '@discordopus/sdk';
import { PeerLink, type PeerLinkMessage, type PeerLinkOptions, type PeerLinkState } from './peer-link.ts';
import { InMemorySignalRelay } from './in-memory-signal-relay.ts';
import { sdpFingerprint } from './peer-signal.ts';
import { encodeChannelName, encodeFrame } from './peer-frame.ts';

const open: PeerLink[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
});

type Extra = Partial<Omit<PeerLinkOptions, 'localId' | 'remoteId' | 'sendSignal'>>;

function makeLink(relay: InMemorySignalRelay, localId: string, remoteId: string, extra: Extra = {}): PeerLink {
  // sendSignal runs only after connect() or a signal, by which time `send` exists.
  const link: PeerLink = new PeerLink({ localId, remoteId, loopbackOnly: true, sendSignal: (s) => send(remoteId, s), ...extra });
  const send = relay.attach(localId, (_from, signal) => link.handleSignal(signal));
  open.push(link);
  return link;
}

function pair(relay = new InMemorySignalRelay(), extra: Extra = {}, ids: [string, string] = ['alice', 'bob']) {
  return { a: makeLink(relay, ids[0], ids[1], extra), b: makeLink(relay, ids[1], ids[0], extra), relay };
}

function collect<T>(event: (l: (v: T) => void) => unknown): T[] {
  const seen: T[] = [];
  event((v) => seen.push(v));
  return seen;
}

/** Resolves once `count` messages arrived on `link`. */
function receive(link: PeerLink, count: number): Promise<PeerLinkMessage[]> {
  const got: PeerLinkMessage[] = [];
  return new Promise((resolve) => {
    const sub = link.onMessage((m) => {
      got.push(m);
      if (got.length === count) {
        sub.dispose();
        resolve(got);
      }
    });
  });
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function connected(a: PeerLink, b: PeerLink) {
  await Promise.all([a.connect(), b.connect()]);
}

describe('PeerLink', () => {
  it('connects and carries messages both ways on several logical channels, in order per channel', async () => {
    const { a, b } = pair();
    const statesA = collect<PeerLinkState>(a.onDidChangeState);
    await connected(a, b);
    expect(a.state).toBe('connected');
    expect(b.state).toBe('connected');
    expect(statesA).toEqual(['connecting', 'connected']);

    const channels = ['chat', 'files', 'receipts'];
    const perChannel = 200;
    const atB = receive(b, channels.length * perChannel);
    const atA = receive(a, channels.length * perChannel);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < perChannel; i++) {
      for (const channel of channels) {
        sends.push(a.send(channel, bytes(`${channel}:${i}`)));
        sends.push(b.send(channel, bytes(`${channel}:${i}`)));
      }
    }
    await Promise.all(sends);
    for (const got of [await atB, await atA]) {
      for (const channel of channels) {
        const order = got.filter((m) => m.channel === channel).map((m) => text(m.data));
        expect(order).toEqual(Array.from({ length: perChannel }, (_, i) => `${channel}:${i}`));
      }
    }
  });

  it('exposes the remote DTLS fingerprint that the remote SDP announced', async () => {
    const sdps = new Map<string, string>();
    const relay = new InMemorySignalRelay((from, _to, signal) => {
      if (signal.kind === 'offer' || signal.kind === 'answer') sdps.set(from, signal.sdp);
      return signal;
    });
    const { a, b } = pair(relay);
    expect(a.remoteFingerprint()).toBeUndefined();
    await connected(a, b);
    expect(a.remoteFingerprint()).toMatch(/^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(a.remoteFingerprint()).toBe(sdpFingerprint(sdps.get('bob')!));
    expect(b.remoteFingerprint()).toBe(sdpFingerprint(sdps.get('alice')!));
    // Each link has its own certificate (werift alone would share one per process).
    expect(a.remoteFingerprint()).not.toBe(b.remoteFingerprint());
    // Both ends accept frames bigger than werift's 64 KiB default.
    expect(sdps.get('bob')).toMatch(/^a=max-message-size:262144\r?$/m);
  });

  it('refuses the connection when the fingerprint in the SDP was altered (DTLS checks it)', async () => {
    const relay = new InMemorySignalRelay((_from, _to, signal) => {
      if (signal.kind !== 'answer') return signal;
      // A server in the middle would put its own certificate's fingerprint here.
      const forged = Array.from(randomBytes(32), (x) => x.toString(16).padStart(2, '0').toUpperCase()).join(':');
      return { ...signal, sdp: signal.sdp.replace(/^a=fingerprint:sha-256 .*$/m, `a=fingerprint:sha-256 ${forged}`) };
    });
    const { a, b } = pair(relay, { connectTimeoutMs: 20_000 });
    const errors = collect<AppError>(a.onError);
    const outcome = await a.connect().then(
      () => 'connected',
      (e: unknown) => e,
    );
    expect(isAppError(outcome, 'peer/dtls-failed')).toBe(true);
    expect(a.state).toBe('failed');
    expect(errors.some((e) => e.code === 'peer/dtls-failed')).toBe(true);
    expect(b.state).not.toBe('connected');
  }, 60_000);

  it('carries messages larger than a frame, and empty ones, intact', async () => {
    const { a, b } = pair();
    await connected(a, b);
    const big = randomBytes(3 * 1024 * 1024 + 17);
    const small = randomBytes(10);
    const got = receive(b, 4);
    await Promise.all([a.send('files', big), a.send('chat', small), a.send('chat', new Uint8Array(0)), a.send('files', big.subarray(0, 65536))]);
    const messages = await got;
    const files = messages.filter((m) => m.channel === 'files');
    const chat = messages.filter((m) => m.channel === 'chat');
    expect(files.map((m) => sha(m.data))).toEqual([sha(big), sha(big.subarray(0, 65536))]);
    expect(chat.map((m) => m.data.length)).toEqual([10, 0]);
    expect(sha(chat[0]!.data)).toBe(sha(small));
    // A small message on another channel is not held up behind the big one.
    expect(messages.findIndex((m) => m.channel === 'chat')).toBeLessThan(messages.findIndex((m) => m.channel === 'files'));
  }, 120_000);

  it('bounds what it hands to werift while many megabytes are queued (backpressure)', async () => {
    const { a, b } = pair();
    await connected(a, b);
    const chunk = randomBytes(256 * 1024);
    const count = 64; // 16 MiB
    let maxBuffered = 0;
    const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, a.bufferedAmount)), 5);
    let received = 0;
    let receivedBytes = 0;
    const done = new Promise<void>((resolve) =>
      b.onMessage((m) => {
        receivedBytes += m.data.length;
        if (++received === count) resolve();
      }),
    );
    try {
      await Promise.all(Array.from({ length: count }, () => a.send('files', chunk)));
      await done;
    } finally {
      clearInterval(sampler);
    }
    expect(receivedBytes).toBe(count * chunk.length);
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(1024 * 1024 + 128 * 1024);
  }, 120_000);

  it('reports malformed signals as errors, never throws, and still connects', async () => {
    const { a, b } = pair();
    const errors = collect<AppError>(b.onError);
    const junk: unknown[] = [
      undefined,
      null,
      'offer',
      42,
      {},
      { kind: 'offer' },
      { kind: 'offer', session: 'short', sdp: 'v=0' },
      { kind: 'answer', session: 'abcdefghij', sdp: 'x'.repeat(70_000) },
      { kind: 'candidate', session: 'abcdefghij', candidate: 7 },
      { kind: 'bye', session: 'abcdefghij', extra: true },
      { kind: 'teleport', session: 'abcdefghij' },
    ];
    for (const signal of junk) await expect(b.handleSignal(signal)).resolves.toBeUndefined();
    expect(errors).toHaveLength(junk.length);
    expect(errors.every((e) => e.code === 'peer/bad-signal')).toBe(true);
    // Well-formed but wrong for this end's role, or a broken SDP: reported, not thrown.
    await expect(a.handleSignal({ kind: 'offer', session: 'abcdefghij', sdp: 'v=0' })).resolves.toBeUndefined();
    await expect(b.handleSignal({ kind: 'offer', session: 'zzzzzzzzzz', sdp: 'not an sdp' })).resolves.toBeUndefined();
    await connected(a, b);
    expect(a.state).toBe('connected');
  });

  it('rejects bad send arguments as programmer errors and sends before connect as peer/not-connected', async () => {
    const { a } = pair();
    expect(() => a.send('', new Uint8Array(1))).toThrow(RangeError);
    expect(() => a.send('x'.repeat(256), new Uint8Array(1))).toThrow(RangeError);
    expect(() => a.send('chat', 'hello' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => a.send('chat', new Uint8Array(17 * 1024 * 1024))).toThrow(RangeError);
    await expect(a.send('chat', new Uint8Array(1))).rejects.toMatchObject({ code: 'peer/not-connected' });
    expect(() => new PeerLink({ localId: 'x', remoteId: 'x', sendSignal: () => {} })).toThrow(RangeError);
    expect(() => new PeerLink({ localId: 'x', remoteId: 'y', sendSignal: () => {}, connectTimeoutMs: -1 })).toThrow(RangeError);
    expect(() => new PeerLink({ localId: 'x', remoteId: 'y', sendSignal: () => {}, sctpTuning: 'yes' as unknown as boolean })).toThrow('PeerLink: sctpTuning must be a boolean');
  });

  it('reports peer/unreachable when no answer comes within the connect timeout', async () => {
    const relay = new InMemorySignalRelay(() => undefined); // the server drops everything
    const { a, b } = pair(relay, { connectTimeoutMs: 1_500 });
    const [ra, rb] = await Promise.allSettled([a.connect(), b.connect()]);
    for (const [r, link] of [[ra, a], [rb, b]] as const) {
      expect(r.status).toBe('rejected');
      const error = (r as PromiseRejectedResult).reason as AppError;
      expect(error.code).toBe('peer/unreachable');
      expect(error.message).toMatch(/TURN/);
      expect(link.state).toBe('failed');
    }
  });

  it('when the remote closes mid-send: disconnected, pending sends reject with an AppError, no crash', async () => {
    const { a, b } = pair();
    await connected(a, b);
    const gone = nextEvent(a.onDidChangeState, (s) => s === 'disconnected', 20_000);
    const chunk = randomBytes(512 * 1024);
    const sends = Array.from({ length: 40 }, () => a.send('files', chunk));
    // Close as soon as the first data arrives, so most of it is still queued at a.
    await nextEvent(b.onMessage, () => true, 20_000);
    await b.close();
    await gone;
    const results = await Promise.allSettled(sends);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect(['peer/remote-closed', 'peer/link-lost']).toContain((r.reason as AppError).code);
    await expect(a.send('chat', bytes('late'))).rejects.toMatchObject({ code: 'peer/not-connected' });
  });

  it('notices a remote that vanished without a bye (keepalive) and rejects pending sends', async () => {
    let dropAll = false;
    const relay = new InMemorySignalRelay((_f, _t, s) => (dropAll ? undefined : s));
    const { a, b } = pair(relay, { keepaliveMs: 300, deadAfterMs: 2_000 });
    await connected(a, b);
    dropAll = true; // no bye reaches a
    const gone = nextEvent(a.onDidChangeState, (s) => s === 'disconnected', 20_000);
    const pending = a.send('files', randomBytes(8 * 1024 * 1024));
    await b.close();
    await gone;
    await expect(pending).rejects.toSatisfy((e: unknown) => isAppError(e, 'peer/link-lost'));
  });

  it('reconnects with a new session after the link dropped', async () => {
    const { a, b, relay } = pair();
    await connected(a, b);
    const firstFingerprint = a.remoteFingerprint();
    const dropped = nextEvent(a.onDidChangeState, (s) => s === 'disconnected', 20_000);
    await b.close();
    await dropped;

    // b comes back (a restarted app: a new PeerLink); the answerer asks, the offerer offers.
    const b2 = makeLink(relay, 'bob', 'alice');
    const aBack = nextEvent(a.onDidChangeState, (s) => s === 'connected', 20_000);
    await b2.connect();
    await aBack;
    expect(a.remoteFingerprint()).not.toBe(firstFingerprint);
    const got = receive(b2, 1);
    await a.send('chat', bytes('again'));
    expect(text((await got)[0]!.data)).toBe('again');
  });

  it('either side may connect first, or both at once: one session results', async () => {
    const offers: string[] = [];
    const relay = new InMemorySignalRelay((_f, _t, s) => {
      if (s.kind === 'offer') offers.push(s.session);
      return s;
    });
    const { a, b } = pair(relay, {}, ['zed', 'amy']); // amy (b) offers
    expect(b.isOfferer).toBe(true);
    await connected(a, b);
    expect(offers).toHaveLength(1);
    const got = receive(a, 1);
    await b.send('chat', bytes('hi'));
    expect(text((await got)[0]!.data)).toBe('hi');
  });

  it('the answerer alone can open the link', async () => {
    const { a, b } = pair();
    expect(b.isOfferer).toBe(false);
    const aConnected = nextEvent(a.onDidChangeState, (s) => s === 'connected', 20_000);
    await b.connect();
    await aConnected;
    const got = receive(a, 1);
    await b.send('chat', bytes('from the answerer'));
    expect(text((await got)[0]!.data)).toBe('from the answerer');
  });

  it('reports malformed frames and oversized messages without dropping the link', async () => {
    const { a, b } = pair(undefined, { maxMessageBytes: 100_000 });
    await connected(a, b);
    const errors = collect<AppError>(b.onError);
    // Reach into the session only to inject bytes a broken peer could send.
    const dc = (a as unknown as { session: { dc: { send(d: Buffer | string): void } } }).session.dc;
    dc.send(Buffer.from([9, 9, 9]));
    dc.send('text frames are not ours');
    const got = receive(b, 1);
    const bigForB = new Uint8Array(150_000);
    // a's limit is the same, so a refuses to send it; forge the frames directly.
    const name = encodeChannelName('files');
    dc.send(encodeFrame([{ name, payload: bigForB.subarray(0, 60_000), more: true }]));
    dc.send(encodeFrame([{ name, payload: bigForB.subarray(60_000, 120_000), more: true }]));
    dc.send(encodeFrame([{ name, payload: bigForB.subarray(120_000), more: false }]));
    await a.send('chat', bytes('still fine'));
    expect(text((await got)[0]!.data)).toBe('still fine');
    expect(errors.map((e) => e.code)).toEqual(['peer/bad-frame', 'peer/bad-frame', 'peer/message-too-large']);
    expect(b.state).toBe('connected');
  });

  it('close() is final: connect and send reject with peer/link-closed, signals are ignored', async () => {
    const { a, b } = pair();
    await connected(a, b);
    await a.close();
    expect(a.state).toBe('closed');
    await expect(a.connect()).rejects.toMatchObject({ code: 'peer/link-closed' });
    await expect(a.send('chat', bytes('x'))).rejects.toMatchObject({ code: 'peer/link-closed' });
    await expect(a.handleSignal({ kind: 'restart' })).resolves.toBeUndefined();
    await a.close();
  });

  it('survives a hostile peer that sends data-channel control messages for unknown channels', async () => {
    const { a, b } = pair();
    await connected(a, b);
    const errors = collect(a.onError);
    // What werift on b would never send by itself: a DCEP ACK (ppid 50, type 2) on a stream a
    // never opened. Unguarded, werift throws it as an unhandled rejection on a's side.
    const sctp = (b as unknown as { session: { pc: { sctpTransport: { sctp: { send(id: number, ppid: number, data: Buffer): Promise<void> } } } } })
      .session.pc.sctpTransport.sctp;
    await sctp.send(999, 50, Buffer.from([2]));
    const error = await nextEvent(a.onError, (e) => e.code === 'peer/bad-frame', 20_000).catch(() => errors.find((e) => e.code === 'peer/bad-frame'));
    expect(error?.message).toMatch(/channel not found/);
    expect(a.state).toBe('connected');
    const got = receive(a, 1);
    await b.send('chat', bytes('still here'));
    expect(text((await got)[0]!.data)).toBe('still here');
  });

  it('gives each extra data channel of a session its own stream id, never reusing one', async () => {
    const { a, b } = pair();
    await connected(a, b);
    const ids = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const { channel } = a.createChannel(`c${i}`, 'test');
      await new Promise<void>((resolve) => channel.stateChanged.subscribe((state) => state === 'open' && resolve()));
      expect(ids.has(channel.id!)).toBe(false);
      expect(channel.id! % 2).toBe(ids.size === 0 ? channel.id! % 2 : [...ids][0]! % 2);
      expect(channel.id).not.toBe(0); // the kernel channel's
      ids.add(channel.id!);
      channel.close();
    }
    expect(() => new PeerLink({ localId: 'x', remoteId: 'y', sendSignal: () => {} }).createChannel('n', 'p')).toThrow(expect.objectContaining({ code: 'peer/not-connected' }));
  });

  it('runs loopback links with the werift patch tuning (16 KiB chunks, coalesced and bundled SACKs)', async () => {
    const { a, b } = pair();
    await connected(a, b);
    const sctp = association(a);
    expect(sctp.maxPayloadSize).toBe(16_356);
    expect(sctp.sackCoalescing).toBe(true);
    expect(sctp.sackBundling).toBe(true);
    const big = randomBytes(3 * 1024 * 1024 + 7);
    const got = receive(b, 1);
    await a.send('bulk', big);
    expect(createHash('sha256').update((await got)[0]!.data).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
  });

  it('off loopback keeps stock packet sizes but still coalesces SACKs and bundles them with DATA', async () => {
    const { a, b } = pair(new InMemorySignalRelay(), { sctpTuning: false });
    await connected(a, b);
    const sctp = association(a);
    expect(sctp.maxPayloadSize).toBe(1200);
    expect(sctp.sackCoalescing).toBe(true);
    expect(sctp.sackBundling).toBe(true);
    b.onMessage(({ channel, data }) => void b.send(`${channel}-echo`, data));
    for (let i = 0; i < 20; i++) {
      const echo = nextEvent(a.onMessage, (m) => m.channel === 'ping-echo', 20_000);
      await a.send('ping', bytes(`ping ${i}`));
      expect(text((await echo).data)).toBe(`ping ${i}`);
    }
    const big = randomBytes(256 * 1024 + 3);
    const echo = nextEvent(a.onMessage, (m) => m.channel === 'bulk-echo', 20_000);
    await a.send('bulk', big);
    expect(sha((await echo).data)).toBe(sha(big));
    // Replies carried the SACKs for the pings.
    expect(association(b).sacksBundled).toBeGreaterThan(10);
  });

  it('sends that follow the first frame of an event-loop turn share one frame, in order', async () => {
    const { a, b } = pair();
    await connected(a, b);
    const count = 10;
    // A handler that does some async work (microtasks, as a synchronous SQLite write in an
    // async function) before each reply: all the replies come from one event-loop turn.
    b.onMessage(async () => {
      for (let i = 0; i < count; i++) {
        await Promise.resolve();
        await Promise.resolve();
        void b.send('reply', bytes(`r${i}`));
      }
    });
    const replies = receive(a, count);
    const framesBefore = channelOf(b).messagesSent;
    await a.send('ask', bytes('go'));
    expect((await replies).map((m) => text(m.data))).toEqual(Array.from({ length: count }, (_, i) => `r${i}`));
    // The first reply leaves at once, the other nine together.
    expect(channelOf(b).messagesSent - framesBefore).toBeLessThanOrEqual(2);
  });
});

interface Internals {
  session: { dc: { messagesSent: number }; pc: { sctpTransport: { sctp: { maxPayloadSize?: number; sackCoalescing?: boolean; sackBundling?: boolean; sacksBundled?: number } } } };
}

/** The open session's SCTP association (werift internals; the patch's settings live there). */
function association(link: PeerLink) {
  return (link as unknown as Internals).session.pc.sctpTransport.sctp;
}

function channelOf(link: PeerLink) {
  return (link as unknown as Internals).session.dc;
}
