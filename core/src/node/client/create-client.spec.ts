import { existsSync } from 'node:fs';
import path from 'node:path';
import { definePlugin, isAppError, nextEvent } from '@discordopus/sdk';
import type { IdentityInfo, PluginContext } from '@discordopus/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { IdentityKeyring } from '../identity/identity-keyring.ts';
import { createClient, peerLinksFromEnv, peerRouteOptions, restoreClientFromBackup } from './create-client.ts';
import type { ClientOptions, DiscordOpusClient } from './create-client.ts';
import { TEST_PEER_LINKS, TEST_PROFILE_KDF, tempDir } from './test-profiles.ts';
import { PeerStreams, SecureChannels, userIdFromPublicKey } from '@discordopus/sdk';
import type { PeerStreams as PeerStreamsService } from '@discordopus/sdk';
import { PeerLinkManager } from '../peer/peer-link-manager.ts';
import type { SecureChannelsImpl } from '../channels/secure-channels-impl.ts';

const crypto = new NodeCryptoProvider();
const temp = tempDir();
const backupKdf = { log2N: 12, r: 8, p: 1 };
const open: DiscordOpusClient[] = [];
let n = 0;

async function client(options: Partial<ClientOptions> = {}): Promise<DiscordOpusClient> {
  const c = await createClient({
    profileDir: path.join(temp.dir, `p${n++}`), passphrase: 'profile passphrase', crypto, create: true, profileKdf: TEST_PROFILE_KDF, ...options,
  });
  open.push(c);
  return c;
}

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error.code;
}

afterAll(async () => {
  for (const c of open) await c.close();
  temp.cleanup();
});

describe('createClient', () => {
  it('creates an identity once and loads the same one when reopened', async () => {
    const dir = path.join(temp.dir, 'reopen');
    const progress: string[] = [];
    const first = await createClient({ profileDir: dir, passphrase: 'pass phrase', crypto, create: true, displayName: ' Alice ', profileKdf: TEST_PROFILE_KDF, onProgress: (p) => progress.push(p.phase) });
    expect(first.identity.displayName).toBe('Alice');
    expect(first.identity.publicKey).toHaveLength(32);
    const { userId } = first.identity;
    await first.close();
    await first.close();
    expect(progress).toContain('derive-key');
    const second = await createClient({ profileDir: dir, passphrase: 'pass phrase', crypto });
    expect(second.identity).toEqual(first.identity);
    expect(second.identity.userId).toBe(userId);
    await second.close();
    expect(await code(createClient({ profileDir: dir, passphrase: 'wrong', crypto }))).toBe('storage/wrong-passphrase');
  });

  it('refuses to open a missing profile unless asked to create it', async () => {
    const dir = path.join(temp.dir, 'missing');
    expect(await code(createClient({ profileDir: dir, passphrase: 'x', crypto }))).toBe('storage/no-profile');
    expect(existsSync(path.join(dir, 'profile.json'))).toBe(false);
  });

  it('refuses a server address that is not a URL before opening anything', async () => {
    const dir = path.join(temp.dir, 'bad-url');
    expect(await code(createClient({ profileDir: dir, passphrase: 'x', crypto, create: true, serverUrl: 'localhost:3000' }))).toBe('signaling/invalid-url');
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses a display name that is too long', async () => {
    expect(await code(client({ displayName: 'x'.repeat(65) }))).toBe('identity/invalid-display-name');
  });

  it('binds IdentityInfo, ContactsService and a SecureChannels that says it is not connected', async () => {
    let seen: { identity: IdentityInfo; contacts: number; sendError: unknown; keyringReachable: boolean } | undefined;
    const probe = definePlugin({
      id: 'probe', version: '1.0.0', permissions: { contacts: true, peers: true },
      async activate(ctx: PluginContext) {
        const sendError = await ctx.channels.send(ctx.identity.userId, 'x', new Uint8Array(1)).then(() => undefined, (e: unknown) => e);
        seen = { identity: ctx.identity, contacts: (await ctx.contacts.list()).length, sendError, keyringReachable: IdentityKeyring in (ctx as object) };
      },
    });
    const c = await client({ plugins: [probe] });
    expect(c.kernel.plugins().find((p) => p.id === 'probe')?.state).toBe('active');
    expect(seen!.identity.userId).toBe(c.identity.userId);
    expect(seen!.contacts).toBe(0);
    expect(isAppError(seen!.sendError, 'channels/not-connected')).toBe(true);
    expect((seen!.sendError as Error).message).toMatch(/No signaling server is configured/);
    expect(seen!.keyringReachable).toBe(false);
  });

  it('gives kernel services an IdentityKeyring that signs and does X3DH-style DH', async () => {
    const a = await client();
    const b = await client();
    const ka = a.kernel.container.get<IdentityKeyring>(IdentityKeyring);
    const kb = b.kernel.container.get<IdentityKeyring>(IdentityKeyring);
    const nonce = crypto.randomBytes(32);
    expect(crypto.ed25519Verify(a.identity.publicKey, nonce, ka.sign(nonce))).toBe(true);
    expect(ka.dh(kb.x25519PublicKey)).toEqual(kb.dh(ka.x25519PublicKey));
    expect(ka.x25519PublicKey).toEqual(crypto.ed25519PublicToX25519(a.identity.publicKey));
  });

  it('publishes contacts.changed on the event bus and through observe()', async () => {
    const c = await client();
    const other = await client();
    const onBus = new Promise((resolve) => c.events.subscribe('contacts.changed', resolve));
    const observed = nextEvent(c.observe());
    await c.contacts.add(other.identity.userId, { name: 'other' });
    expect(await onBus).toEqual({ userId: other.identity.userId });
    expect(await observed).toEqual({ topic: 'contacts.changed', payload: { userId: other.identity.userId } });
  });

  it('gives both sides the same safety number once keys are known', async () => {
    const alice = await client();
    const bob = await client();
    await alice.contacts.add(bob.identity.userId, { name: 'bob' });
    expect(await code(alice.safetyNumber('bob'))).toBe('contacts/identity-unknown');
    await alice.contacts.learnIdentityKey(bob.identity.userId, bob.identity.publicKey);
    await bob.contacts.add(alice.identity.userId, { identityKey: alice.identity.publicKey });
    const fromAlice = await alice.safetyNumber('bob');
    const fromBob = await bob.safetyNumber(alice.identity.userId);
    expect(fromAlice.digits).toMatch(/^\d{60}$/);
    expect(fromBob.digits).toBe(fromAlice.digits);
    expect(fromBob.payload).toBe(fromAlice.payload);
    expect(await code(alice.safetyNumber('nobody'))).toBe('contacts/not-found');
  });
});

