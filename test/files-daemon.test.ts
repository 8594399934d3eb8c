/*
 * The files plugin's daemon methods (`files.*`) on a real client (encrypted temp profile, no
 * server): parameter checks, AppErrors as JSON-RPC errors, and the event topic.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userIdFromPublicKey } from '@discordopus/sdk';
import { createClient, type DiscordOpusClient } from '../core/src/node/client/create-client.ts';
import { firstPartyPlugins } from '../core/src/node/client/first-party-plugins.ts';
import { TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { clientRpcMethods } from '../core/src/node/daemon/client-rpc-methods.ts';
import { RpcServer, type RpcConnection } from '../core/src/node/daemon/rpc-server.ts';

const temp = tempDir('discordopus-files-daemon-');
let client: DiscordOpusClient;
let connection: RpcConnection;
const replies = new Map<number, any>();
const notifications: any[] = [];
let nextId = 1;

async function call(method: string, params: unknown): Promise<any> {
  const id = nextId++;
  await connection.receive(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  return replies.get(id);
}

beforeAll(async () => {
  client = await createClient({ profileDir: path.join(temp.dir, 'p'), passphrase: 'files daemon passphrase', create: true, profileKdf: TEST_PROFILE_KDF, plugins: firstPartyPlugins() });
  await client.contacts.add(userIdFromPublicKey(new Uint8Array(32).fill(7)), { name: 'bob' });
  connection = new RpcServer(clientRpcMethods(client)).connect((text) => {
    const message = JSON.parse(text);
    if (message.id !== undefined) replies.set(message.id, message);
    else notifications.push(message);
  });
}, 60_000);

afterAll(async () => {
  connection?.dispose();
  await client?.close();
  temp.cleanup();
});

describe('files.* daemon methods', () => {
  it('sends (the offer waits for the contact), lists, cancels, and notifies on files.transfer', async () => {
    expect((await call('subscribe', { topics: ['files.transfer'] })).result).toMatchObject({ subscription: expect.any(String) });
    expect((await call('files.list', {})).result).toEqual([]);
    const file = path.join(temp.dir, 'hello.txt');
    writeFileSync(file, 'hello');
    const sent = (await call('files.send', { contact: 'bob', path: file })).result;
    expect(sent.transferId).toMatch(/^[0-9a-f]{32}$/);
    expect((await call('files.list', {})).result).toMatchObject([{ id: sent.transferId, direction: 'out', name: 'hello.txt', size: 5, mime: 'text/plain', state: 'offered', path: file }]);
    expect((await call('files.cancel', { transferId: sent.transferId })).result).toMatchObject({ state: 'cancelled' });
    const states = notifications.filter((n) => n.params.topic === 'files.transfer').map((n) => n.params.payload.state);
    expect(states).toEqual(['offered', 'cancelled']);
  });

  it('refuses bad params and reports AppErrors with their code', async () => {
    expect((await call('files.send', { contact: 'bob', path: 'relative.txt' })).error).toMatchObject({ code: -32602 });
    expect((await call('files.accept', { transferId: 'xyz' })).error).toMatchObject({ code: -32602 });
    expect((await call('files.accept', { transferId: '0'.repeat(32), dir: 'rel' })).error).toMatchObject({ code: -32602 });
    expect((await call('files.list', { extra: 1 })).error).toMatchObject({ code: -32602 });
    expect((await call('files.accept', { transferId: '0'.repeat(32) })).error).toMatchObject({ code: 1000, data: { code: 'files/unknown-transfer' } });
    expect((await call('files.decline', { transferId: '0'.repeat(32) })).error).toMatchObject({ code: 1000, data: { code: 'files/unknown-transfer' } });
    expect((await call('files.send', { contact: 'carol', path: path.join(temp.dir, 'x') })).error).toMatchObject({ code: 1000, data: { code: 'contacts/not-found' } });
    expect((await call('files.send', { contact: 'bob', path: path.join(temp.dir, 'missing.bin') })).error).toMatchObject({ code: 1000, data: { code: 'files/not-found' } });
  });
});
