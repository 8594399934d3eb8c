import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nextEvent } from '@discordopus/sdk';
import { NodeCryptoProvider, createClient } from '@discordopus/core';
import type { DiscordOpusClient } from '@discordopus/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess } from './server-support.ts';
import type { ServerProcess } from './server-support.ts';

/* Two headless clients on a real signaling server: contacts' presence comes from the server. */

const crypto = new NodeCryptoProvider();
const dir = mkdtempSync(path.join(os.tmpdir(), 'discordopus-presence-'));
const kdf = { N: 2 ** 12, r: 8, p: 1 };
let server: ServerProcess;
const clients: DiscordOpusClient[] = [];

async function client(name: string, serverUrl: string): Promise<DiscordOpusClient> {
  const c = await createClient({ profileDir: path.join(dir, name), passphrase: 'presence test', crypto, create: true, profileKdf: kdf, serverUrl, connectSignaling: true, peerLinks: { loopbackOnly: true } });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startServerProcess();
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('presence through the signaling server', () => {
  it('shows a contact online while connected, offline after it leaves, unknown when we lose the server', async () => {
    const alice = await client('alice', server.url);
    const bob = await client('bob', server.url);
    const connected = (c: DiscordOpusClient) => c.signaling!.state === 'connected' ? Promise.resolve() : nextEvent(c.signaling!.onDidChangeState, (s) => s === 'connected');
    await Promise.all([connected(alice), connected(bob)]);
    const bobId = bob.identity.userId;
    expect(alice.contacts.presence(bobId)).toBe('unknown');

    const online = nextEvent(alice.contacts.onDidChangePresence, (p) => p.userId === bobId && p.presence === 'online');
    const onBus = new Promise((resolve) => alice.events.subscribe('presence.changed', (p) => p.presence === 'online' && resolve(p)));
    await alice.contacts.add(bobId, { name: 'bob' });
    await online;
    expect(await onBus).toEqual({ userId: bobId, presence: 'online' });
    expect(alice.contacts.presence(bobId)).toBe('online');

    const offline = nextEvent(alice.contacts.onDidChangePresence, (p) => p.userId === bobId && p.presence === 'offline');
    await bob.close();
    await offline;

    const unknown = nextEvent(alice.contacts.onDidChangePresence, (p) => p.userId === bobId && p.presence === 'unknown');
    await server.stop();
    await unknown;
  }, 120_000);
});
