import type { Transaction } from 'kysely';
import {
  AppError, DisposableCollection, Emitter, isAppError, isStoringMessageHandler, isUserId, toDisposable, type Contact, type Disposable, type Event, type LinkState,
  type Logger, type MessageHandler, type PeerMessage, type SecureChannels, type SendOptions, type SendReceipt, type StoringMessageHandler, type UserId,
} from '@discordopus/sdk';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import { toHex } from '../../common/crypto/bytes.ts';
import { KeyedQueue } from '../sessions/keyed-queue.ts';
import type { InboxEntry, ReceiveDisposition, SessionManager } from '../sessions/session-manager.ts';
import { checkChannelName, decodeChannelRecord, encodeChannelRecord, MAX_ACK_IDS, MESSAGE_ID_BYTES, type ChannelRecord } from './channel-record.ts';
import { PeerRoute, type PeerRouteOptions } from './peer-route.ts';
import type { PeerLinkManager } from '../peer/peer-link-manager.ts';

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
  resolve(receipt: SendReceipt): void;
  reject(error: unknown): void;
}

/** A registered handler: `store` only for a {@link StoringMessageHandler}. */
interface ChannelHandler {
  handle(message: PeerMessage, stored: { value: unknown } | undefined): void | Promise<void>;
  store?(message: PeerMessage, db: Transaction<any>): Promise<unknown>;
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
  private readonly resetEmitter = new Emitter<{ userId: UserId }>();
  /** A contact lost its session with us (e.g. restored its identity into a new profile); a new one starts with the next message. */
  readonly onDidResetSession: Event<{ userId: UserId }> = this.resetEmitter.event;

