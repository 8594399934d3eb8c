import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { z } from 'zod';
import {
  SIGNALING_PROTOCOL_VERSION, SignalingErrorCodes, SignalingEvents, SignalingLimits, authChallengeMessage, authChallengeSchema, authResponseSchema, base64urlLength, envelopeResultSchema,
  nextEvent, prekeyUploadSchema, type EnvelopeResult, type PresenceUpdate, type SignalingErrorMessage,
} from '@discordopus/sdk';
import type { SignalingClient } from '../core/src/node/signaling/signaling-client.ts';
import { connectClient, eventually, makeIdentity, makeOneTimePrekeys, makeSignedPrekey, startServerProcess, type Identity, type ServerProcess } from './server-support.ts';

let server: ServerProcess;
const clients: SignalingClient[] = [];

beforeAll(async () => {
  server = await startServerProcess(['--max-subscriptions', '5', '--max-payload-bytes', '1024', '--max-stored-prekeys', '50', '--event-rate', '50', '--event-burst', '100']);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

async function client(identity?: Identity): Promise<SignalingClient> {
  const c = await connectClient(server.url, identity);
  clients.push(c);
  return c;
}

/** An authenticated raw socket, for sending what SignalingClient never would. */
async function rawAuthed(identity = makeIdentity()): Promise<{ socket: Socket; errors: SignalingErrorMessage[]; disconnected: Promise<string> }> {
  const socket = io(server.url, { transports: ['websocket'], reconnection: false });
  const errors: SignalingErrorMessage[] = [];
  socket.on(SignalingEvents.error, (e: SignalingErrorMessage) => errors.push(e));
  const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve));
  const challenge = authChallengeSchema.parse(await new Promise((resolve) => socket.once(SignalingEvents.challenge, resolve)));
  const origin = `ws://127.0.0.1:${server.port}`;
  const ok = await socket.emitWithAck(SignalingEvents.auth, z.encode(authResponseSchema, { publicKey: identity.publicKey, signature: identity.sign(authChallengeMessage(challenge.nonce, origin)), origin }));
  expect(ok).toMatchObject({ ok: true });
  return { socket, errors, disconnected };
}

describe('presence', () => {
  it('reports online/offline only for subscribed user IDs', async () => {
    const watcher = await client();
    const alice = makeIdentity();
    const bob = makeIdentity();
    const events: PresenceUpdate[] = [];
    watcher.onPresence((e) => events.push(e));
    expect(await watcher.subscribePresence([alice.userId])).toEqual([]);
    const aliceOnline = nextEvent(watcher.onPresence, (e) => e.userId === alice.userId && e.online, 10_000);
    const a = await connectClient(server.url, alice);
    const b = await connectClient(server.url, bob);
    await aliceOnline;
    const aliceOffline = nextEvent(watcher.onPresence, (e) => e.userId === alice.userId && !e.online, 10_000);
    a.close();
    await aliceOffline;
    // A fresh subscription sees the current state in its snapshot.
    expect(await watcher.subscribePresence([alice.userId, bob.userId])).toEqual([bob.userId]);
    b.close();
    await nextEvent(watcher.onPresence, (e) => e.userId === bob.userId && !e.online, 10_000);
    expect(events.every((e) => e.userId === alice.userId || e.userId === bob.userId)).toBe(true);
  });

  it('stays online while the user holds another connection', async () => {
    const watcher = await client();
    const alice = makeIdentity();
    const a1 = await client(alice);
    const a2 = await client(alice);
    expect(await watcher.subscribePresence([alice.userId])).toEqual([alice.userId]);
    a1.close();
    // A round trip through the server orders the close before the next request.
    expect(await watcher.subscribePresence([alice.userId])).toEqual([alice.userId]);
    a2.close();
    await nextEvent(watcher.onPresence, (e) => !e.online, 10_000);
  });

  it('caps the watch list with signaling/too-many-subscriptions', async () => {
    const watcher = await client();
    const ids = Array.from({ length: 6 }, () => makeIdentity().userId);
    await expect(watcher.subscribePresence(ids)).rejects.toMatchObject({ code: SignalingErrorCodes.tooManySubscriptions });
    expect(await watcher.subscribePresence(ids.slice(0, 5))).toEqual([]);
  });

  it('refuses malformed user IDs', async () => {
    const { socket } = await rawAuthed();
    for (const userIds of [['not-an-id'], 'x', [42], [makeIdentity().userId.toUpperCase()]]) {
      expect(await socket.emitWithAck(SignalingEvents.subscribe, { userIds })).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.invalidMessage } });
    }
    socket.close();
  });
});