describe('backup export and restore', () => {
  it('restores the same user ID, display name and contacts into a new profile', async () => {
    const alice = await client({ displayName: 'Alice' });
    const bob = await client();
    await alice.contacts.add(bob.identity.userId, { name: 'bob', identityKey: bob.identity.publicKey });
    await alice.contacts.verify('bob');
    const file = path.join(temp.dir, 'alice.dobackup');
    const progress: number[] = [];
    const result = await alice.exportBackup(file, 'backup passphrase', { kdf: backupKdf, onProgress: (f) => progress.push(f) });
    expect(result).toEqual({ file, userId: alice.identity.userId, contacts: 1 });
    expect(progress.at(-1)).toBe(1);
    expect(await code(alice.exportBackup(file, 'backup passphrase', { kdf: backupKdf }))).toBe('backup/file-exists');

    const target = path.join(temp.dir, 'restored');
    expect(await code(restoreClientFromBackup({ profileDir: target, passphrase: 'new pass', crypto, backupFile: file, backupPassphrase: 'wrong passphrase' })))
      .toBe('backup/wrong-passphrase');
    expect(existsSync(target)).toBe(false);
    const phases = new Set<string>();
    const restored = await restoreClientFromBackup({
      profileDir: target, passphrase: 'new pass', crypto, backupFile: file, backupPassphrase: 'backup passphrase', profileKdf: TEST_PROFILE_KDF,
      onProgress: (p) => phases.add(p.phase),
    });
    open.push(restored);
    expect(phases.has('backup-key')).toBe(true);
    expect(restored.identity).toEqual(alice.identity);
    expect(await restored.contacts.list()).toEqual(await alice.contacts.list());
    expect((await restored.safetyNumber('bob')).digits).toBe((await alice.safetyNumber('bob')).digits);

    expect(await code(restoreClientFromBackup({ profileDir: target, passphrase: 'new pass', crypto, backupFile: file, backupPassphrase: 'backup passphrase' })))
      .toBe('identity/profile-exists');
    expect(await code(restoreClientFromBackup({ profileDir: path.join(temp.dir, 'nofile'), passphrase: 'p', crypto, backupFile: path.join(temp.dir, 'none'), backupPassphrase: 'backup passphrase' })))
      .toBe('backup/not-found');
  });

  it('refuses a weak backup passphrase', async () => {
    const c = await client();
    expect(await code(c.exportBackup(path.join(temp.dir, 'weak'), 'short'))).toBe('backup/weak-passphrase');
  });
});

