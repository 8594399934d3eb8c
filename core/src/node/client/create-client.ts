import { readFile, writeFile } from 'node:fs/promises';
import { AppError, ContactsService, IdentityInfo, PeerStreams, SecureChannels } from '@discordopus/sdk';
import type { Contact, Event, EventBus, EventMap, EventTopic, Logger, PluginDefinition, UserId } from '@discordopus/sdk';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { Kernel, createLogger } from '../kernel/kernel.ts';
import { openProfileDatabase, profileExists } from '../storage/profile-database.ts';
import type { ProfileDatabase } from '../storage/profile-database.ts';
import { ContactsServiceImpl } from '../contacts/contacts-service-impl.ts';
import { contactsMigrations } from '../contacts/contacts-migrations.ts';
import { IdentityKeyring } from '../identity/identity-keyring.ts';
import { createIdentity, identityMigrations, loadIdentity } from '../identity/identity-store.ts';
import { openBackup, sealBackup } from '../identity/identity-backup.ts';
import type { BackupContents, BackupKdfParams } from '../identity/identity-backup.ts';
import { computeSafetyNumber } from '../identity/safety-number.ts';
import type { SafetyNumber } from '../identity/safety-number.ts';
import { UnconnectedChannels } from './unconnected-channels.ts';
import type { SignalingClient } from '../signaling/signaling-client.ts';
import { SignalingPresence } from './signaling-presence.ts';
import type { ConnectedChannels } from '../channels/connect-secure-channels.ts';
import type { PeerRouteOptions } from '../channels/peer-route.ts';
import type { PeerIceServer } from '../peer/peer-link.ts';
import { PeerStreamsImpl } from '../streams/peer-streams-impl.ts';

/** Owner under which the kernel's own tables are migrated (see docs/identity.md). */
export const KERNEL_MIGRATION_OWNER = 'kernel';

/** Progress of a slow step: key derivation of the profile or of a backup, opening, migrating. */
export interface ClientProgress {
  phase: 'derive-key' | 'open' | 'migrate' | 'backup-key';
  fraction: number;
}

export interface ClientOptions {
  /** Profile folder (holds the encrypted database and plugin data). */
  profileDir: string;
  passphrase: string;
  /** Signaling server; without one, sending to peers fails with `channels/not-connected`. */
  serverUrl?: string;
  /**
   * Connect to `serverUrl` (authenticate with the identity key, feed contacts' presence). Off by
   * default so one-shot commands stay offline; the daemon and long-running hosts turn it on.
   * Connecting happens in the background: `signaling` reports its state and errors.
   */
  connectSignaling?: boolean;
  /**
   * With `connectSignaling`: direct peer-to-peer links, preferred over the relay and needed by
   * PeerStreams. On by default; `false` keeps every envelope on the relay.
   * @throws AppError `client/invalid-ice-server` (from createClient) for a malformed STUN/TURN entry.
   */
  peerLinks?: ClientPeerLinkOptions | false;
  plugins?: PluginDefinition[];
  thirdPartyPluginDir?: string;
  crypto?: CryptoProvider;
  logger?: Logger;
  /** Create the profile (and a new identity) when it does not exist yet. */
  create?: boolean;
  /** Display name of a newly created identity. */
  displayName?: string;
  onProgress?: (progress: ClientProgress) => void;
  /** scrypt cost of a NEW profile's key (tests use a small one); opening uses what the profile records. */
  profileKdf?: { N: number; r: number; p: number };
  /** Restore this identity and contact list into a new profile (see {@link restoreClientFromBackup}). */
  restore?: BackupContents;
}

/**
 * Direct peer-to-peer links (werift), on by default whenever signaling is connected. Without
 * STUN only host candidates are offered: enough on one machine or a LAN. The app feeds the
 * STUN/TURN servers from its settings.
 */
export interface ClientPeerLinkOptions extends PeerRouteOptions {
  /** STUN servers (`stun:host:port`) to find the public address behind a NAT. None by default. */
  stunServers?: string[];
  /** A TURN relay (`turn:host:port`, e.g. coturn) for peers whose NATs block direct paths. None by default. */
  turnServer?: { urls: string; username: string; credential: string };
  /**
   * TEST ONLY: offer and connect over 127.0.0.1 only, so tests never dial other addresses
   * (`{ loopbackOnly: true }`; the CLI takes `DISCORDOPUS_PEER_LINKS=loopback`).
   */
  loopbackOnly?: boolean;
}

/** A kernel event as delivered to remote observers (daemon clients, the renderer bridge). */
export interface ClientEvent {
  topic: string;
  payload: unknown;
}

