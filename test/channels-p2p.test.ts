import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecureChannels, SignalingEvents, signalingOrigin, type PeerMessage, type UserId } from '@discordopus/sdk';
import { createSignalingServer, type SignalingServer } from '../server/src/index.ts';
import { createClient, type DiscordOpusClient } from '../core/src/node/client/create-client.ts';
import { TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import type { SecureChannelsImpl } from '../core/src/node/channels/secure-channels-impl.ts';
import { encodeChannelRecord } from '../core/src/node/channels/channel-record.ts';
import { PEER_ACK_CHANNEL } from '../core/src/node/channels/peer-route.ts';
import { HostileRelay, RecordingLogger } from './channels-support.ts';
import { until as waitUntil } from './support/until.ts';

const crypto = new NodeCryptoProvider();
const temp = tempDir('discordopus-p2p-');
const logger = new RecordingLogger();
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const CHANNEL = 'test/chat';
const MARK = 'PLAINTEXT-p2p-91c2';

let relay: HostileRelay;
let server: SignalingServer;
const clients: DiscordOpusClient[] = [];

interface Peer {
  client: DiscordOpusClient;
  id: UserId;
  channels: SecureChannelsImpl;
  received: string[];
}

async function start(name: string): Promise<Peer> {
  const client = await createClient({
    profileDir: path.join(temp.dir, name), passphrase: `${name} passphrase`, crypto, create: true, profileKdf: TEST_PROFILE_KDF,
    serverUrl: relay.url, connectSignaling: true, peerLinks: { link: { loopbackOnly: true } }, logger: logger.child({ client: name }),
  });
  clients.push(client);
  const channels = client.kernel.container.get<SecureChannelsImpl>(SecureChannels);
  await channels.whenReady();
  const peer: Peer = { client, id: client.identity.userId, channels, received: [] };
  channels.onMessage(CHANNEL, (m: PeerMessage) => void peer.received.push(dec(m.data)));
  return peer;
}

const until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> => waitUntil(what, condition, timeoutMs);

/** Runs `fn` and returns how many envelopes `peer`'s session layer decrypted meanwhile. */
async function countingDecrypts(peer: Peer, fn: () => Promise<void>): Promise<number> {
  const sessions = peer.channels.sessions;
  const receive = sessions.receive.bind(sessions);
  let decrypted = 0;
  sessions.receive = (...args) => {
    decrypted++;
    return receive(...args);
  };
  try {
    await fn();
  } finally {
    sessions.receive = receive;
  }
  return decrypted;
}

let alice: Peer;
let bob: Peer;

beforeAll(async () => {
  relay = await HostileRelay.listen();
  server = await createSignalingServer({ origins: [signalingOrigin(relay.url)], logger: pino({ level: 'silent' }), processMetrics: false });
  relay.connect(server.url);
  [alice, bob] = await Promise.all([start('alice'), start('bob')]);
  await alice.client.contacts.add(bob.id);
  await bob.client.contacts.add(alice.id);
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await relay?.close();
  await server?.close();
  temp.cleanup();
});

describe('secure channels over peer-to-peer links', () => {
  it('opens a direct link after the first relayed message and then bypasses the relay', async () => {
    await alice.channels.send(bob.id, CHANNEL, enc(`${MARK} first, via the relay`));
    await until('a direct link', () => alice.channels.isDirect(bob.id) && bob.channels.isDirect(alice.id));
    const relayed = relay.count(SignalingEvents.envelope);
    const n = 20;
    await Promise.all([
      Promise.all(Array.from({ length: n }, (_, i) => alice.channels.send(bob.id, CHANNEL, enc(`${MARK} a${i}`)))),
      Promise.all(Array.from({ length: n }, (_, i) => bob.channels.send(alice.id, CHANNEL, enc(`${MARK} b${i}`)))),
    ]);
    expect(bob.received).toEqual([`${MARK} first, via the relay`, ...Array.from({ length: n }, (_, i) => `${MARK} a${i}`)]);
    expect(alice.received).toEqual(Array.from({ length: n }, (_, i) => `${MARK} b${i}`));
    expect(relay.count(SignalingEvents.envelope)).toBe(relayed);
    expect(alice.channels.linkState(bob.id)).toBe('connected');
  });

  it('acknowledges over the direct link outside the ratchet: one-way sends decrypt nothing on the sender', async () => {
    await alice.channels.send(bob.id, CHANNEL, enc(`${MARK} warm-up`));
    const decrypted = await countingDecrypts(alice, async () => {
      for (let i = 0; i < 5; i++) expect(await alice.channels.send(bob.id, CHANNEL, enc(`${MARK} one-way ${i}`))).toEqual({ stored: false });
    });
    expect(decrypted).toBe(0);
    expect(bob.received.slice(-5)).toEqual(Array.from({ length: 5 }, (_, i) => `${MARK} one-way ${i}`));
  });

  it('sends the acks inside the session when the link refuses them after the commit', async () => {
    const route = (bob.channels as unknown as { peers: { sendAcks(to: UserId, record: Uint8Array): Promise<void> } }).peers;
    const sendAcks = route.sendAcks.bind(route);
    route.sendAcks = () => Promise.reject(new Error('the link dropped'));
    let decrypted: number;
    try {
      decrypted = await countingDecrypts(alice, async () => {
        expect(await alice.channels.send(bob.id, CHANNEL, enc(`${MARK} acked the long way`))).toEqual({ stored: false });
      });
    } finally {
      route.sendAcks = sendAcks;
    }
    // The ack came as a ratchet message: Alice's session decrypted it.
    expect(decrypted).toBe(1);
    expect(bob.received.at(-1)).toBe(`${MARK} acked the long way`);
  });

  it('takes only acks on the link\'s ack channel: garbage and data records there are dropped with a reason', async () => {
    const link = bob.channels.peerLinks!.get(alice.id)!;
    const received = alice.received.length;
    const smuggled = encodeChannelRecord({ kind: 'data', messageId: crypto.randomBytes(16), channel: CHANNEL, data: enc(`${MARK} outside the session`) });
    await link.send(PEER_ACK_CHANNEL, new Uint8Array([1, 4, 0, 1])); // stored acks announcing an id that is not there
    await link.send(PEER_ACK_CHANNEL, smuggled);
    await until('both dropped', () => logger.dropped().filter((c) => c === 'crypto/malformed' || c === 'channels/not-an-ack').length >= 2);
    expect(logger.dropped()).toEqual(expect.arrayContaining(['crypto/malformed', 'channels/not-an-ack']));
    // The link and the conversation go on.
    await bob.channels.send(alice.id, CHANNEL, enc(`${MARK} still talking`));
    expect(alice.received.slice(received)).toEqual([`${MARK} still talking`]);
    expect(alice.channels.isDirect(bob.id)).toBe(true);
  });

  it('carried the link signals (SDP with the DTLS fingerprint, ICE) only inside encrypted envelopes', () => {
    expect(relay.count(SignalingEvents.envelope)).toBeGreaterThan(2);
    for (const visible of ['a=fingerprint', 'candidate', 'v=0', 'sha-256', MARK]) expect(relay.sawBytes(enc(visible))).toBe(false);
    expect(logger.text()).not.toContain(MARK);
  });
});
