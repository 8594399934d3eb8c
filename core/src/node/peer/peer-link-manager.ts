import type { RTCDataChannel } from 'werift';
import { AppError, DisposableCollection, Emitter, isAppError, toDisposable, type Disposable, type Event } from '@discordopus/sdk';
import { PeerLink, type PeerLinkOptions, type PeerLinkState } from './peer-link.ts';
import { parsePeerSignal, type PeerSignal } from './peer-signal.ts';
import { encodeChannelName } from './peer-frame.ts';

export interface PeerLinkManagerOptions {
  localId: string;
  /** Delivers a signal to `remoteId`'s manager, inside the authenticated encrypted envelope. */
  sendSignal(remoteId: string, signal: PeerSignal): Promise<void> | void;
  /** Options for every link (STUN/TURN, loopback, timeouts). */
  link?: Omit<PeerLinkOptions, 'localId' | 'remoteId' | 'sendSignal'>;
  /** Close a link after this long without traffic or pending sends. Default 5 min. */
  idleTimeoutMs?: number;
  /** Reconnect schedule for sends whose link is down: delay doubles from initial up to max. */
  retry?: { initialDelayMs?: number; maxDelayMs?: number; maxAttempts?: number };
}

/** A data channel a contact opened on its link (see {@link PeerLink.createChannel}). */
export interface PeerManagerRemoteChannel {
  remoteId: string;
  link: PeerLink;
  session: string;
  channel: RTCDataChannel;
}

/** A message from a contact's link. */
export interface PeerManagerMessage {
  remoteId: string;
  channel: string;
  data: Uint8Array;
}

interface Entry {
  readonly link: PeerLink;
  readonly subscriptions: DisposableCollection;
  pending: number;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
}

// Failures that a new attempt may cure. peer/dtls-failed is not one: it may be an attack, the
// user should see it rather than have it retried quietly.
const RETRYABLE = new Set(['peer/link-lost', 'peer/not-connected', 'peer/unreachable', 'peer/remote-closed', 'peer/connect-failed']);

/**
 * One {@link PeerLink} per contact: opened on demand by `send` or by the contact's signals,
 * closed after an idle timeout, and reopened with exponential backoff while sends are waiting
 * for a link that dropped.
 *
 * Delivery is at most once per attempt: a send that resolved was handed to the transport and
 * is not repeated; a send that was cut off (not fully handed over) is retried on the new link.
 * The messaging layer's receipts and outbox cover what a drop swallowed in flight.
 */
export class PeerLinkManager {
  private readonly onMessageEmitter = new Emitter<PeerManagerMessage>();
  private readonly onDidChangeStateEmitter = new Emitter<{ remoteId: string; state: PeerLinkState }>();
  private readonly onErrorEmitter = new Emitter<{ remoteId: string; error: AppError }>();
  readonly onMessage: Event<PeerManagerMessage> = this.onMessageEmitter.event;
  readonly onDidChangeState: Event<{ remoteId: string; state: PeerLinkState }> = this.onDidChangeStateEmitter.event;
  readonly onError: Event<{ remoteId: string; error: AppError }> = this.onErrorEmitter.event;
  private readonly onRemoteChannelEmitter = new Emitter<PeerManagerRemoteChannel>();
  /** A contact opened an extra data channel on its link. */
  readonly onRemoteChannel: Event<PeerManagerRemoteChannel> = this.onRemoteChannelEmitter.event;

  private readonly entries = new Map<string, Entry>();
  private readonly waits = new Set<() => void>();
  private disposed = false;
  private readonly idleTimeoutMs: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxAttempts: number;

  constructor(private readonly options: PeerLinkManagerOptions) {
    if (typeof options.localId !== 'string' || !options.localId) throw new TypeError('PeerLinkManager: localId must be a non-empty string');
    this.idleTimeoutMs = positive(options.idleTimeoutMs, 5 * 60_000, 'idleTimeoutMs');
    this.initialDelayMs = positive(options.retry?.initialDelayMs, 500, 'retry.initialDelayMs');
    this.maxDelayMs = positive(options.retry?.maxDelayMs, 30_000, 'retry.maxDelayMs');
    this.maxAttempts = positive(options.retry?.maxAttempts, 6, 'retry.maxAttempts');
  }

  /** The current link to `remoteId`, if one is open or opening. */
  get(remoteId: string): PeerLink | undefined {
    return this.entries.get(remoteId)?.link;
  }

  /** Ids of contacts with a link. */
  remoteIds(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Sends on `remoteId`'s link, opening it first if needed; if the link is down or drops before
   * the message is handed over, reconnects with backoff and tries again.
   * @throws TypeError / RangeError for bad arguments (before opening anything).
   * @throws AppError the last link error after `retry.maxAttempts` attempts (e.g.
   *   `peer/unreachable`), or at once for `peer/dtls-failed`; `peer/link-closed` after dispose.
   */
  async send(remoteId: string, channel: string, data: Uint8Array): Promise<void> {
    // Programmer errors surface before any link is opened for them.
    if (typeof remoteId !== 'string' || !remoteId) throw new TypeError('PeerLinkManager.send: remoteId must be a non-empty string');
    if (remoteId === this.options.localId) throw new RangeError('PeerLinkManager.send: cannot open a link to ourselves');
    encodeChannelName(channel);
    if (!(data instanceof Uint8Array)) throw new TypeError('PeerLinkManager.send: data must be a Uint8Array');
    for (let attempt = 1; ; attempt++) {
      const entry = this.entry(remoteId);
      entry.pending++;
      try {
        await entry.link.connect();
        await entry.link.send(channel, data);
        return;
      } catch (error) {
        if (this.disposed || !isAppError(error) || !RETRYABLE.has(error.code) || attempt >= this.maxAttempts) throw error;
      } finally {
        entry.pending--;
        this.touch(remoteId, entry);
      }
      await this.delay(Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** (attempt - 1)) * (0.8 + 0.4 * Math.random()));
    }
  }