  private readonly handlers = new Map<string, Set<ChannelHandler>>();
  private gateOpen = false;
  private readonly pending = new Map<string, PendingAck>();
  private readonly links = new Map<UserId, LinkState>();
  private readonly delivery = new KeyedQueue();
  private readonly subscriptions = new DisposableCollection();
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
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
      (from, record) => this.receiveDirectAcks(from, record),
      (peer) => this.setLink(peer, 'connected'),
      options.logger,
      options.peerLinks,
    );
    // Every receive batch is acknowledged by one `acks` record, sent after the batch's commit:
    // over a direct link as it is (PEER_ACK_CHANNEL), else encrypted in the batch's own
    // transaction. Either way no separate ratchet step nor commit per ack.
    options.sessions.setResponder({
      reply: (_from, received) => ackRecords(received),
      transmit: (to, payload) => void this.sendPayload(to, payload, true).catch((error: unknown) => this.ackFailed(to, error)),
      sendsDirect: (to) => this.isDirect(to),
      transmitDirect: (to, records) => {
        for (const record of records) {
          // The link went down since the commit: the acks take the ratchet and the relay after all.
          this.peers!.sendAcks(to, record).catch(() => this.track(this.transmit(to, decodeChannelRecord(record)).catch((error: unknown) => this.ackFailed(to, error))));
        }
      },
    });
  }

  /** Resolves once the relay is first connected and our prekeys are published. */
  whenReady(): Promise<void> {
    return this.options.ready ?? Promise.resolve();
  }

  /** True when envelopes to `peer` currently go over a direct link. */
  isDirect(peer: UserId): boolean {
    return this.peers?.isConnected(peer) ?? false;
  }

  /** The direct links under this route, when peer links are on (the kernel's PeerStreams use them). */
  get peerLinks(): PeerLinkManager | undefined {
    return this.peers?.links;
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
    // Acked when committed; acked again in case the crash came before the ack left.
    for (const entry of await this.options.sessions.inbox()) this.handle(entry, true);
    this.subscriptions.push(this.options.relay.onEnvelope(({ from, payload }) => this.track(this.receive(from, payload))));
  }

  /** Starts handing records to the `onMessage` handlers (call once plugins are active). */
  startDelivery(): void {
    this.gateOpen = true;
    this.openGate();
  }

  onMessage(name: string, handler: MessageHandler | StoringMessageHandler): Disposable {
    checkChannelName('SecureChannels.onMessage', name);
    if (name.startsWith(KERNEL_PREFIX)) throw new TypeError(`SecureChannels.onMessage: channel names starting with "${KERNEL_PREFIX}" are reserved`);
    const entry = channelHandler('SecureChannels.onMessage', handler);
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(entry);
    return toDisposable(() => {
      set.delete(entry);
      if (set.size === 0 && this.handlers.get(name) === set) this.handlers.delete(name);
    });
  }

  async send(to: UserId, name: string, data: Uint8Array, options: SendOptions = {}): Promise<SendReceipt> {
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
      const receipt = await ack.promise;
      this.setLink(to, 'connected');
      return receipt;
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
    this.resetEmitter.dispose();
  }

  /**
   * Encrypts one record and sends it over the direct link when one is open (falling back to the
   * relay if it fails), else through the relay. Signals always take the relay: they build the link.
   * @throws AppError `channels/*`
   */
  private async transmit(to: UserId, record: ChannelRecord): Promise<'direct' | 'relay'> {
    const mayGoDirect = record.kind !== 'data' || record.channel !== PEER_SIGNAL_CHANNEL;
    const { result: relayed } = await this.options.sessions.encryptThen(to, encodeChannelRecord(record), (payload) => {
      const sending = this.sendPayload(to, payload, mayGoDirect);
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

  /** Hands an encrypted payload to the direct link when one is open (else, or if it fails, to the relay). */
  private sendPayload(to: UserId, payload: Uint8Array, mayGoDirect: boolean): Promise<'direct' | 'delivered' | 'offline'> {
    const direct = mayGoDirect ? this.peers : undefined;
    return direct?.isConnected(to)
      ? direct.send(to, payload).then(() => 'direct' as const, () => this.options.relay.send(to, payload))
      : this.options.relay.send(to, payload);
  }

  private async sendSignal(to: UserId, signal: unknown): Promise<void> {
    const data = new TextEncoder().encode(JSON.stringify(signal));
    // No ack: the link's own handshake tells whether the signals arrived.
    await this.transmit(to, { kind: 'data', messageId: this.options.crypto.randomBytes(MESSAGE_ID_BYTES), channel: PEER_SIGNAL_CHANNEL, data });
  }

  private expectAck(to: UserId, messageId: Uint8Array, timeoutMs: number): { promise: Promise<SendReceipt>; cancel(): void } {
    const key = `${to}:${toHex(messageId)}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const promise = new Promise<SendReceipt>((resolve, reject) => {
      timer = setTimeout(() => {
        this.pending.delete(key);
        reject(unreachable(to, `their client did not confirm within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(key, {
        resolve: (receipt) => { clearTimeout(timer); this.pending.delete(key); resolve(receipt); },
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
      entry = await this.options.sessions.receive(from, payload, (plaintext, receivedAt) => this.disposition(from, plaintext, receivedAt));
    } catch (error) {
      if (isAppError(error, 'sessions/session-reset')) return this.sessionReset(from);
      this.drop(from, error);
      if (isAppError(error, 'sessions/identity-changed')) this.setLink(from, 'identity-changed');
      return;
    }
    this.handle(entry);
  }

  /**
   * Acks that came over the direct link, outside the ratchet (see PEER_ACK_CHANNEL). The link
   * authenticated the peer; still, only an `acks` record is taken here: anything else would
   * bypass the session, so it is dropped with a logged reason.
   */
  private receiveDirectAcks(from: UserId, bytes: Uint8Array): void {
    if (this.closed) return;
    let record: ChannelRecord;
    try {
      record = decodeChannelRecord(bytes);
    } catch (error) {
      this.drop(from, error);
      return;
    }
    if (record.kind !== 'acks') {
      this.drop(from, new AppError('channels/not-an-ack', `The direct link's ack channel carried a ${record.kind} record, which must travel inside the encrypted session.`));
      return;
    }
    this.acknowledged(from, record);
  }

  private acknowledged(from: UserId, record: Extract<ChannelRecord, { kind: 'ack' | 'acks' }>): void {
    const receipt: SendReceipt = { stored: record.kind === 'acks' && record.stored === true };
    for (const id of record.kind === 'ack' ? [record.messageId] : record.messageIds) this.pending.get(`${from}:${toHex(id)}`)?.resolve(receipt);
  }

  /**
   * The peer lost its session with us and asked for a new one (the session layer checked the
   * request and deleted our sessions). Unacknowledged sends are retried by their callers (the
   * messaging outbox): the peer just wrote to us, so it is reachable again now.
   */
  private sessionReset(peer: UserId): void {
    // Sent on the old session: they will never be acknowledged. Fail them now so they are retried.
    for (const [key, waiter] of [...this.pending]) {
      if (key.startsWith(`${peer}:`)) waiter.reject(unreachable(peer, 'they lost their session with you; it is sent again on a new one'));
    }
    this.options.logger.warn('channels: a contact lost its session; undelivered messages are sent again on a new one', { peer });
    this.resetEmitter.fire({ userId: peer });
    this.setLink(peer, 'connecting');
    this.setLink(peer, 'connected');
  }

  /** Must run synchronously up to the delivery queue, so records keep their order. */
  private handle(entry: InboxEntry, ackAgain = false): void {
    let record: ChannelRecord;
    try {
      record = decodeChannelRecord(entry.plaintext);
    } catch (error) {
      this.drop(entry.from, error);
      this.removeLater(entry.inboxId);
      return;
    }
    this.setLink(entry.from, 'connected');
    if (record.kind === 'ack' || record.kind === 'acks') {
      this.acknowledged(entry.from, record);
      this.removeLater(entry.inboxId);
      return;
    }
    if (record.channel.startsWith(KERNEL_PREFIX)) {
      this.removeLater(entry.inboxId);
      if (record.channel === PEER_SIGNAL_CHANNEL && this.peers) this.track(this.peers.handleSignal(entry.from, parseJson(record.data)));
      return;
    }
    if (ackAgain) this.track(this.sendAck(entry.from, record.messageId));
    const message: PeerMessage = { from: entry.from, channel: record.channel, data: record.data, receivedAt: entry.receivedAt };
    const stored = entry.stored;
    this.track(this.delivery.run(entry.from, async () => {
      await this.gate;
      if (this.closed && !stored) return; // left in the inbox for the next run
      await this.dispatch(message, stored);
      this.removeLater(entry.inboxId);
    }));
  }

  /**
   * How the receiving commit keeps a plaintext: acks and kernel signals not at all; a record for
   * a channel whose one handler stores (and whose plugins are active) by that store step; the
   * rest in the inbox, handed out after the commit.
   */
  private disposition(from: UserId, plaintext: Uint8Array, receivedAt: number): ReceiveDisposition {
    let record: ChannelRecord;
    try {
      record = decodeChannelRecord(plaintext);
    } catch {
      return 'inbox'; // stored, then dropped with a logged reason like any malformed record
    }
    if (record.kind !== 'data' || record.channel.startsWith(KERNEL_PREFIX)) return 'none';
    const handlers = this.handlers.get(record.channel);
    const [only] = handlers?.size === 1 ? handlers : [];
    const store = only?.store;
    if (!this.gateOpen || this.closed || !store) return 'inbox';
    const message: PeerMessage = { from, channel: record.channel, data: record.data, receivedAt };
    return { store: (trx) => store(message, trx) };
  }

  /** Handled inbox rows go with the session layer's next commit (no commit of their own). */
  private removeLater(inboxId: number | undefined): void {
    if (inboxId !== undefined) this.options.sessions.removeFromInboxLater([inboxId]);
  }

  /** `stored`: the one storing handler's store step ran in the receiving commit; only it gets the message. */
  private async dispatch(message: PeerMessage, stored?: { value: unknown }): Promise<void> {
    const handlers = this.handlers.get(message.channel);
    if (!handlers || handlers.size === 0) {
      this.options.logger.warn('channels: no handler for an incoming message; dropped', { from: message.from, channel: message.channel });
      return;
    }
    const targets = stored ? [...handlers].filter((h) => h.store).slice(0, 1) : [...handlers];
    for (const handler of targets) {
      try {
        await handler.handle(message, stored);
      } catch (error) {
        this.options.logger.error('channels: a message handler failed', { from: message.from, channel: message.channel, error });
      }
    }
  }

  private async sendAck(to: UserId, messageId: Uint8Array): Promise<void> {
    if (this.closed) return;
    await this.transmit(to, { kind: 'ack', messageId }).catch((error: unknown) => this.ackFailed(to, error));
  }

  /** The sender times out and its plugin retries; nothing else to do here. */
  private ackFailed(to: UserId, error: unknown): void {
    this.options.logger.warn('channels: could not acknowledge messages', { to, code: isAppError(error) ? error.code : 'unknown' });
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

/**
 * The acks for a receive batch's data records (kernel signals are not acked): one `acks` record
 * per {@link MAX_ACK_IDS} ids, those whose store step ran in stored acks of their own.
 */
function ackRecords(received: readonly { plaintext: Uint8Array; stored: boolean }[]): Uint8Array[] {
  const ids = { inbox: [] as Uint8Array[], stored: [] as Uint8Array[] };
  for (const { plaintext, stored } of received) {
    try {
      const record = decodeChannelRecord(plaintext);
      if (record.kind === 'data' && !record.channel.startsWith(KERNEL_PREFIX)) (stored ? ids.stored : ids.inbox).push(record.messageId);
    } catch {
      // Malformed: dropped (and logged) when handled; nothing to acknowledge.
    }
  }
  const out: Uint8Array[] = [];
  for (const [kind, list] of Object.entries(ids)) {
    for (let i = 0; i < list.length; i += MAX_ACK_IDS) {
      out.push(encodeChannelRecord({ kind: 'acks', messageIds: list.slice(i, i + MAX_ACK_IDS), ...(kind === 'stored' ? { stored: true } : {}) }));
    }
  }
  return out;
}

/** The registered form of a plain or a storing handler. @throws TypeError for anything else */
function channelHandler(fn: string, handler: MessageHandler | StoringMessageHandler): ChannelHandler {
  if (typeof handler === 'function') return { handle: (message) => handler(message) };
  if (isStoringMessageHandler(handler)) {
    return { handle: (message, stored) => handler.handle(message, stored), store: (message, db) => handler.store(message, db) };
  }
  throw new TypeError(`${fn}: expected a handler function, or an object with store and handle functions`);
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