describe('routing', () => {
  it('delivers to every live connection of the recipient and tells the sender', async () => {
    const bob = makeIdentity();
    const b1 = await client(bob);
    const b2 = await client(bob);
    const alice = await client();
    const payload = new Uint8Array(200).map((_, i) => i);
    const got = Promise.all([nextEvent(b1.onEnvelope, undefined, 10_000), nextEvent(b2.onEnvelope, undefined, 10_000)]);
    expect(await alice.send(bob.userId, payload)).toBe('delivered');
    for (const e of await got) {
      expect(e.from).toBe(alice.userId);
      expect(Buffer.from(e.payload).equals(Buffer.from(payload))).toBe(true);
    }
  });

  it('tells the sender when the recipient is offline and stores nothing', async () => {
    const alice = await client();
    const carol = makeIdentity();
    expect(await alice.send(carol.userId, new Uint8Array([1]))).toBe('offline');
    const c = await client(carol);
    let received = 0;
    c.onEnvelope(() => received++);
    // Nothing queued arrives later: a delivered envelope sent after connecting is the first one.
    const next = nextEvent(c.onEnvelope, undefined, 10_000);
    expect(await alice.send(carol.userId, new Uint8Array([2]))).toBe('delivered');
    expect([...(await next).payload]).toEqual([2]);
    expect(received).toBe(1);
  });

  it('refuses payloads over the configured cap with signaling/payload-too-large', async () => {
    const alice = await client();
    const bob = await client();
    await expect(alice.send(bob.userId, new Uint8Array(1025))).rejects.toMatchObject({ code: SignalingErrorCodes.payloadTooLarge });
    await expect(alice.send(bob.userId, new Uint8Array(SignalingLimits.maxPayloadBytes + 1))).rejects.toMatchObject({ code: SignalingErrorCodes.payloadTooLarge });
    expect(await alice.send(bob.userId, new Uint8Array(1024))).toBe('delivered');
    // Over the protocol maximum on the wire (still inside one frame): a clear error, not a drop.
    const { socket } = await rawAuthed();
    expect(await socket.emitWithAck(SignalingEvents.envelope, { to: bob.userId, payload: 'A'.repeat(base64urlLength(SignalingLimits.maxPayloadBytes) + 1) })).toMatchObject({
      ok: false, error: { code: SignalingErrorCodes.payloadTooLarge },
    });
    socket.close();
  });

  it('protocol 2: reports envelopes sent without an acknowledgement only when not delivered, in order before the next acknowledgement', async () => {
    const bob = await client();
    const { socket } = await rawAuthed();
    const results: EnvelopeResult[] = [];
    socket.on(SignalingEvents.envelopeResult, (message: unknown) => results.push(envelopeResultSchema.parse(message)));
    const offline = makeIdentity().userId;
    let delivered = 0;
    bob.onEnvelope(() => delivered++);
    socket.emit(SignalingEvents.envelope, { to: bob.userId, payload: 'AQ', seq: 1 });
    socket.emit(SignalingEvents.envelope, { to: offline, payload: 'Ag', seq: 2 });
    socket.emit(SignalingEvents.envelope, { to: 'x', payload: 'Aw', seq: 3 });
    socket.emit(SignalingEvents.envelope, { to: bob.userId, payload: 'A'.repeat(base64urlLength(1025)), seq: 4 });
    socket.emit(SignalingEvents.envelope, { to: bob.userId, payload: 'BA', seq: 4_294_967_295 });
    // The acknowledgement of the burst's last envelope comes after every earlier outcome.
    expect(await socket.emitWithAck(SignalingEvents.envelope, { to: bob.userId, payload: 'BQ' })).toEqual({ ok: true, status: 'delivered' });
    expect(results).toEqual([
      { seq: 2, ok: true, status: 'offline' },
      { seq: 3, ok: false, error: { code: SignalingErrorCodes.invalidMessage, message: expect.stringContaining('to') } },
      { seq: 4, ok: false, error: { code: SignalingErrorCodes.payloadTooLarge, message: expect.any(String) } },
    ]);
    await eventually(() => delivered === 3, 10_000, 'three deliveries');
    socket.close();
  });

  it('protocol 2: the client sends a burst under one acknowledgement and still learns each outcome', async () => {
    const bob = makeIdentity();
    const b = await client(bob);
    const alice = await client();
    const carol = makeIdentity().userId;
    const payloads: number[] = [];
    b.onEnvelope((e) => payloads.push(e.payload[0]!));
    const sends = Array.from({ length: 40 }, (_, i) => alice.send(i % 4 === 3 ? carol : bob.userId, new Uint8Array([i])));
    sends.push(alice.send(bob.userId, new Uint8Array(1025)));
    const outcomes = await Promise.allSettled(sends);
    expect(outcomes.slice(0, 40).map((o) => (o.status === 'fulfilled' ? o.value : 'rejected'))).toEqual(Array.from({ length: 40 }, (_, i) => (i % 4 === 3 ? 'offline' : 'delivered')));
    expect(outcomes[40]).toMatchObject({ status: 'rejected', reason: { code: SignalingErrorCodes.payloadTooLarge } });
    // In the order sent.
    await eventually(() => payloads.length === 30, 10_000, 'thirty deliveries');
    expect(payloads).toEqual(Array.from({ length: 40 }, (_, i) => i).filter((i) => i % 4 !== 3));
  });

  it('announces protocol 2 in the challenge', async () => {
    const socket = io(server.url, { transports: ['websocket'], reconnection: false });
    const challenge = authChallengeSchema.parse(await new Promise((resolve) => socket.once(SignalingEvents.challenge, resolve)));
    expect(challenge.protocol).toBe(SIGNALING_PROTOCOL_VERSION);
    expect(SIGNALING_PROTOCOL_VERSION).toBeGreaterThanOrEqual(2);
    socket.close();
  });

  it('rejects malformed envelopes', async () => {
    const { socket } = await rawAuthed();
    const to = makeIdentity().userId;
    for (const bad of [
      { to }, { to, payload: 'not base64!' }, { to, payload: 'abcde' }, { to, payload: new Uint8Array(1) }, { to: 'x', payload: 'AA' }, { to, payload: 'AA', extra: 1 }, [to], null,
      { to, payload: 'AA', seq: -1 }, { to, payload: 'AA', seq: 1.5 }, { to, payload: 'AA', seq: 2 ** 32 }, { to, payload: 'AA', seq: '1' },
    ]) {
      expect(await socket.emitWithAck(SignalingEvents.envelope, bad)).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.invalidMessage } });
    }
    socket.close();
  });
});

