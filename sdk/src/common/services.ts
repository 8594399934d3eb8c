import type { Kysely, Transaction } from 'kysely';
import type { Disposable } from './disposable.ts';
import type { AppError } from './errors.ts';
import type { Event } from './event.ts';
import type { UserId } from './user-id.ts';
import type { SettingValue } from './contributions.ts';

/*
 * The services a plugin reaches through its PluginContext. Each has a token of the same name
 * (a Symbol, see tokens.ts) under which the kernel binds its implementation in the container.
 */

/** The public parts of the local identity. Private keys never leave the kernel. */
export interface IdentityInfo {
  readonly userId: UserId;
  /** Ed25519 identity public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  readonly displayName: string;
}

/** Online state of a contact as the signaling server reports it. */
export type Presence = 'online' | 'offline' | 'unknown';

export interface Contact {
  userId: UserId;
  /** Local nickname chosen by the user. */
  name: string;
  /** True after the user compared safety numbers out of band. */
  verified: boolean;
  /** Ed25519 identity key once learned (first session), 32 bytes. */
  identityKey?: Uint8Array;
  /**
   * Set when the contact's identity key changed since it was first seen. Sending is blocked
   * until the user accepts the new key (`ContactsService.acceptIdentityChange`).
   */
  identityChanged: boolean;
  addedAt: number;
}

export interface ContactsService {
  list(): Promise<Contact[]>;
  get(userId: UserId): Promise<Contact | undefined>;
  /** Resolves a user ID or a contact's name. @throws AppError `contacts/not-found` */
  resolve(userIdOrName: string): Promise<Contact>;
  readonly onDidChange: Event<Contact>;
  presence(userId: UserId): Presence;
  readonly onDidChangePresence: Event<{ userId: UserId; presence: Presence }>;
}

/** What the kernel knows about the encrypted link to a contact. */
export type LinkState = 'idle' | 'connecting' | 'connected' | 'unreachable' | 'identity-changed';

/** A decrypted, authenticated message that arrived on one of the plugin's channels. */
export interface PeerMessage {
  /** The authenticated sender. */
  readonly from: UserId;
  /** The channel name, without the plugin prefix. */
  readonly channel: string;
  readonly data: Uint8Array;
  readonly receivedAt: number;
}

export interface SendOptions {
  /** Give up (with `channels/peer-unreachable`) if not delivered to the peer's kernel in time. */
  timeoutMs?: number;
}

/** What the recipient's kernel confirmed for one {@link SecureChannels.send}. */
export interface SendReceipt {
  /**
   * True when the recipient's plugin stored the message in the same commit that received it
   * (its {@link StoringMessageHandler.store} step ran); false when the recipient's kernel holds
   * it durably for the plugin, which gets it from the kernel's inbox (after a restart if need be).
   */
  readonly stored: boolean;
}

/** A plain handler: called after the recipient's kernel committed the message to its inbox. */
export type MessageHandler = (message: PeerMessage) => void | Promise<void>;

/**
 * A handler for plugins that store what arrives: the kernel runs `store` inside its receive
 * transaction (the one that commits the ratchet step and the acknowledgement), so a message
 * costs one commit, and the sender learns that the plugin stored it ({@link SendReceipt.stored}).
 */
export interface StoringMessageHandler<T = unknown> {
  /**
   * Runs inside the kernel's receive transaction. `db` is the plugin's storage (its own tables
   * only) on that transaction: use it and nothing else for storage (other storage calls wait for
   * this transaction, so awaiting them here never returns), and do not start a transaction on it.
   * Throwing undoes only this step: the message then goes to the kernel's inbox and reaches
   * `handle` without `stored`. Not called before the plugin is active.
   */
  store(message: PeerMessage, db: Kysely<any>): Promise<T>;
  /**
   * Runs after the commit, in arrival order per peer. `stored` holds what `store` returned; it
   * is undefined when the kernel could not run the store step (the message came through the
   * kernel's inbox: at start-up, after a failed store step, or from a transport that has no
   * receive transaction), and the plugin stores the message itself here.
   */
  handle(message: PeerMessage, stored: { value: T } | undefined): void | Promise<void>;
}

/** True for a {@link StoringMessageHandler}: an object with `store` and `handle` functions. */
export function isStoringMessageHandler(handler: unknown): handler is StoringMessageHandler {
  const candidate = handler as Partial<StoringMessageHandler> | null;
  return candidate !== null && typeof candidate === 'object' && typeof candidate.store === 'function' && typeof candidate.handle === 'function';
}

/**
 * End-to-end encrypted, authenticated channels to contacts. A plugin sends and receives
 * plaintext; the kernel encrypts with the pairwise Double Ratchet session and picks the
 * transport (peer-to-peer data channel, or the signaling relay as a fallback). Channel names
 * are scoped to the plugin: `messaging` sending on `text` cannot be read by `files`.
 */
export interface SecureChannels {
  /**
   * Handles messages arriving on the channel `name`, with a plain {@link MessageHandler} or a
   * {@link StoringMessageHandler}. A handler that throws or rejects is logged; the message is not
   * redelivered by the kernel (plugins own their acknowledgements). Messages are handed out in
   * arrival order per peer; with store steps, storing follows arrival order too, except that
   * messages taken from the inbox at start-up may be stored after later ones.
   */
  onMessage(name: string, handler: MessageHandler | StoringMessageHandler): Disposable;
  /**
   * Sends `data` to `to` on channel `name`; resolves once the peer's kernel has received it
   * (committed it), telling whether the peer's plugin stored it in that commit.
   * @throws AppError `channels/peer-unreachable`, `channels/identity-changed`, `channels/not-a-contact`,
   *   `channels/too-large`
   */
  send(to: UserId, name: string, data: Uint8Array, options?: SendOptions): Promise<SendReceipt>;
  linkState(userId: UserId): LinkState;
  readonly onDidChangeLinkState: Event<{ userId: UserId; state: LinkState }>;
  /** Largest `data` accepted by `send`, in bytes. */
  readonly maxMessageBytes: number;
}

/**
 * A dedicated, ordered, reliable byte stream to one contact over the direct peer link (its own
 * data channel, DTLS-encrypted, with the DTLS fingerprint authenticated through the pairwise
 * Double-Ratchet session). For bulk data (files): unlike {@link SecureChannels.send}, a write is
 * not ratchet-encrypted nor acknowledged one by one, so plugins that need end-to-end integrity
 * of what they stream seal it themselves (e.g. per-chunk AEAD with a key sent over
 * `SecureChannels`) and run their own acknowledgements.
 */
export interface PeerStream {
  /** The authenticated peer at the other end. */
  readonly peer: UserId;
  /** The stream name, without the plugin prefix. */
  readonly name: string;
  /** Largest `data` accepted by one `write`, in bytes. */
  readonly maxWriteBytes: number;
  /**
   * Queues `data`; resolves once the stream's send buffer is below its high-water mark, so a
   * writer that awaits each write keeps memory flat (backpressure).
   * @throws AppError `streams/closed` (closed by either side) or `streams/link-lost`, `streams/too-large`
   */
  write(data: Uint8Array, options?: StreamWriteOptions): Promise<void>;
  /** Each `write` of the peer arrives as one `onData`, in order. */
  readonly onData: Event<Uint8Array>;
  /**
   * Fires once: `undefined` when either side closed it, an AppError (`streams/link-lost`) when the
   * link broke, `streams/not-a-contact` / `streams/identity-changed` when the contact was removed
   * or its identity key changed.
   */
  readonly onDidClose: Event<AppError | undefined>;
  readonly closed: boolean;
  /** Closes both directions after the data already written has been sent. */
  close(): Promise<void>;
}

/** Options of {@link PeerStream.write}. */
export interface StreamWriteOptions {
  /**
   * The caller hands `data` over and never reads or changes it again, so the stream may queue it
   * as it is instead of copying it first (worth it for large, freshly made buffers). Default false:
   * the stream copies, and the caller may reuse its buffer as soon as `write` returns.
   * @example
   * await stream.write(sealChunk(plain), { transfer: true });
   */
  transfer?: boolean;
}

/** Options of {@link PeerStreams.open}. */
export interface OpenStreamOptions {
  /** Give up (with `streams/peer-unreachable`) if no direct link is up in time. Default 20 s. */
  timeoutMs?: number;
}

/**
 * Direct peer-to-peer byte streams to contacts, scoped to the plugin like channels are: a
 * stream `files` of plugin `files` cannot be opened or accepted by another plugin. Needs the
 * `peers` permission. Streams exist only over direct links; there is no relay fallback.
 */
export interface PeerStreams {
  /**
   * Opens a stream named `name` to `to`, bringing the peer link up if needed.
   * @throws AppError `streams/peer-unreachable`, `streams/not-a-contact`, `streams/identity-changed`,
   *   `streams/unavailable` (peer links are off in this client), `streams/refused` (the peer did not
   *   accept it: `details.reason` is `no-handler`, `not-a-contact`, `identity-changed` or `too-many`)
   */
  open(to: UserId, name: string, options?: OpenStreamOptions): Promise<PeerStream>;
  /** Accepts the streams a contact opens with this name. Streams nobody accepts are closed. */
  onStream(name: string, handler: (stream: PeerStream) => void): Disposable;
}

/**
 * The plugin's own slice of the encrypted profile database. `db` can only reach tables whose
 * names start with `tablePrefix` (the plugin id with `-` replaced by `_`, then `_`); a query on
 * any other table is refused with `storage/table-not-allowed`.
 */
export interface PluginStorage {
  readonly tablePrefix: string;
  // Plugins type their own schema: `ctx.storage.db as Kysely<MyTables>`.
  readonly db: Kysely<any>;
  /** Runs `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
  transaction<T>(fn: (trx: Transaction<any>) => Promise<T>, options?: TransactionOptions): Promise<T>;
}

export interface TransactionOptions {
  /**
   * `sync` (default): the commit returns once the disk confirmed it. `deferred`: it returns
   * before; it survives the app crashing at once and a power loss about a millisecond later
   * (the disk's confirmation is awaited off the main thread, which goes on meanwhile).
   * What you send after a deferred commit does not wait for it: the kernel holds a ciphertext
   * back only until its own ratchet step is on disk. So after a power loss in that millisecond
   * your peer may hold a record whose commit here was taken back. Use it where that is
   * harmless and the main thread's time counts: the messaging plugin stores the texts the user
   * sends this way (the peer may then show a text that a power loss took from the sender's
   * history). Records you receive are stored in the kernel's own receiving commit, whose ack
   * waits for the disk, whatever you choose.
   */
  durability?: 'sync' | 'deferred';
}

export interface SettingsService {
  get<T extends SettingValue>(key: string): T | undefined;
  set(key: string, value: SettingValue): Promise<void>;
  readonly onDidChange: Event<{ key: string; value: SettingValue | undefined }>;
}

/** Structured logger; `fields` must never contain plaintext messages or key material. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

/**
 * Topics and payloads of the event bus. Plugins add their own topics by declaration merging:
 *
 * @example
 * declare module '@discordopus/sdk' {
 *   interface EventMap { 'messaging.received': { from: UserId; id: string } }
 * }
 */
export interface EventMap {
  'kernel.ready': { plugins: string[] };
  'contacts.changed': { userId: UserId };
  'presence.changed': { userId: UserId; presence: Presence };
  'link.changed': { userId: UserId; state: LinkState };
  'plugin.failed': { pluginId: string; code: string; message: string };
}

export type EventTopic = keyof EventMap & string;

/**
 * A typed publish/subscribe bus shared by the kernel and all plugins. A plugin may publish only
 * topics that start with its own id; it may subscribe to kernel topics, its own, those of the
 * plugins it depends on, and those its manifest lists under `permissions.events`.
 */
export interface EventBus {
  publish<K extends EventTopic>(topic: K, payload: EventMap[K]): void;
  subscribe<K extends EventTopic>(topic: K, handler: (payload: EventMap[K]) => void): Disposable;
}

/** Access to the APIs that other plugins return from `activate`. */
export interface PluginApis {
  /** The API of a plugin listed in `dependsOn`. @throws AppError `plugin/not-a-dependency` */
  get<T>(pluginId: string): T;
}

/*
 * Service tokens: the kernel binds each service under a Symbol of the same name as its
 * interface, so `@inject(ContactsService) contacts: ContactsService` reads naturally.
 */
export const IdentityInfo = Symbol.for('discordopus.IdentityInfo');
export const ContactsService = Symbol.for('discordopus.ContactsService');
export const SecureChannels = Symbol.for('discordopus.SecureChannels');
export const PeerStreams = Symbol.for('discordopus.PeerStreams');
export const SettingsService = Symbol.for('discordopus.SettingsService');
export const EventBus = Symbol.for('discordopus.EventBus');
export const Logger = Symbol.for('discordopus.Logger');