  /**
   * Opens the link to `remoteId` if needed (one attempt, no retry) and returns it once connected.
   * @throws AppError the link's error (`peer/unreachable`, `peer/dtls-failed`, …); `peer/link-closed` after dispose.
   */
  async connect(remoteId: string): Promise<PeerLink> {
    if (typeof remoteId !== 'string' || !remoteId) throw new TypeError('PeerLinkManager.connect: remoteId must be a non-empty string');
    if (remoteId === this.options.localId) throw new RangeError('PeerLinkManager.connect: cannot open a link to ourselves');
    const entry = this.entry(remoteId);
    entry.pending++;
    try {
      await entry.link.connect();
      return entry.link;
    } finally {
      entry.pending--;
      this.touch(remoteId, entry);
    }
  }

  /**
   * Keeps the current link to `remoteId` from closing when idle (a byte stream on it is busy
   * outside the manager's view) until the returned Disposable is disposed.
   */
  hold(remoteId: string): Disposable {
    const entry = this.entries.get(remoteId);
    if (!entry) return toDisposable(() => {});
    entry.pending++;
    let held = true;
    return toDisposable(() => {
      if (!held) return;
      held = false;
      entry.pending--;
      this.touch(remoteId, entry);
    });
  }

  /**
   * Hands a signal that arrived from `remoteId` to its link, creating the link when the contact
   * opens one. Malformed signals are reported on {@link onError} and never create a link.
   */
  async handleSignal(remoteId: string, signal: unknown): Promise<void> {
    if (this.disposed || typeof remoteId !== 'string' || !remoteId || remoteId === this.options.localId) return;
    const parsed = parsePeerSignal(signal);
    if ('error' in parsed) {
      this.onErrorEmitter.fire({ remoteId, error: new AppError('peer/bad-signal', `Ignored a malformed signal from ${remoteId} (${parsed.error}).`) });
      return;
    }
    // A bye or a stray candidate for a link we no longer have needs no new link.
    if (!this.entries.has(remoteId) && (parsed.signal.kind === 'bye' || parsed.signal.kind === 'candidate' || parsed.signal.kind === 'answer')) return;
    const entry = this.entry(remoteId);
    this.touch(remoteId, entry);
    await entry.link.handleSignal(parsed.signal);
  }

  /** Closes the link to `remoteId` (telling the peer); a later send opens a new one. */
  async closeLink(remoteId: string): Promise<void> {
    const entry = this.entries.get(remoteId);
    if (!entry) return;
    this.entries.delete(remoteId);
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    await entry.link.close();
    entry.subscriptions.dispose();
  }

  /** Closes every link; pending sends reject with `peer/link-closed`. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const wake of [...this.waits]) wake();
    await Promise.all([...this.entries.keys()].map((id) => this.closeLink(id)));
    this.onMessageEmitter.dispose();
    this.onDidChangeStateEmitter.dispose();
    this.onErrorEmitter.dispose();
    this.onRemoteChannelEmitter.dispose();
  }

  private entry(remoteId: string): Entry {
    if (this.disposed) throw new AppError('peer/link-closed', 'The peer link manager was shut down; restart the client to reconnect.');
    let entry = this.entries.get(remoteId);
    if (entry) return entry;
    const link = new PeerLink({
      ...this.options.link,
      localId: this.options.localId,
      remoteId,
      sendSignal: (signal) => this.options.sendSignal(remoteId, signal),
    });
    const subscriptions = new DisposableCollection();
    entry = { link, subscriptions, pending: 0, idleTimer: undefined };
    const current = entry;
    subscriptions.push(
      link.onMessage(({ channel, data }) => {
        this.touch(remoteId, current);
        this.onMessageEmitter.fire({ remoteId, channel, data });
      }),
    );
    subscriptions.push(link.onDidChangeState((state) => this.onDidChangeStateEmitter.fire({ remoteId, state })));
    subscriptions.push(link.onError((error) => this.onErrorEmitter.fire({ remoteId, error })));
    subscriptions.push(link.onDidOpenRemoteChannel(({ session, channel }) => {
      this.touch(remoteId, current);
      this.onRemoteChannelEmitter.fire({ remoteId, link, session, channel });
    }));
    this.entries.set(remoteId, entry);
    this.touch(remoteId, entry);
    return entry;
  }

  private touch(remoteId: string, entry: Entry): void {
    if (this.entries.get(remoteId) !== entry) return;
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = undefined;
      if (entry.pending > 0) this.touch(remoteId, entry);
      else void this.closeLink(remoteId);
    }, this.idleTimeoutMs);
  }

  private delay(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waits.delete(done);
        if (this.disposed) reject(new AppError('peer/link-closed', 'The peer link manager was shut down; restart the client to reconnect.'));
        else resolve();
      };
      const timer = setTimeout(done, ms);
      this.waits.add(done);
    });
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new RangeError(`PeerLinkManager: ${name} must be a positive number`);
  return value;
}