describe('createClient peer links', () => {
  // Nothing listens there: signaling keeps retrying in the background, no peer is ever dialed.
  const serverUrl = 'http://127.0.0.1:9';
  const someone = userIdFromPublicKey(new Uint8Array(32).fill(7));

  it('turns peer links on by default when signaling is connected, and binds PeerStreams on them', async () => {
    const c = await client({ serverUrl, connectSignaling: true });
    expect(c.kernel.container.get<SecureChannelsImpl>(SecureChannels).peerLinks).toBeInstanceOf(PeerLinkManager);
    const streams = c.kernel.container.get<PeerStreamsService>(PeerStreams);
    expect(await code(streams.open(someone, 'x/y'))).toBe('streams/not-a-contact');
  });

  it('has no peer links with peerLinks: false or offline: PeerStreams says streams/unavailable', async () => {
    const off = await client({ serverUrl, connectSignaling: true, peerLinks: false });
    expect(off.kernel.container.get<SecureChannelsImpl>(SecureChannels).peerLinks).toBeUndefined();
    expect(await code(off.kernel.container.get<PeerStreamsService>(PeerStreams).open(someone, 'x/y'))).toBe('streams/unavailable');
    const offline = await client();
    expect(await code(offline.kernel.container.get<PeerStreamsService>(PeerStreams).open(someone, 'x/y'))).toBe('streams/unavailable');
  });

  it('passes STUN and TURN servers and the test-only loopback switch to every link', () => {
    expect(peerRouteOptions(false)).toBeUndefined();
    expect(peerRouteOptions(undefined)).toEqual({ link: { iceServers: [] } });
    expect(peerRouteOptions({
      stunServers: ['stun:stun.example.org:3478'],
      turnServer: { urls: 'turn:turn.example.org:3478?transport=udp', username: 'u', credential: 'p' },
      idleTimeoutMs: 1000,
    })).toEqual({
      idleTimeoutMs: 1000,
      link: { iceServers: [{ urls: 'stun:stun.example.org:3478' }, { urls: 'turn:turn.example.org:3478?transport=udp', username: 'u', credential: 'p' }] },
    });
    expect(peerRouteOptions(TEST_PEER_LINKS)).toEqual({ link: { iceServers: [], loopbackOnly: true } });
    // The older nested form still works.
    expect(peerRouteOptions({ link: { loopbackOnly: true } })).toEqual({ link: { iceServers: [], loopbackOnly: true } });
  });

  it('reads DISCORDOPUS_PEER_LINKS and DISCORDOPUS_STUN for spawned CLIs and hosts', () => {
    expect(peerLinksFromEnv({})).toBeUndefined();
    expect(peerLinksFromEnv({ DISCORDOPUS_PEER_LINKS: 'on' })).toBeUndefined();
    expect(peerLinksFromEnv({ DISCORDOPUS_PEER_LINKS: 'off' })).toBe(false);
    expect(peerLinksFromEnv({ DISCORDOPUS_PEER_LINKS: 'loopback' })).toEqual({ loopbackOnly: true });
    expect(peerLinksFromEnv({ DISCORDOPUS_STUN: 'stun:a.example:3478, stun:b.example:3478' })).toEqual({ stunServers: ['stun:a.example:3478', 'stun:b.example:3478'] });
    expect(() => peerLinksFromEnv({ DISCORDOPUS_PEER_LINKS: 'sometimes' })).toThrow(expect.objectContaining({ code: 'client/invalid-peer-links' }));
  });

  it('refuses malformed STUN/TURN settings before opening anything', async () => {
    const bad = [
      { stunServers: ['stun.example.org'] },
      { stunServers: 'stun:x' as unknown as string[] },
      { turnServer: { urls: 'stun:x:1', username: 'u', credential: 'p' } },
      { turnServer: { urls: 'turn:x:1', username: '', credential: 'p' } },
    ];
    for (const peerLinks of bad) {
      expect(await code(createClient({ profileDir: path.join(temp.dir, 'never'), passphrase: 'x', create: true, serverUrl, connectSignaling: true, peerLinks })))
        .toBe('client/invalid-ice-server');
      expect(existsSync(path.join(temp.dir, 'never'))).toBe(false);
    }
  });
});
