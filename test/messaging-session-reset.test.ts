/*
 * Session reset with two real clients (encrypted profiles, kernels, the messaging plugin) and a
 * real signaling server: Bob loses his profile and restores his identity from a backup into a
 * new one. Alice's next message cannot be decrypted (Bob has no session); Bob asks, signed with
 * his identity key, for a new session; Alice checks the request, reports the reset, starts a
 * new X3DH session and sends what Bob never acknowledged again: shown once, in order.
 */
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { SecureChannels, type UserId } from '@discordopus/sdk';
import type { MessageView, MessagingApi } from '../plugins/messaging/src/index.ts';
import { createSignalingServer, type SignalingServer } from '../server/src/index.ts';
import { createClient, restoreClientFromBackup, type DiscordOpusClient } from '../core/src/node/client/create-client.ts';
import { firstPartyPlugins } from '../core/src/node/client/first-party-plugins.ts';
import { TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { createLogger } from '../core/src/node/kernel/kernel.ts';
import type { SecureChannelsImpl } from '../core/src/node/channels/secure-channels-impl.ts';
import { until as waitUntil } from './support/until.ts';

const temp = tempDir('discordopus-session-reset-');
const PASS = 'reset passphrase';
const clients = new Set<DiscordOpusClient>();
let server: SignalingServer | undefined;

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await server?.close();
  temp.cleanup();
});

/** Relay only: the reset must work without a direct link (and this keeps the test on 127.0.0.1). */
const common = () => ({
  passphrase: PASS, serverUrl: server!.url, connectSignaling: true, peerLinks: false as const,
  plugins: firstPartyPlugins(), logger: createLogger({ level: process.env.RESET_LOG ?? 'error', destination: 2 }),
});

async function ready(client: DiscordOpusClient): Promise<{ client: DiscordOpusClient; api: MessagingApi; channels: SecureChannelsImpl; shown: MessageView[]; delivered: Set<string> }> {
  clients.add(client);
  const channels = client.kernel.container.get<SecureChannelsImpl>(SecureChannels);
  await channels.whenReady();
  const api = client.kernel.pluginApi<MessagingApi>('messaging')!;
  const shown: MessageView[] = [];
  const delivered = new Set<string>();
  api.onDidChange((c) => {
    if (c.kind === 'message' && c.message.direction === 'in') shown.push(c.message);
    if (c.kind === 'status' && c.status === 'delivered') delivered.add(c.id);
  });
  return { client, api, channels, shown, delivered };
}

const until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> => waitUntil(what, condition, timeoutMs);

describe('session reset', () => {
  it('starts a new session when a contact restored its identity into a new profile, and sends the undelivered messages again', async () => {
    server = await createSignalingServer({ logger: pino({ level: 'silent' }), processMetrics: false });
    const alice = await ready(await createClient({ ...common(), profileDir: path.join(temp.dir, 'alice'), create: true, profileKdf: TEST_PROFILE_KDF, displayName: 'alice' }));
    const bob = await ready(await createClient({ ...common(), profileDir: path.join(temp.dir, 'bob'), create: true, profileKdf: TEST_PROFILE_KDF, displayName: 'bob' }));
    const aliceId = alice.client.identity.userId;
    const bobId: UserId = bob.client.identity.userId;
    await alice.client.contacts.add(bobId, { name: 'bob' });
    await bob.client.contacts.add(aliceId, { name: 'alice' });

    const hello = await alice.api.sendText('bob', 'hello bob');
    await until('hello delivered', () => alice.delivered.has(hello.id));
    const hi = await bob.api.sendText('alice', 'hi alice');
    await until('the answer delivered', () => bob.delivered.has(hi.id));
    expect(await alice.channels.sessions.hasSession(bobId)).toBe(true);

    // Bob loses his profile: only the backup of his identity and contacts survives.
    const backup = path.join(temp.dir, 'bob.backup');
    await bob.client.exportBackup(backup, 'backup passphrase', { kdf: { log2N: 12, r: 8, p: 1 } });
    clients.delete(bob.client);
    await bob.client.close();
    const bob2 = await ready(await restoreClientFromBackup({ ...common(), profileDir: path.join(temp.dir, 'bob-restored'), backupFile: backup, backupPassphrase: 'backup passphrase', profileKdf: TEST_PROFILE_KDF }));
    expect(bob2.client.identity.userId).toBe(bobId);
    expect(await bob2.channels.sessions.hasSession(aliceId)).toBe(false);

    const resets: UserId[] = [];
    alice.channels.onDidResetSession(({ userId }) => void resets.push(userId));
    const lost = [await alice.api.sendText('bob', 'are you there?'), await alice.api.sendText('bob', 'second try')];
    await until('both delivered on a new session', () => lost.every((m) => alice.delivered.has(m.id)));
    expect(resets).toEqual([bobId]);
    expect(bob2.shown.map((m) => m.text)).toEqual(['are you there?', 'second try']);
    // And the new session works both ways.
    const back = await bob2.api.sendText('alice', 'I restored my backup');
    await until('the reply delivered', () => bob2.delivered.has(back.id));
    expect(alice.shown.map((m) => m.text)).toEqual(['hi alice', 'I restored my backup']);
    expect(resets).toEqual([bobId]);
  }, 180_000);
});
