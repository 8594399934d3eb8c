import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SecureChannels, SignalingEvents, isAppError, nextEvent, signalingOrigin, signedPrekeyMessage, userIdFromPublicKey,
  type PeerMessage, type UserId,
} from '@discordopus/sdk';
import { createSignalingServer, type SignalingServer } from '../server/src/index.ts';
import { createClient, type DiscordOpusClient } from '../core/src/node/client/create-client.ts';
import { TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import type { SecureChannelsImpl } from '../core/src/node/channels/secure-channels-impl.ts';
import { HostileRelay, RecordingLogger, type Delivery } from './channels-support.ts';
import { until as waitUntil } from './support/until.ts';

const crypto = new NodeCryptoProvider();
const temp = tempDir('discordopus-channels-');
const logger = new RecordingLogger();
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const CHANNEL = 'test/chat';

/** Every plaintext sent in this file carries this marker, so the relay's capture can be searched for it. */
const MARK = 'PLAINTEXT-7f3a';
const text = (s: string) => `${MARK} ${s}`;

let relay: HostileRelay;
let server: SignalingServer;
const clients = new Set<DiscordOpusClient>();

interface Peer {
  name: string;
  dir: string;
  client: DiscordOpusClient;
  id: UserId;
  received: { from: UserId; text: string }[];
  channels: SecureChannelsImpl;
}

async function start(name: string, dir = path.join(temp.dir, name)): Promise<Peer> {
  const client = await createClient({
    profileDir: dir, passphrase: `${name} passphrase`, crypto, create: true, profileKdf: TEST_PROFILE_KDF, displayName: name,
    // The relay route only: this file plays the hostile server between every envelope.
    serverUrl: relay.url, connectSignaling: true, peerLinks: false, logger: logger.child({ client: name }),
  });
  clients.add(client);
  const channels = client.kernel.container.get<SecureChannelsImpl>(SecureChannels);
  await channels.whenReady(); // connected, prekeys published
  const peer: Peer = { name, dir, client, id: client.identity.userId, received: [], channels };
  channels.onMessage(CHANNEL, (m: PeerMessage) => void peer.received.push({ from: m.from, text: dec(m.data) }));
  return peer;
}

async function restart(peer: Peer): Promise<void> {
  await stop(peer);
  const again = await start(peer.name, peer.dir);
  Object.assign(peer, { client: again.client, channels: again.channels, received: [] });
  again.received = peer.received;
  again.channels.onMessage(CHANNEL, () => undefined); // the copy above is what the test reads
}

async function stop(peer: Peer): Promise<void> {
  clients.delete(peer.client);
  await peer.client.close();
}

async function befriend(a: Peer, b: Peer): Promise<void> {
  await a.client.contacts.add(b.id, { name: b.name });
  await b.client.contacts.add(a.id, { name: a.name });
}

const until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> => waitUntil(what, condition, timeoutMs);

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error.code;
}

let alice: Peer;
let bob: Peer;
let carol: Peer;

beforeAll(async () => {
  relay = await HostileRelay.listen();
  server = await createSignalingServer({ origins: [signalingOrigin(relay.url)], logger: pino({ level: 'silent' }), processMetrics: false });
  relay.connect(server.url);
  [alice, bob, carol] = await Promise.all([start('alice'), start('bob'), start('carol')]);
  await befriend(alice, bob);
  await befriend(alice, carol);
  await befriend(bob, carol);
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await relay?.close();
  await server?.close();
  temp.cleanup();
});

