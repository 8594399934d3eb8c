import {
  AppError, DisposableCollection, Emitter, isAppError, isUserId, toDisposable, type Contact, type Disposable, type Event, type LinkState,
  type Logger, type PeerMessage, type SecureChannels, type SendOptions, type UserId,
} from '@discordopus/sdk';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import { toHex } from '../../common/crypto/bytes.ts';
import { KeyedQueue } from '../sessions/keyed-queue.ts';
import type { InboxEntry, SessionManager } from '../sessions/session-manager.ts';
import { checkChannelName, decodeChannelRecord, encodeChannelRecord, MESSAGE_ID_BYTES, type ChannelRecord } from './channel-record.ts';
import { PeerRoute, type PeerRouteOptions } from './peer-route.ts';

/** Kernel channel of the peer-link signals (SDP, ICE), carried inside the ratchet session. */
export const PEER_SIGNAL_CHANNEL = 'kernel/peer-signal';
/** Channel names under this prefix belong to the kernel; plugins' names carry their plugin id. */
const KERNEL_PREFIX = 'kernel/';

/** How envelopes leave and arrive: the signaling relay (SignalingClient fits). */
export interface EnvelopeRelay {
  /** `offline`: the recipient has no live connection and nothing was stored. */
  send(to: UserId, payload: Uint8Array): Promise<'delivered' | 'offline'>;
  /** `from` is the sender the server authenticated. */
  readonly onEnvelope: Event<{ from: UserId; payload: Uint8Array }>;
}

export interface SecureChannelsOptions {
  sessions: SessionManager;
  contacts: { get(userId: UserId): Promise<Contact | undefined> };
  relay: EnvelopeRelay;
  crypto: CryptoProvider;
  logger: Logger;
  /** How long `send` waits for the recipient kernel's ack by default. Default 15 s. */
  defaultTimeoutMs?: number;
  /** Open direct peer-to-peer links and prefer them over the relay. Default: relay only. */
  peerLinks?: PeerRouteOptions;
  /**
   * Resolves once the relay is first connected and our prekeys are published; a send made
   * before waits for it (within its timeout). Default: ready at once.
   */
  ready?: Promise<void>;
}

/**
 * Largest `data` per send. Everything must fit one relay envelope (64 KiB): the session envelope,
 * ratchet header and tag, and the record header with the longest channel name take < 300 bytes.
 */
export const MAX_CHANNEL_MESSAGE_BYTES = 64_000;

interface PendingAck {
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The kernel's {@link SecureChannels}: each `send` becomes a framed record, encrypted with the
 * pairwise session, carried by the relay; it resolves when the recipient's kernel acknowledges
 * (with an encrypted ack) that it committed the record. Incoming records are dispatched to the
 * `onMessage` handlers in arrival order per peer, then removed from the inbox.
 */
export class SecureChannelsImpl implements SecureChannels, Disposable {
  readonly maxMessageBytes = MAX_CHANNEL_MESSAGE_BYTES;
  private readonly linkEmitter = new Emitter<{ userId: UserId; state: LinkState }>();
  readonly onDidChangeLinkState: Event<{ userId: UserId; state: LinkState }> = this.linkEmitter.event;

  private readonly handlers = new Map<string, Set<(message: PeerMessage) => void | Promise<void>>>();
  private readonly pending = new Map<string, PendingAck>();
  private readonly links = new Map<UserId, LinkState>();
  private readonly delivery = new KeyedQueue();
  private readonly subscriptions = new DisposableCollection();
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private readonly handled: number[] = [];
  private openGate!: () => void;
  // Records are received (decrypted, committed, acknowledged) from the start, but handed to
  // handlers only once the plugins have registered theirs.
  private readonly gate = new Promise<void>((resolve) => (this.openGate = resolve));

  private readonly peers: PeerRoute | undefined;

  constructor(private readonly options: SecureChannelsOptions) {
    this.peers = options.peerLinks && new PeerRoute(
      options.sessions.localUserId,
      (to, signal) => this.sendSignal(to, signal),
      (from, payload) => this.track(this.receive(from, payload)),
      (peer) => this.setLink(peer, 'connected'),
      options.logger,
      options.peerLinks,
    );
  }

  /** Resolves once the relay is first connected and our prekeys are published. */
  whenReady(): Promise<void> {
    return this.options.ready ?? Promise.resolve();
  }

  /** True when envelopes to `peer` currently go over a direct link. */
  isDirect(peer: UserId): boolean {
    return this.peers?.isConnected(peer) ?? false;
  }

  /** The session layer underneath (kernel-internal: diagnostics and tests). */
  get sessions(): SessionManager {
    return this.options.sessions;
  }

  /**
   * Queues the records a previous run committed but did not hand out, then listens to the
   * relay. Nothing reaches the handlers before {@link startDelivery}.
   */
  async start(): Promise<void> {
    for (const entry of await this.options.sessions.inbox()) this.handle(entry);
    this.subscriptions.push(this.options.relay.onEnvelope(({ from, payload }) => this.track(this.receive(from, payload))));
  }