/** The topics a client forwards to `onEvent` unless asked for others. */
export const KERNEL_TOPICS: readonly EventTopic[] = ['kernel.ready', 'contacts.changed', 'presence.changed', 'link.changed', 'plugin.failed'];

/** A headless DiscordOpus client: one open profile, its identity, contacts and the running kernel. */
export interface DiscordOpusClient {
  readonly profileDir: string;
  readonly identity: IdentityInfo;
  readonly contacts: ContactsServiceImpl;
  readonly events: EventBus;
  readonly kernel: Kernel;
  readonly crypto: CryptoProvider;
  /** The signaling connection, when `serverUrl` and `connectSignaling` were given. */
  readonly signaling: SignalingClient | undefined;
  /** Kernel events of the given topics (kernel topics by default), for observers outside the process. */
  observe(topics?: readonly string[]): Event<ClientEvent>;
  /**
   * The safety number with a contact (by user ID or name).
   * @throws AppError `contacts/not-found`, `contacts/identity-unknown` before the contact's key is known.
   */
  safetyNumber(userIdOrName: string): Promise<SafetyNumber & { contact: Contact }>;
  /**
   * Writes an encrypted backup of the identity and contacts to `file` (never overwrites).
   * @throws AppError `backup/weak-passphrase`, `backup/file-exists`
   */
  exportBackup(file: string, backupPassphrase: string, options?: { kdf?: BackupKdfParams; onProgress?: (fraction: number) => void }): Promise<{ file: string; userId: UserId; contacts: number }>;
  close(): Promise<void>;
}

/**
 * Opens (or creates) a profile and starts the kernel on it.
 * @throws AppError `storage/wrong-passphrase`, `storage/no-profile`, `identity/no-identity`
 */
export async function createClient(options: ClientOptions): Promise<DiscordOpusClient> {
  if (options.serverUrl !== undefined) checkServerUrl(options.serverUrl);
  const peerLinks = peerRouteOptions(options.peerLinks);
  const crypto = options.crypto ?? new NodeCryptoProvider();
  const logger = options.logger ?? createLogger({ level: 'warn', name: 'discordopus' });
  const profile = await openProfileDatabase({
    dir: options.profileDir, passphrase: options.passphrase, crypto, create: options.create ?? false,
    migrations: [{ owner: KERNEL_MIGRATION_OWNER, migrations: [...identityMigrations, ...contactsMigrations] }],
    ...(options.profileKdf ? { kdf: options.profileKdf } : {}),
    onProgress: options.onProgress && ((p) => options.onProgress!({ phase: p.phase, fraction: p.fraction })),
  });
  try {
    return await startOnProfile(options, profile, crypto, logger, peerLinks);
  } catch (error) {
    await profile.close();
    throw error;
  }
}

/**
 * Creates a new profile from an encrypted backup file: same identity (same user ID), same
 * display name and contacts. The backup is decrypted before anything is written.
 * @throws AppError `identity/profile-exists`, `backup/wrong-passphrase`, `backup/tampered`, `backup/malformed`
 */
export async function restoreClientFromBackup(
  options: Omit<ClientOptions, 'create' | 'restore' | 'displayName'> & { backupFile: string; backupPassphrase: string },
): Promise<DiscordOpusClient> {
  if (profileExists(options.profileDir)) {
    throw new AppError('identity/profile-exists', `A profile already exists in ${options.profileDir}; choose an empty folder to restore the backup into.`);
  }
  const crypto = options.crypto ?? new NodeCryptoProvider();
  const bytes = await readBackupFile(options.backupFile);
  const contents = await openBackup(crypto, bytes, options.backupPassphrase, {
    onProgress: options.onProgress && ((fraction) => options.onProgress!({ phase: 'backup-key', fraction })),
  });
  const { backupFile: _f, backupPassphrase: _p, ...rest } = options;
  return createClient({ ...rest, crypto, create: true, restore: contents });
}