describe('secure channels over the signaling relay', () => {
  it('starts sessions with X3DH on first contact, both ways, consuming one one-time prekey each', async () => {
    const bundles: { userId: string; oneTimePrekey?: { keyId: number } }[] = [];
    relay.onReply = (event, reply) => {
      if (event === SignalingEvents.fetchPrekeys && reply?.ok) bundles.push(reply);
      return reply;
    };
    const bobKeys = await bob.channels.sessions.prekeys.oneTimePrekeyCount();
    await alice.client.kernel.container.get<SecureChannelsImpl>(SecureChannels).send(bob.id, CHANNEL, enc(text('hello bob')));
    expect(bob.received).toEqual([{ from: alice.id, text: text('hello bob') }]);
    expect(bundles.map((b) => b.userId)).toEqual([bob.id]);
    const used = bundles[0]!.oneTimePrekey!.keyId;
    expect(await bob.channels.sessions.prekeys.hasOneTimePrekey(used)).toBe(false);
    expect(await bob.channels.sessions.prekeys.oneTimePrekeyCount()).toBe(bobKeys - 1);
    expect(alice.channels.linkState(bob.id)).toBe('connected');

    await bob.channels.send(alice.id, CHANNEL, enc(text('hello alice')));
    expect(alice.received).toEqual([{ from: bob.id, text: text('hello alice') }]);
    expect(bundles).toHaveLength(1); // Bob answered on Alice's session

    // The other way round: Bob starts with Carol.
    await bob.channels.send(carol.id, CHANNEL, enc(text('hi carol')));
    await carol.channels.send(bob.id, CHANNEL, enc(text('hi bob')));
    expect(carol.received).toEqual([{ from: bob.id, text: text('hi carol') }]);
    expect(bob.received.at(-1)).toEqual({ from: carol.id, text: text('hi bob') });
    expect(bundles.map((b) => b.userId)).toEqual([bob.id, carol.id]);
    // Each learned the other's identity key in the first session.
    expect((await bob.client.contacts.get(alice.id))?.identityKey).toEqual(alice.client.identity.publicKey);
    expect((await alice.client.contacts.get(bob.id))?.identityKey).toEqual(bob.client.identity.publicKey);
    relay.onReply = undefined;
  });

  it('keeps the order of many messages sent both ways at once', async () => {
    alice.received.length = 0;
    bob.received.length = 0;
    const n = 40;
    await Promise.all([
      Promise.all(Array.from({ length: n }, (_, i) => alice.channels.send(bob.id, CHANNEL, enc(text(`a→b ${i}`))))),
      Promise.all(Array.from({ length: n }, (_, i) => bob.channels.send(alice.id, CHANNEL, enc(text(`b→a ${i}`))))),
    ]);
    expect(bob.received.map((m) => m.text)).toEqual(Array.from({ length: n }, (_, i) => text(`a→b ${i}`)));
    expect(alice.received.map((m) => m.text)).toEqual(Array.from({ length: n }, (_, i) => text(`b→a ${i}`)));
  });

  it('fails with peer-unreachable while the recipient is offline, then delivers on the same session', async () => {
    await stop(bob);
    await until('bob offline', () => alice.client.contacts.presence(bob.id) === 'offline');
    const fetches = relay.count(SignalingEvents.fetchPrekeys);
    expect(await code(alice.channels.send(bob.id, CHANNEL, enc(text('while away')), { timeoutMs: 5000 }))).toBe('channels/peer-unreachable');
    expect(alice.channels.linkState(bob.id)).toBe('unreachable');

    await restart(bob);
    await until('bob online', () => alice.client.contacts.presence(bob.id) === 'online');
    await alice.channels.send(bob.id, CHANNEL, enc(text('while away')));
    expect(bob.received).toEqual([{ from: alice.id, text: text('while away') }]);
    expect(relay.count(SignalingEvents.fetchPrekeys)).toBe(fetches);
  });

  it('keeps the session across a restart of the sender: no new X3DH, the ratchet goes on', async () => {
    const types: number[] = [];
    relay.onDelivery = (d, _to, forward) => {
      types.push(d.payload[1]!);
      forward(d);
    };
    await restart(alice);
    const fetches = relay.count(SignalingEvents.fetchPrekeys);
    await alice.channels.send(bob.id, CHANNEL, enc(text('after restart')));
    await bob.channels.send(alice.id, CHANNEL, enc(text('welcome back')));
    expect(bob.received.at(-1)).toEqual({ from: alice.id, text: text('after restart') });
    expect(alice.received).toEqual([{ from: bob.id, text: text('welcome back') }]);
    expect(relay.count(SignalingEvents.fetchPrekeys)).toBe(fetches);
    expect(types.length).toBeGreaterThanOrEqual(4); // two messages, two acks
    expect(new Set(types)).toEqual(new Set([2])); // plain ratchet messages, no X3DH header
    relay.onDelivery = undefined;
  });

  it('survives a hostile relay: tampered, replayed, reordered, dropped, forged and injected envelopes', async () => {
    bob.received.length = 0;
    const seen: Delivery[] = [];
    let mode: 'tamper' | 'replay' | 'reorder' | 'drop' | 'pass' = 'pass';
    let held: Delivery | undefined;
    relay.onDelivery = (d, to, forward) => {
      if (to !== bob.id || d.from !== alice.id) return forward(d);
      seen.push(d);
      if (mode === 'tamper') {
        const payload = Uint8Array.from(d.payload);
        payload[payload.length - 5]! ^= 0x40;
        mode = 'pass';
        return forward({ from: d.from, payload });
      }
      if (mode === 'replay') {
        forward(d);
        forward(d);
        return void (mode = 'pass');
      }
      if (mode === 'reorder') {
        if (!held) return void (held = d);
        forward(d);
        forward(held);
        held = undefined;
        return void (mode = 'pass');
      }
      if (mode === 'drop') return void (mode = 'pass');
      forward(d);
    };

    mode = 'tamper';
    expect(await code(alice.channels.send(bob.id, CHANNEL, enc(text('tampered')), { timeoutMs: 3000 }))).toBe('channels/peer-unreachable');
    await alice.channels.send(bob.id, CHANNEL, enc(text('after tamper')));

    mode = 'replay';
    await alice.channels.send(bob.id, CHANNEL, enc(text('replayed')));

    mode = 'reorder';
    await Promise.all([alice.channels.send(bob.id, CHANNEL, enc(text('first'))), alice.channels.send(bob.id, CHANNEL, enc(text('second')))]);

    mode = 'drop';
    expect(await code(alice.channels.send(bob.id, CHANNEL, enc(text('dropped')), { timeoutMs: 3000 }))).toBe('channels/peer-unreachable');

    // Forged sender: Alice's real envelope, presented as Carol's.
    relay.inject(bob.id, { from: carol.id, payload: seen[2]!.payload });
    // Garbage, and a well-formed envelope naming Alice with a made-up ratchet message.
    relay.inject(bob.id, { from: alice.id, payload: Uint8Array.of(1, 2, 3) });
    relay.inject(bob.id, { from: alice.id, payload: Uint8Array.of(9, ...crypto.randomBytes(100)) });
    const fake = Uint8Array.from(seen[2]!.payload);
    fake.set(crypto.randomBytes(fake.length - 34), 34);
    relay.inject(bob.id, { from: alice.id, payload: fake });
    // An envelope that names its sender's key, but the server says someone else sent it.
    const stranger = crypto.ed25519GenerateKeyPair();
    relay.inject(bob.id, { from: userIdFromPublicKey(stranger.publicKey), payload: Uint8Array.of(1, 2, ...stranger.publicKey, ...crypto.randomBytes(80)) });

    mode = 'pass';
    await alice.channels.send(bob.id, CHANNEL, enc(text('still fine')));
    await bob.channels.send(alice.id, CHANNEL, enc(text('bob still fine')));
    expect(bob.received.map((m) => m.text)).toEqual(['after tamper', 'replayed', 'second', 'first', 'still fine'].map(text));
    expect(bob.received.every((m) => m.from === alice.id)).toBe(true);
    expect(alice.received.at(-1)?.text).toBe(text('bob still fine'));
    const dropped = logger.dropped();
    for (const expected of ['crypto/auth-failed', 'crypto/replay', 'sessions/forged-sender', 'crypto/malformed', 'crypto/unsupported-version', 'sessions/not-a-contact']) {
      expect(dropped).toContain(expected);
    }
    relay.onDelivery = undefined;
  });

  it('blocks sending when the server swaps the identity key in a prekey bundle', async () => {
    const dave = await start('dave');
    await befriend(alice, dave);
    const attacker = crypto.ed25519GenerateKeyPair();
    relay.onReply = (event, reply) => {
      if (event !== SignalingEvents.fetchPrekeys || !reply?.ok) return reply;
      // Keys and signatures travel as unpadded base64url.
      const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
      const prekey = crypto.x25519GenerateKeyPair().publicKey;
      const keyId = reply.signedPrekey.keyId as number;
      const signature = crypto.ed25519Sign(attacker.secretKey, signedPrekeyMessage(keyId, prekey));
      // A consistent bundle, signed by the attacker's key, presented as Dave's.
      return { ...reply, identityKey: b64(attacker.publicKey), signedPrekey: { keyId, publicKey: b64(prekey), signature: b64(signature) } };
    };
    const changes = nextEvent(alice.channels.onDidChangeLinkState, (e) => e.userId === dave.id && e.state === 'identity-changed', 20_000);
    const envelopes = relay.count(SignalingEvents.envelope);
    expect(await code(alice.channels.send(dave.id, CHANNEL, enc(text('to dave'))))).toBe('channels/identity-changed');
    await changes;
    expect(alice.channels.linkState(dave.id)).toBe('identity-changed');
    expect(await code(alice.channels.send(dave.id, CHANNEL, enc(text('to dave again'))))).toBe('channels/identity-changed');
    expect(relay.count(SignalingEvents.envelope)).toBe(envelopes);
    expect(dave.received).toEqual([]);
    expect(await alice.channels.sessions.hasSession(dave.id)).toBe(false);
    relay.onReply = undefined;
  });

  it('refuses strangers and oversized messages', async () => {
    const stranger = userIdFromPublicKey(crypto.ed25519GenerateKeyPair().publicKey);
    expect(await code(alice.channels.send(stranger, CHANNEL, enc('x')))).toBe('channels/not-a-contact');
    expect(await code(alice.channels.send(bob.id, CHANNEL, new Uint8Array(alice.channels.maxMessageBytes + 1)))).toBe('channels/too-large');
    await expect(alice.channels.send('nope' as UserId, CHANNEL, enc('x'))).rejects.toThrow(TypeError);
    await expect(alice.channels.send(bob.id, '', enc('x'))).rejects.toThrow(TypeError);
    await expect(alice.channels.send(bob.id, CHANNEL, 'x' as never)).rejects.toThrow(TypeError);
    // The largest allowed message fits one relay envelope.
    await alice.channels.send(bob.id, CHANNEL, new Uint8Array(alice.channels.maxMessageBytes).fill(0x41));
    expect(bob.received.at(-1)?.text).toHaveLength(alice.channels.maxMessageBytes);
  });

  it('never showed the server or the logs any plaintext', () => {
    expect(relay.sawBytes(enc(alice.id))).toBe(true); // the capture works
    expect(relay.captured.length).toBeGreaterThan(100);
    expect(relay.sawBytes(enc(MARK))).toBe(false);
    expect(relay.sawBytes(enc('hello bob'))).toBe(false);
    expect(logger.text()).not.toContain(MARK);
    expect(logger.text()).not.toContain('hello bob');
  });
});
