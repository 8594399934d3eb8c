import { DisposableCollection, isAppError, type Logger } from '@discordopus/sdk';
import type { Kysely } from 'kysely';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import type { ContactsServiceImpl } from '../contacts/contacts-service-impl.ts';
import type { IdentityKeyring } from '../identity/identity-keyring.ts';
import { SignalingClient, type SignalingClientOptions } from '../signaling/signaling-client.ts';
import type { PrekeyPolicy } from '../sessions/prekey-manager.ts';
import { SessionManager } from '../sessions/session-manager.ts';
import { SecureChannelsImpl } from './secure-channels-impl.ts';
import type { PeerRouteOptions } from './peer-route.ts';
import type { DeferredSync } from '../storage/deferred-sync.ts';

export interface ConnectSecureChannelsOptions {
  serverUrl: string;
  db: Kysely<any>;
  /** The profile's deferred commits: receiving commits use them (see SessionManagerOptions). */
  deferredSync?: DeferredSync;
  crypto: CryptoProvider;
  keyring: IdentityKeyring;
  contacts: ContactsServiceImpl;
  logger: Logger;
  /** Extra signaling options (timeouts, TLS, reconnect delays). */
  signaling?: Partial<Omit<SignalingClientOptions, 'url' | 'publicKey' | 'sign'>>;
  prekeys?: Partial<PrekeyPolicy>;
  /** Default ack timeout of `send`. */
  sendTimeoutMs?: number;
  /** Open direct peer-to-peer links and prefer them over the relay. Default: relay only. */
  peerLinks?: PeerRouteOptions;
}

/** The session layer, secure channels and signaling connection of one client. */
export interface ConnectedChannels {
  readonly channels: SecureChannelsImpl;
  readonly sessions: SessionManager;
  readonly signaling: SignalingClient;
  /**
   * Connects (in the background is fine): resolves once authenticated and our prekeys are
   * published; rejects when the first attempt fails, while retries go on.
   */
  connect(): Promise<void>;
  /** Stops channels, then disconnects. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Sets up end-to-end encrypted channels over the signaling server's relay: the session layer
 * (its tables migrated), the secure channels (records left in the inbox by a previous run queued
 * for delivery), prekeys published on every (re)connect and topped up when the server says they
 * run low. Nothing connects before {@link ConnectedChannels.connect}.
 */
export async function createSecureChannels(options: ConnectSecureChannelsOptions): Promise<ConnectedChannels> {
  const { keyring, contacts, logger } = options;
  const signaling = new SignalingClient({
    ...options.signaling,
    url: options.serverUrl,
    publicKey: keyring.info.publicKey,
    sign: (message) => keyring.sign(message),
  });
  const sessions = await SessionManager.open({
    db: options.db, crypto: options.crypto, keyring, contacts, directory: signaling, logger,
    ...(options.deferredSync ? { deferredSync: options.deferredSync } : {}),
    ...(options.prekeys ? { prekeys: options.prekeys } : {}),
  });
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const channels = new SecureChannelsImpl({
    sessions, contacts, relay: signaling, crypto: options.crypto, logger, ready,
    ...(options.sendTimeoutMs ? { defaultTimeoutMs: options.sendTimeoutMs } : {}),
    ...(options.peerLinks ? { peerLinks: options.peerLinks } : {}),
  });
  await channels.start();

  const subscriptions = new DisposableCollection();
  let published: Promise<void> = Promise.resolve();
  const publish = () => sessions.publishPrekeys().then(
    () => markReady(),
    (error) => logger.warn('could not publish prekeys', { code: isAppError(error) ? error.code : 'unknown', reason: String(error) }),
  );
  subscriptions.push(signaling.onDidChangeState((state) => {
    if (state === 'connected') published = publish();
  }));
  subscriptions.push(signaling.onPrekeysLow(() => void publish()));

  let closing: Promise<void> | undefined;
  return {
    channels,
    sessions,
    signaling,
    async connect() {
      await signaling.connect();
      // The state listener above started publishing before connect() resolved.
      await published;
    },
    close() {
      closing ??= (async () => {
        subscriptions.dispose();
        await channels.close();
        signaling.dispose();
        await published;
        channels.dispose();
      })();
      return closing;
    },
  };
}