describe('prekey directory', () => {
  it('hands out one-time prekeys once each, then a bundle without one, and tells the owner its count', async () => {
    const bob = makeIdentity();
    const owner = await client(bob);
    expect(await owner.uploadPrekeys(makeSignedPrekey(bob, 7), makeOneTimePrekeys(100, 12))).toBe(12);
    const fetchers = await Promise.all([client(), client(), client()]);
    const low: number[] = [];
    owner.onPrekeysLow((e) => low.push(e.remaining));
    const bundles = await Promise.all(Array.from({ length: 15 }, (_, i) => fetchers[i % 3]!.fetchPrekeyBundle(bob.userId)));
    const ids = bundles.map((b) => b.oneTimePrekey?.keyId).filter((id) => id !== undefined);
    expect(ids.sort((a, b) => a - b)).toEqual(makeOneTimePrekeys(100, 12).map((k) => k.keyId));
    expect(bundles.filter((b) => !b.oneTimePrekey)).toHaveLength(3);
    for (const b of bundles) {
      expect(b.signedPrekey.keyId).toBe(7);
      expect(Buffer.from(b.identityKey).equals(Buffer.from(bob.publicKey))).toBe(true);
    }
    // The notices travel on the owner's socket, the bundles on the fetchers': either may come first.
    if (!low.includes(0)) await nextEvent(owner.onPrekeysLow, (e) => e.remaining === 0, 10_000);
    expect(low.every((n) => n <= SignalingLimits.prekeysLowThreshold)).toBe(true);
    // Replenishing works without resending the signed prekey.
    expect(await owner.uploadPrekeys(undefined, makeOneTimePrekeys(200, 5))).toBe(5);
    expect((await fetchers[0]!.fetchPrekeyBundle(bob.userId)).oneTimePrekey?.keyId).toBe(200);
  });

  it('refuses a signed prekey not signed by the uploader (no publishing for someone else)', async () => {
    const mallory = makeIdentity();
    const victim = makeIdentity();
    const m = await client(mallory);
    await expect(m.uploadPrekeys(makeSignedPrekey(victim, 1), [])).rejects.toMatchObject({ code: SignalingErrorCodes.badBundleSignature });
    const tampered = makeSignedPrekey(mallory, 1);
    await expect(m.uploadPrekeys({ ...tampered, keyId: 2 }, [])).rejects.toMatchObject({ code: SignalingErrorCodes.badBundleSignature });
    await expect(m.fetchPrekeyBundle(victim.userId)).rejects.toMatchObject({ code: SignalingErrorCodes.noBundle });
  });

  it('needs a signed prekey on the first upload and caps stored one-time prekeys', async () => {
    const alice = makeIdentity();
    const a = await client(alice);
    await expect(a.uploadPrekeys(undefined, makeOneTimePrekeys(1, 3))).rejects.toMatchObject({ code: SignalingErrorCodes.noBundle });
    expect(await a.uploadPrekeys(makeSignedPrekey(alice, 1), makeOneTimePrekeys(1, 50))).toBe(50);
    await expect(a.uploadPrekeys(undefined, makeOneTimePrekeys(60, 1))).rejects.toMatchObject({ code: SignalingErrorCodes.tooManyPrekeys });
  });

  it('rejects malformed uploads and fetches', async () => {
    const { socket } = await rawAuthed();
    const spk = { keyId: 1, publicKey: 'A'.repeat(43), signature: 'A'.repeat(86) };
    const tooMany = z.encode(prekeyUploadSchema.shape.oneTimePrekeys.element.array(), makeOneTimePrekeys(0, SignalingLimits.maxPrekeysPerUpload + 1));
    for (const bad of [{}, { oneTimePrekeys: 'x' }, { signedPrekey: { ...spk, keyId: -1 }, oneTimePrekeys: [] }, { signedPrekey: { ...spk, publicKey: 'A'.repeat(44) }, oneTimePrekeys: [] },
      { signedPrekey: { ...spk, publicKey: new Uint8Array(32) }, oneTimePrekeys: [] }, { signedPrekey: { ...spk, signature: '+'.repeat(86) }, oneTimePrekeys: [] },
      { oneTimePrekeys: tooMany }]) {
      expect(await socket.emitWithAck(SignalingEvents.uploadPrekeys, bad)).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.invalidMessage } });
    }
    for (const bad of [{}, { userId: 1 }, 'x', { userId: 'do1nope' }]) {
      expect(await socket.emitWithAck(SignalingEvents.fetchPrekeys, bad)).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.invalidMessage } });
    }
    socket.close();
  });
});