  /** Starts handing records to the `onMessage` handlers (call once plugins are active). */
  startDelivery(): void {
    this.openGate();
  }

  onMessage(name: string, handler: (message: PeerMessage) => void | Promise<void>): Disposable {
    checkChannelName('SecureChannels.onMessage', name);
    if (name.startsWith(KERNEL_PREFIX)) throw new TypeError(`SecureChannels.onMessage: channel names starting with "${KERNEL_PREFIX}" are reserved`);
    if (typeof handler !== 'function') throw new TypeError('SecureChannels.onMessage: expected a handler function');
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    const entry = (message: PeerMessage) => handler(message);
    set.add(entry);
    return toDisposable(() => {
      set.delete(entry);
      if (set.size === 0 && this.handlers.get(name) === set) this.handlers.delete(name);
    });
  }

  async send(to: UserId, name: string, data: Uint8Array, options: SendOptions = {}): Promise<void> {
    if (!isUserId(to)) throw new TypeError('SecureChannels.send: expected a user ID');
    checkChannelName('SecureChannels.send', name);
    if (name.startsWith(KERNEL_PREFIX)) throw new TypeError(`SecureChannels.send: channel names starting with "${KERNEL_PREFIX}" are reserved`);
    if (!(data instanceof Uint8Array)) throw new TypeError('SecureChannels.send: data must be a Uint8Array');
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs ?? 15_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('SecureChannels.send: timeoutMs must be a positive number');
    if (data.length > this.maxMessageBytes) {
      throw new AppError('channels/too-large', `The message has ${data.length} bytes; a channel message holds at most ${this.maxMessageBytes}. Split it (or send it as a file).`);
    }
    if (this.closed) throw unreachable(to, 'the client is shutting down');
    const contact = await this.options.contacts.get(to);
    if (!contact) throw new AppError('channels/not-a-contact', `${to} is not in your contacts; add them before sending.`);
    if (contact.identityChanged) {
      this.setLink(to, 'identity-changed');
      throw new AppError('channels/identity-changed', `The identity key of ${to} changed. Compare safety numbers with them out of band, then accept the new key to send again.`);
    }
    const messageId = this.options.crypto.randomBytes(MESSAGE_ID_BYTES);
    if (this.linkState(to) !== 'connected') this.setLink(to, 'connecting');
    const ack = this.expectAck(to, messageId, timeoutMs);
    try {
      // Right after start the relay may still be connecting: wait for it, within the timeout.
      if (this.options.ready) await Promise.race([this.options.ready, ack.promise]);
      const route = await this.transmit(to, { kind: 'data', messageId, channel: name, data });
      // The peer is online: set up a direct link for the next messages.
      if (route === 'relay') this.peers?.open(to);
      await ack.promise;
      this.setLink(to, 'connected');
    } catch (error) {
      ack.cancel();
      if (isAppError(error, 'channels/identity-changed')) this.setLink(to, 'identity-changed');
      else if (isAppError(error, 'channels/peer-unreachable')) this.setLink(to, 'unreachable');
      throw error;
    }
  }

  linkState(userId: UserId): LinkState {
    return this.links.get(userId) ?? 'idle';
  }

  /** Stops receiving, fails pending sends and waits for the work in progress. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscriptions.dispose();
    for (const waiter of this.pending.values()) waiter.reject(new AppError('channels/peer-unreachable', 'The client is shutting down; the message may not have been delivered.'));
    this.pending.clear();
    this.openGate();
    await this.peers?.dispose();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.delivery.drain();
    await this.options.sessions.drain();
  }

  dispose(): void {
    void this.close();
    this.linkEmitter.dispose();
  }

  /**
   * Encrypts one record and sends it over the direct link when one is open (falling back to the
   * relay if it fails), else through the relay. Signals always take the relay: they build the link.
   * @throws AppError `channels/*`
   */
  private async transmit(to: UserId, record: ChannelRecord): Promise<'direct' | 'relay'> {
    const direct = record.kind === 'ack' || record.channel !== PEER_SIGNAL_CHANNEL ? this.peers : undefined;
    const { result: relayed } = await this.options.sessions.encryptThen(to, encodeChannelRecord(record), (payload) => {
      const sending = direct?.isConnected(to)
        ? direct.send(to, payload).then(() => 'direct' as const, () => this.options.relay.send(to, payload))
        : this.options.relay.send(to, payload);
      sending.catch(() => undefined); // awaited below; this only keeps it from counting as unhandled meanwhile
      return sending;
    });
    let status: 'direct' | 'delivered' | 'offline';
    try {
      status = await relayed;
    } catch (error) {
      const reason = isAppError(error) ? error.message : String(error);
      throw new AppError('channels/peer-unreachable', `Could not relay the message to ${to}: ${reason}`, { cause: error });
    }
    if (status === 'offline') throw unreachable(to, 'they are offline');
    return status === 'direct' ? 'direct' : 'relay';
  }