async function startOnProfile(
  options: ClientOptions, profile: ProfileDatabase, crypto: CryptoProvider, logger: Logger, peerLinks: PeerRouteOptions | undefined,
): Promise<DiscordOpusClient> {
  const { db } = profile;
  let keyring = await loadIdentity(db, crypto);
  if (keyring && options.restore) {
    throw new AppError('identity/profile-exists', `The profile in ${options.profileDir} already has an identity; restore the backup into an empty folder.`);
  }
  if (!keyring) {
    if (!options.create) {
      throw new AppError('identity/no-identity', `The profile in ${options.profileDir} has no identity yet. Run "discordopus init" first.`);
    }
    keyring = options.restore
      ? await createIdentity(db, crypto, { secretKey: options.restore.secretKey, displayName: options.restore.displayName, now: () => options.restore!.createdAt })
      : await createIdentity(db, crypto, { displayName: options.displayName ?? '' });
  }
  const identity = keyring.info;
  const contacts = new ContactsServiceImpl(db, identity.userId);
  if (options.restore) {
    for (const c of options.restore.contacts) {
      await contacts.add(c.userId, { ...(c.name ? { name: c.name } : {}), verified: c.verified, addedAt: c.addedAt, ...(c.identityKey ? { identityKey: c.identityKey } : {}) });
    }
  }
  // Connected: end-to-end encrypted channels over the server's relay; otherwise the honest stub.
  const connected: ConnectedChannels | undefined = options.serverUrl !== undefined && options.connectSignaling
    // Loaded only when connecting, so one-shot CLI commands do not pay for socket.io and sessions.
    ? await (await import('../channels/connect-secure-channels.ts')).createSecureChannels({ serverUrl: options.serverUrl, db, deferredSync: profile.deferredSync, crypto, keyring, contacts, logger, ...(peerLinks ? { peerLinks } : {}) })
    : undefined;
  const channels = connected?.channels ?? new UnconnectedChannels(options.serverUrl);
  // Without peer links (offline, or turned off) open() says `streams/unavailable`.
  const streams = new PeerStreamsImpl({ links: connected?.channels.peerLinks, contacts, logger });
  const kernel = await startKernelOrDisconnect(connected, () => Kernel.start({
    profileDir: options.profileDir,
    db,
    deferredSync: profile.deferredSync,
    logger,
    plugins: options.plugins ?? [],
    ...(options.thirdPartyPluginDir ? { thirdPartyPluginDir: options.thirdPartyPluginDir } : {}),
    bind(container) {
      container.bind(IdentityInfo).toConstantValue(identity);
      container.bind(IdentityKeyring).toConstantValue(keyring);
      container.bind(ContactsService).toConstantValue(contacts);
      container.bind(SecureChannels).toConstantValue(channels);
      container.bind(PeerStreams).toConstantValue(streams);
    },
  }));
  connected?.channels.startDelivery();
  const forwarding = [
    contacts.onDidChange((c) => kernel.events.publish('contacts.changed', { userId: c.userId })),
    contacts.onDidRemove((userId) => kernel.events.publish('contacts.changed', { userId })),
    contacts.onDidChangePresence((p) => kernel.events.publish('presence.changed', p)),
    channels.onDidChangeLinkState((l) => kernel.events.publish('link.changed', l)),
  ];
  let signaling: SignalingClient | undefined;
  if (connected) {
    // The secure channels own the signaling client (closed in close() below).
    signaling = connected.signaling;
    forwarding.push(new SignalingPresence(signaling, contacts, logger));
    connected.connect().catch((error) => logger.warn('signaling: not connected yet', { error }));
  }
  let closed: Promise<void> | undefined;

  const client: DiscordOpusClient = {
    profileDir: options.profileDir,
    identity,
    contacts,
    events: kernel.events,
    kernel,
    crypto,
    signaling,
    observe(topics = KERNEL_TOPICS) {
      return (listener) => {
        const subs = topics.map((topic) =>
          kernel.events.subscribe(topic as EventTopic, (payload: EventMap[EventTopic]) => listener({ topic, payload })));
        return { dispose: () => subs.forEach((s) => s.dispose()) };
      };
    },
    async safetyNumber(userIdOrName) {
      const contact = await contacts.resolve(userIdOrName);
      if (!contact.identityKey) {
        throw new AppError(
          'contacts/identity-unknown',
          `The identity key of ${contact.userId} is not known yet; it is learned in the first session with them (or add the contact with its key). Compare safety numbers after that.`,
        );
      }
      const number = computeSafetyNumber(crypto, identity, { userId: contact.userId, publicKey: contact.identityKey });
      return { ...number, contact };
    },
    async exportBackup(file, backupPassphrase, backupOptions = {}) {
      const list = await contacts.list();
      const { secretKey } = keyring.keyPair();
      const sealed = await sealBackup(crypto, {
        secretKey, userId: identity.userId, displayName: identity.displayName, createdAt: Date.now(),
        contacts: list.map((c) => ({ userId: c.userId, name: c.name, verified: c.verified, addedAt: c.addedAt, ...(c.identityKey ? { identityKey: c.identityKey } : {}) })),
      }, backupPassphrase, backupOptions).finally(() => secretKey.fill(0));
      try {
        await writeFile(file, sealed, { flag: 'wx', mode: 0o600 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new AppError('backup/file-exists', `${file} already exists; choose a new file name so no backup is overwritten.`);
        }
        throw new AppError('backup/write-failed', `Could not write the backup to ${file}: ${(error as Error).message}.`, { cause: error });
      }
      return { file, userId: identity.userId, contacts: list.length };
    },
    close() {
      closed ??= (async () => {
        forwarding.reverse().forEach((d) => d.dispose());
        try {
          await kernel.stop();
        } finally {
          streams.dispose();
          await connected?.close();
          contacts.dispose();
          await profile.close();
        }
      })();
      return closed;
    },
  };
  return client;
}

/** Peer-link options of the secure channels, or `undefined` when links are off. */
export function peerRouteOptions(options: ClientPeerLinkOptions | false | undefined): PeerRouteOptions | undefined {
  if (options === false) return undefined;
  const { stunServers = [], turnServer, loopbackOnly, link = {}, ...route } = options ?? {};
  if (!Array.isArray(stunServers)) throw invalidIceServer('stunServers must be a list of stun: URLs');
  const iceServers: PeerIceServer[] = [];
  for (const urls of stunServers) {
    if (typeof urls !== 'string' || !/^stuns?:[^\s]+$/.test(urls)) throw invalidIceServer(`"${String(urls)}" is not a STUN server; write it as stun:host:port`);
    iceServers.push({ urls });
  }
  if (turnServer !== undefined) {
    const { urls, username, credential } = turnServer;
    if (typeof urls !== 'string' || !/^turns?:[^\s]+$/.test(urls)) throw invalidIceServer(`"${String(urls)}" is not a TURN server; write it as turn:host:port`);
    if (typeof username !== 'string' || !username || typeof credential !== 'string' || !credential) {
      throw invalidIceServer(`the TURN server ${urls} needs a username and a credential`);
    }
    iceServers.push({ urls, username, credential });
  }
  return {
    ...route,
    link: {
      ...link,
      iceServers: [...iceServers, ...(link.iceServers ?? [])],
      ...(loopbackOnly || link.loopbackOnly ? { loopbackOnly: true } : {}),
    },
  };
}

/** Environment variable of the CLI and other hosts: `off`, `loopback` (tests), or unset (on). */
export const PEER_LINKS_ENV = 'DISCORDOPUS_PEER_LINKS';
/** Environment variable with STUN servers, comma-separated (`stun:host:port,…`). */
export const STUN_ENV = 'DISCORDOPUS_STUN';

/**
 * Peer-link options from the environment, for processes started by tests or scripts
 * (`DISCORDOPUS_PEER_LINKS=loopback` in every test that spawns a connected CLI or host).
 * @returns `undefined` when neither variable is set (links on, no STUN).
 * @throws AppError `client/invalid-peer-links` for an unknown DISCORDOPUS_PEER_LINKS value.
 */
export function peerLinksFromEnv(env: Record<string, string | undefined>): ClientPeerLinkOptions | false | undefined {
  const mode = env[PEER_LINKS_ENV]?.trim() ?? '';
  const stun = (env[STUN_ENV] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (mode === 'off') return false;
  if (mode !== '' && mode !== 'on' && mode !== 'loopback') {
    throw new AppError('client/invalid-peer-links', `${PEER_LINKS_ENV} is "${mode}"; use on, off or loopback (tests only), or leave it unset.`);
  }
  if (mode !== 'loopback' && stun.length === 0) return undefined;
  return { ...(mode === 'loopback' ? { loopbackOnly: true } : {}), ...(stun.length ? { stunServers: stun } : {}) };
}

function invalidIceServer(why: string): AppError {
  return new AppError('client/invalid-ice-server', `Peer-link settings: ${why}. Fix the STUN/TURN settings (or leave them empty for direct links on a LAN).`);
}

async function startKernelOrDisconnect(connected: ConnectedChannels | undefined, start: () => Promise<Kernel>): Promise<Kernel> {
  try {
    return await start();
  } catch (error) {
    await connected?.close();
    throw error;
  }
}

function checkServerUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol)) {
    throw new AppError('signaling/invalid-url', `"${url}" is not a signaling server address; use http(s):// or ws(s):// followed by host and port.`);
  }
}

async function readBackupFile(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AppError('backup/not-found', `The backup file ${file} does not exist; check the path.`);
    throw new AppError('backup/read-failed', `Could not read the backup file ${file}: ${(error as Error).message}.`, { cause: error });
  }
}

