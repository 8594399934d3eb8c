import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '@discordopus/core';
import { nextEvent } from '@discordopus/sdk';
import { PROFILE_CHANGED_TOPIC, type BridgeEvent } from '../common/bridge-protocol.ts';
import { CoreClientFactory } from './core-client-factory.ts';
import { ProfileLauncher } from './profile-launcher.ts';
import { RpcCallError } from './client-session.ts';

const PASS = 'correct horse battery staple';
let root: string;
const launchers: ProfileLauncher[] = [];

function launcher(name = 'alice'): ProfileLauncher {
  const l = new ProfileLauncher({
    profileName: name,
    profileDir: path.join(root, name),
    factory: new CoreClientFactory({ profileKdf: { N: 2 ** 10, r: 8, p: 1 }, logger: createLogger({ level: 'silent' }) }),
  });
  launchers.push(l);
  return l;
}

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'profile-launcher-'));
});
afterEach(async () => {
  for (const l of launchers.splice(0)) await l.close();
  await rm(root, { recursive: true, force: true });
});

describe('ProfileLauncher with the real client', () => {
  it('creates a profile, serves the client methods, locks, and unlocks again', async () => {
    const l = launcher();
    expect(await l.call('profile.status', {})).toEqual({ profileName: 'alice', exists: false, unlocked: false });
    await expect(l.call('contacts.list', {})).rejects.toMatchObject({ code: 'profile/locked' });

    const changed = nextEvent(l.onEvent, (e: BridgeEvent) => e.topic === PROFILE_CHANGED_TOPIC);
    const status = await l.call('profile.create', { displayName: 'Alice', passphrase: PASS });
    expect(status).toMatchObject({ exists: true, unlocked: true, displayName: 'Alice', userId: expect.stringMatching(/^do1/) });
    expect((await changed).payload).toEqual(status);

    const identity = (await l.call('identity.get', {})) as { userId: string; publicKey: string };
    expect(identity.userId).toBe((status as { userId: string }).userId);
    expect(identity.publicKey).toMatch(/^[0-9a-f]{64}$/);
    expect(await l.call('contacts.list', {})).toEqual([]);

    expect(await l.call('profile.lock', {})).toEqual({ profileName: 'alice', exists: true, unlocked: false });
    await expect(l.call('contacts.list', {})).rejects.toMatchObject({ code: 'profile/locked' });
    expect(await l.call('profile.unlock', { passphrase: PASS })).toMatchObject({ unlocked: true, userId: identity.userId });
  });

  it('surfaces a wrong passphrase as the storage AppError with a readable message, and stays locked', async () => {
    const l = launcher();
    await l.call('profile.create', { displayName: 'Alice', passphrase: PASS });
    await l.call('profile.lock', {});
    const failure = await l.call('profile.unlock', { passphrase: 'not the passphrase' }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'storage/wrong-passphrase' });
    expect((failure as Error).message.length).toBeGreaterThan(10);
    expect((await l.status()).unlocked).toBe(false);
    expect(await l.call('profile.unlock', { passphrase: PASS })).toMatchObject({ unlocked: true });
  });

  it('refuses to create over an existing profile and to unlock a missing one', async () => {
    const l = launcher();
    await expect(l.call('profile.unlock', { passphrase: PASS })).rejects.toMatchObject({ code: 'profile/not-found' });
    await l.call('profile.create', { displayName: 'Alice', passphrase: PASS });
    await expect(l.call('profile.create', { displayName: 'Eve', passphrase: PASS })).rejects.toMatchObject({ code: 'profile/exists' });
    await l.call('profile.lock', {});
    await expect(launcher().call('profile.create', { displayName: 'Eve', passphrase: PASS })).rejects.toMatchObject({ code: 'profile/exists' });
  });

  it.each([
    ['profile.create', { displayName: '', passphrase: PASS }, 'displayName'],
    ['profile.create', { displayName: 'A', passphrase: 'short' }, 'at least 8'],
    ['profile.create', { displayName: 'A', passphrase: PASS, extra: 1 }, 'extra'],
    ['profile.unlock', { passphrase: 42 }, 'passphrase'],
    ['profile.unlock', undefined, 'passphrase'],
    ['profile.importBackup', { backup: '<not base64>', backupPassphrase: 'x', passphrase: PASS }, 'base64'],
  ])('refuses %s with bad params %j', async (method, params, mention) => {
    await expect(launcher().call(method, params)).rejects.toMatchObject({ code: 'bridge/invalid-params', message: expect.stringContaining(mention) });
  });

  it('passes the client\'s own errors through: a mistyped contact ID gets the checksum message', async () => {
    const l = launcher();
    await l.call('profile.create', { displayName: 'Alice', passphrase: PASS });
    const error = await l.call('contacts.add', { userId: 'do1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcCallError);
    expect((error as RpcCallError).error.data).toMatchObject({ code: 'identity/invalid-user-id' });
    expect((error as RpcCallError).message).toMatch(/Checksum mismatch/);
  });

  it('forwards contact events, and two profiles that swapped contact codes see the same safety number', async () => {
    const alice = launcher('alice');
    const bob = launcher('bob');
    await alice.call('profile.create', { displayName: 'Alice', passphrase: PASS });
    await bob.call('profile.create', { displayName: 'Bob', passphrase: PASS });
    const a = (await alice.call('identity.get', {})) as { userId: string; publicKey: string };
    const b = (await bob.call('identity.get', {})) as { userId: string; publicKey: string };
    const event = nextEvent(alice.onEvent, (e: BridgeEvent) => e.topic === 'contacts.changed');
    await alice.call('contacts.add', { userId: b.userId, name: 'Bob', identityKey: b.publicKey });
    expect((await event).payload).toEqual({ userId: b.userId });
    await bob.call('contacts.add', { userId: a.userId, identityKey: a.publicKey });
    const na = (await alice.call('safetyNumber.get', { contact: b.userId })) as { digits: string };
    const nb = (await bob.call('safetyNumber.get', { contact: a.userId })) as { digits: string };
    expect(na.digits).toMatch(/^\d{60}$/);
    expect(na.digits).toBe(nb.digits);
    await alice.call('contacts.verify', { contact: 'Bob' });
    expect(await alice.call('contacts.list', {})).toMatchObject([{ userId: b.userId, verified: true }]);
  });

  it('downloads an encrypted backup and imports it into a new profile with the same identity and contacts', async () => {
    const alice = launcher('alice');
    await alice.call('profile.create', { displayName: 'Alice', passphrase: PASS });
    const a = (await alice.call('identity.get', {})) as { userId: string };
    const bobId = (await launcher('bob').call('profile.create', { displayName: 'Bob', passphrase: PASS }) as { userId: string }).userId;
    await alice.call('contacts.add', { userId: bobId, name: 'Bob' });
    await expect(alice.call('backup.download', { passphrase: 'short' })).rejects.toBeInstanceOf(RpcCallError);
    const backup = (await alice.call('backup.download', { passphrase: 'backup passphrase 1' })) as { fileName: string; data: string };
    expect(backup.fileName).toMatch(/^discordopus-backup-\d{4}-\d{2}-\d{2}\.dob$/);

    const restored = launcher('alice-laptop');
    await expect(restored.call('profile.importBackup', { backup: backup.data, backupPassphrase: 'wrong passphrase', passphrase: PASS }))
      .rejects.toMatchObject({ code: 'backup/wrong-passphrase' });
    expect((await restored.status()).exists).toBe(false);
    const status = await restored.call('profile.importBackup', { backup: backup.data, backupPassphrase: 'backup passphrase 1', passphrase: 'laptop passphrase 2' });
    expect(status).toMatchObject({ unlocked: true, userId: a.userId, displayName: 'Alice' });
    expect(await restored.call('contacts.list', {})).toMatchObject([{ userId: bobId, name: 'Bob' }]);
    await expect(restored.call('profile.importBackup', { backup: backup.data, backupPassphrase: 'backup passphrase 1', passphrase: PASS }))
      .rejects.toMatchObject({ code: 'profile/exists' });
  });

  it('does not let the window name host paths (backup.export)', async () => {
    const l = launcher();
    await l.call('profile.create', { displayName: 'Alice', passphrase: PASS });
    await expect(l.call('backup.export', { file: '/tmp/x', passphrase: 'backup passphrase 1' })).rejects.toMatchObject({ code: 'bridge/not-allowed' });
  });

  it('does not let the window name host paths for files, but stages uploaded bytes and offers them', async () => {
    const alice = launcher('alice');
    await expect(alice.call('host.files.stageBegin', { name: 'x.txt', size: 1 })).rejects.toMatchObject({ code: 'profile/locked' });
    await alice.call('profile.create', { displayName: 'Alice', passphrase: PASS });
    const bob = launcher('bob');
    const b = (await bob.call('profile.create', { displayName: 'Bob', passphrase: PASS })) as { userId: string };
    await alice.call('contacts.add', { userId: b.userId, name: 'Bob' });
    await expect(alice.call('files.send', { contact: 'Bob', path: '/etc/passwd' })).rejects.toMatchObject({ code: 'bridge/not-allowed' });
    await expect(alice.call('files.accept', { transferId: 'a'.repeat(32), dir: '/tmp' })).rejects.toMatchObject({ code: 'bridge/not-allowed' });
    await expect(alice.call('commands.execute', { id: 'files.send', args: ['Bob', '/etc/passwd'] })).rejects.toMatchObject({ code: 'bridge/not-allowed' });

    const { uploadId } = (await alice.call('host.files.stageBegin', { name: '../notes.txt', size: 11 })) as { uploadId: string };
    await expect(alice.call('host.files.stageChunk', { uploadId, offset: 0, data: '<not base64>' })).rejects.toMatchObject({ code: 'bridge/invalid-params' });
    await expect(alice.call('host.files.stageSend', { uploadId, contact: 'Bob' })).rejects.toMatchObject({ code: 'files/upload-incomplete' });
    expect(await alice.call('host.files.stageChunk', { uploadId, offset: 0, data: Buffer.from('hello ').toString('base64') })).toEqual({ received: 6 });
    expect(await alice.call('host.files.stageChunk', { uploadId, offset: 6, data: Buffer.from('world').toString('base64') })).toEqual({ received: 11 });
    const { transferId } = (await alice.call('host.files.stageSend', { uploadId, contact: 'Bob' })) as { transferId: string };
    const [sent] = (await alice.call('files.list', {})) as { id: string; name: string; path: string; direction: string }[];
    expect(sent).toMatchObject({ id: transferId, name: 'notes.txt', direction: 'out' });
    expect(sent!.path.startsWith(path.join(root, 'alice', 'staging'))).toBe(true);

    // Once the transfer ends, its staged copy goes.
    await alice.call('files.cancel', { transferId });
    await vi.waitFor(() => expect(stat(sent!.path)).rejects.toMatchObject({ code: 'ENOENT' }), { timeout: 20_000 });
    await expect(alice.call('host.files.stageChunk', { uploadId, offset: 0, data: '' })).rejects.toMatchObject({ code: 'files/unknown-upload' });
  });

  it('forwards the messaging plugin\'s changes (new messages, typing, edits) as messaging.changed events', async () => {
    const alice = launcher('alice');
    await alice.call('profile.create', { displayName: 'Alice', passphrase: PASS });
    const b = (await launcher('bob').call('profile.create', { displayName: 'Bob', passphrase: PASS })) as { userId: string };
    await alice.call('contacts.add', { userId: b.userId, name: 'Bob' });
    const event = nextEvent(alice.onEvent, (e: BridgeEvent) => e.topic === 'messaging.changed');
    const sent = (await alice.call('messaging.send', { contact: 'Bob', text: 'hi' })) as { id: string };
    expect((await event).payload).toMatchObject({ kind: 'message', message: { id: sent.id, text: 'hi', direction: 'out' } });
  });

  it('opens a connected client with the STUN and TURN servers of the host settings', async () => {
    const l = new ProfileLauncher({
      profileName: 'alice', profileDir: path.join(root, 'alice'), defaultServerUrl: 'http://127.0.0.1:9',
      factory: new CoreClientFactory({ profileKdf: { N: 2 ** 10, r: 8, p: 1 }, logger: createLogger({ level: 'silent' }) }),
    });
    launchers.push(l);
    await l.call('host.settings.set', {
      stunServers: ['stun:stun.example.org:3478'], turnServers: [{ urls: 'turn:turn.example.org:3478', username: 'u', credential: 'p' }],
    });
    await expect(l.call('host.settings.set', { turnServers: [{ urls: 'turn:t.example.org', username: '', credential: 'p' }] })).rejects.toMatchObject({ code: 'settings/invalid' });
    // The core checks the servers it is given (client/invalid-ice-server otherwise) and connects in the background.
    expect(await l.call('profile.create', { displayName: 'Alice', passphrase: PASS })).toMatchObject({ unlocked: true });
  });

  it('keeps host settings per profile, before and after unlock', async () => {
    const l = launcher();
    expect(await l.call('host.settings.set', { theme: 'light' })).toMatchObject({ theme: 'light' });
    await expect(l.call('host.settings.set', { stunServers: ['http://x'] })).rejects.toMatchObject({ code: 'settings/invalid' });
    expect(await launcher().call('host.settings.get', {})).toMatchObject({ theme: 'light' });
  });
});