  private async sendSignal(to: UserId, signal: unknown): Promise<void> {
    const data = new TextEncoder().encode(JSON.stringify(signal));
    // No ack: the link's own handshake tells whether the signals arrived.
    await this.transmit(to, { kind: 'data', messageId: this.options.crypto.randomBytes(MESSAGE_ID_BYTES), channel: PEER_SIGNAL_CHANNEL, data });
  }

  private expectAck(to: UserId, messageId: Uint8Array, timeoutMs: number): { promise: Promise<void>; cancel(): void } {
    const key = `${to}:${toHex(messageId)}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const promise = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => {
        this.pending.delete(key);
        reject(unreachable(to, `their client did not confirm within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(key, {
        resolve: () => { clearTimeout(timer); this.pending.delete(key); resolve(); },
        reject: (error) => { clearTimeout(timer); this.pending.delete(key); reject(error); },
      });
    });
    // The caller may give up before awaiting (relay refused); never leave an unhandled rejection.
    promise.catch(() => undefined);
    return { promise, cancel: () => { clearTimeout(timer); this.pending.delete(key); } };
  }

  private async receive(from: UserId, payload: Uint8Array): Promise<void> {
    if (this.closed) return;
    let entry: InboxEntry;
    try {
      entry = await this.options.sessions.receive(from, payload, needsInbox);
    } catch (error) {
      this.drop(from, error);
      if (isAppError(error, 'sessions/identity-changed')) this.setLink(from, 'identity-changed');
      return;
    }
    this.handle(entry);
  }

  /** Must run synchronously up to the delivery queue, so records keep their order. */
  private handle(entry: InboxEntry): void {
    let record: ChannelRecord;
    try {
      record = decodeChannelRecord(entry.plaintext);
    } catch (error) {
      this.drop(entry.from, error);
      this.removeLater(entry.inboxId);
      return;
    }
    this.setLink(entry.from, 'connected');
    if (record.kind === 'ack') {
      this.pending.get(`${entry.from}:${toHex(record.messageId)}`)?.resolve();
      this.removeLater(entry.inboxId);
      return;
    }
    if (record.channel.startsWith(KERNEL_PREFIX)) {
      this.removeLater(entry.inboxId);
      if (record.channel === PEER_SIGNAL_CHANNEL && this.peers) this.track(this.peers.handleSignal(entry.from, parseJson(record.data)));
      return;
    }
    this.track(this.sendAck(entry.from, record.messageId));
    const message: PeerMessage = { from: entry.from, channel: record.channel, data: record.data, receivedAt: entry.receivedAt };
    this.track(this.delivery.run(entry.from, async () => {
      await this.gate;
      if (this.closed) return; // left in the inbox for the next run
      await this.dispatch(message);
      this.removeLater(entry.inboxId);
    }));
  }

  /** Deletes handled inbox rows in one statement per turn of the event loop. */
  private removeLater(inboxId: number | undefined): void {
    if (inboxId === undefined) return;
    this.handled.push(inboxId);
    if (this.handled.length > 1) return;
    this.track(new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.options.sessions.removeFromInbox(this.handled.splice(0))));
  }

  private async dispatch(message: PeerMessage): Promise<void> {
    const handlers = this.handlers.get(message.channel);
    if (!handlers || handlers.size === 0) {
      this.options.logger.warn('channels: no handler for an incoming message; dropped', { from: message.from, channel: message.channel });
      return;
    }
    for (const handler of [...handlers]) {
      try {
        await handler(message);
      } catch (error) {
        this.options.logger.error('channels: a message handler failed', { from: message.from, channel: message.channel, error });
      }
    }
  }

  private async sendAck(to: UserId, messageId: Uint8Array): Promise<void> {
    if (this.closed) return;
    try {
      await this.transmit(to, { kind: 'ack', messageId });
    } catch (error) {
      // The sender times out and its plugin retries; nothing else to do here.
      this.options.logger.warn('channels: could not acknowledge a message', { to, code: isAppError(error) ? error.code : 'unknown' });
    }
  }

  private drop(from: UserId, error: unknown): void {
    const code = isAppError(error) ? error.code : 'unknown';
    const reason = error instanceof Error ? error.message : String(error);
    this.options.logger.warn('channels: dropped an incoming envelope', { from, code, reason });
  }

  private setLink(userId: UserId, state: LinkState): void {
    if (this.links.get(userId) === state) return;
    this.links.set(userId, state);
    this.linkEmitter.fire({ userId, state });
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error) => this.options.logger.error('channels: internal error', { error }));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }
}

/** Acks and kernel signals need no crash safety: not storing them saves a write and a delete. */
function needsInbox(plaintext: Uint8Array): boolean {
  try {
    const record = decodeChannelRecord(plaintext);
    return record.kind === 'data' && !record.channel.startsWith(KERNEL_PREFIX);
  } catch {
    return true; // stored, then dropped with a logged reason like any malformed record
  }
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined; // the link reports it as a malformed signal
  }
}

function unreachable(to: UserId, why: string): AppError {
  return new AppError('channels/peer-unreachable', `The message to ${to} was not delivered: ${why}. It was not lost on your side; send it again later.`);
}