describe('hostile input', () => {
  it('answers unknown events, missing acks and extra arguments with errors and keeps serving', async () => {
    const { socket, errors } = await rawAuthed();
    expect(await socket.emitWithAck('admin:list-users', {})).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.unknownEvent } });
    expect(await socket.emitWithAck(SignalingEvents.envelope, { to: makeIdentity().userId, payload: 'AA' }, 'extra')).toMatchObject({
      ok: false, error: { code: SignalingErrorCodes.invalidMessage },
    });
    const errorArrived = new Promise((resolve) => socket.once(SignalingEvents.error, resolve));
    socket.emit('no-ack-here', 1);
    await errorArrived;
    expect(errors.at(-1)?.code).toBe(SignalingErrorCodes.unknownEvent);
    // Server-to-client event names sent to the server are unknown there.
    expect(await socket.emitWithAck(SignalingEvents.presence, {})).toMatchObject({ ok: false, error: { code: SignalingErrorCodes.unknownEvent } });
    expect(await socket.emitWithAck(SignalingEvents.subscribe, { userIds: [] })).toEqual({ ok: true, online: [] });
    socket.close();
  });

  it('protocol 2: names the envelope it rate-limits when it was sent without an acknowledgement', async () => {
    const { socket, errors } = await rawAuthed();
    const results: EnvelopeResult[] = [];
    socket.on(SignalingEvents.envelopeResult, (message: unknown) => results.push(envelopeResultSchema.parse(message)));
    const to = makeIdentity().userId;
    // To an offline user, so every envelope gets a result: `offline` or a refusal.
    for (let seq = 0; seq < 130; seq++) socket.emit(SignalingEvents.envelope, { to, payload: 'AA', seq });
    await eventually(() => results.length === 130, 20_000, 'a result per envelope');
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 130 }, (_, i) => i));
    expect(results.filter((r) => !r.ok && r.error.code === SignalingErrorCodes.rateLimited).length).toBeGreaterThan(0);
    expect(results.filter((r) => r.ok).length).toBeGreaterThanOrEqual(90);
    expect(errors).toEqual([]);
    socket.close();
  });

  it('rate-limits a flooding connection with signaling/rate-limited and then drops it', async () => {
    const { socket, disconnected } = await rawAuthed();
    const results = await Promise.all(Array.from({ length: 150 }, () => socket.timeout(20_000).emitWithAck(SignalingEvents.subscribe, { userIds: [] }).catch(() => ({ ok: false, error: { code: 'lost' } }))));
    const limited = results.filter((r) => !r.ok && r.error.code === SignalingErrorCodes.rateLimited);
    expect(limited.length).toBeGreaterThan(0);
    // The burst (100, one of it spent on auth) passes; the rest is refused until tokens refill.
    expect(results.filter((r) => r.ok).length).toBeGreaterThanOrEqual(90);
    // Keep flooding without acks: strikes run out and the server closes the connection.
    for (let i = 0; i < 400; i++) socket.emit('flood', i);
    expect(await disconnected).toBe('io server disconnect');
  });
});
