/**
 * Peer links as they run by default (here on 127.0.0.1 only): a link comes up after the first
 * relayed message, closes when idle and reopens for the next message, outlives a server that is
 * killed, and everything reconnects after the server restarts, without anyone doing anything.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecureChannels, type PeerMessage, type UserId } from '@discordopus/sdk';
import { createClient, type DiscordOpusClient } from '../core/src/node/client/create-client.ts';
import { TEST_PEER_LINKS, TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import type { SecureChannelsImpl } from '../core/src/node/channels/secure-channels-impl.ts';
import { startServerProcess, type ServerProcess } from './server-support.ts';
import { until as waitUntil } from './support/until.ts';

const temp = tempDir('discordopus-links-');
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const CHANNEL = 'test/chat';
const IDLE_MS = 1_500;

let server: ServerProcess;
const clients: DiscordOpusClient[] = [];

interface Peer {
  client: DiscordOpusClient;
  id: UserId;
  channels: SecureChannelsImpl;
  received: string[];
}

async function start(name: string): Promise<Peer> {
  const client = await createClient({
    profileDir: path.join(temp.dir, name), passphrase: `${name} passphrase`, create: true, profileKdf: TEST_PROFILE_KDF,
    serverUrl: server.url, connectSignaling: true, peerLinks: { ...TEST_PEER_LINKS, idleTimeoutMs: IDLE_MS },
  });
  clients.push(client);
  const channels = client.kernel.container.get<SecureChannelsImpl>(SecureChannels);
  await channels.whenReady();
  const peer: Peer = { client, id: client.identity.userId, channels, received: [] };
  channels.onMessage(CHANNEL, (m: PeerMessage) => void peer.received.push(dec(m.data)));
  return peer;
}

const until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> => waitUntil(what, condition, timeoutMs);

let alice: Peer;
let bob: Peer;

beforeAll(async () => {
  server = await startServerProcess();
  [alice, bob] = await Promise.all([start('alice'), start('bob')]);
  await alice.client.contacts.add(bob.id);
  await bob.client.contacts.add(alice.id);
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.stop();
  temp.cleanup();
});

describe('peer links on by default', () => {
  it('come up after the first relayed message, close when idle, and reopen for the next message', async () => {
    await alice.channels.send(bob.id, CHANNEL, enc('first'));
    await until('a direct link', () => alice.channels.isDirect(bob.id) && bob.channels.isDirect(alice.id));
    await alice.channels.send(bob.id, CHANNEL, enc('direct'));
    await until('the idle close', () => !alice.channels.isDirect(bob.id) && !bob.channels.isDirect(alice.id));
    // Nobody reopens it by hand: the next message goes (relay) and brings the link back.
    await bob.channels.send(alice.id, CHANNEL, enc('after idle'));
    await until('the link back', () => alice.channels.isDirect(bob.id) && bob.channels.isDirect(alice.id));
    expect(bob.received).toEqual(['first', 'direct']);
    expect(alice.received).toEqual(['after idle']);
  }, 120_000);

  it('keeps talking over the link while the server is down, and reconnects everything after it restarts', async () => {
    // Keep the link busy so it does not idle-close while the server is away.
    const busy = setInterval(() => void alice.channels.send(bob.id, CHANNEL, enc('tick')).catch(() => {}), 300);
    try {
      await alice.channels.send(bob.id, CHANNEL, enc('before the crash'));
      await until('a direct link', () => alice.channels.isDirect(bob.id));
      const port = server.port;
      await server.stop('SIGKILL');
      await until('both see the server gone', () => alice.client.signaling?.state !== 'connected' && bob.client.signaling?.state !== 'connected');
      await alice.channels.send(bob.id, CHANNEL, enc('while the server is down'));
      expect(bob.received).toContain('while the server is down');
      server = await startServerProcess(['--port', String(port)]);
      await until('both reconnected', () => alice.client.signaling?.state === 'connected' && bob.client.signaling?.state === 'connected', 90_000);
    } finally {
      clearInterval(busy);
    }
    // Let the link idle out, then a new one has to be signalled through the restarted server.
    await until('the idle close', () => !alice.channels.isDirect(bob.id) && !bob.channels.isDirect(alice.id));
    await alice.channels.send(bob.id, CHANNEL, enc('after the restart'), { timeoutMs: 60_000 });
    await until('a new link through the restarted server', () => alice.channels.isDirect(bob.id) && bob.channels.isDirect(alice.id));
    await bob.channels.send(alice.id, CHANNEL, enc('reply over the new link'));
    await until('the reply', () => alice.received.includes('reply over the new link'));
    expect(bob.received).toContain('after the restart');
  }, 240_000);
});
