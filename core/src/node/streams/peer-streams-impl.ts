import { randomBytes } from 'node:crypto';
import {
  AppError, DisposableCollection, isAppError, isUserId, toDisposable, type Contact, type Disposable, type Event, type Logger, type OpenStreamOptions, type PeerStream, type PeerStreams, type UserId,
} from '@discordopus/sdk';
import type { PeerLinkManager, PeerManagerRemoteChannel } from '../peer/peer-link-manager.ts';
import type { PeerLink } from '../peer/peer-link.ts';
import { CONTROL_REFUSE, DataChannelStream, lostError, publicStream, type StreamRefusal } from './data-channel-stream.ts';

/** Data-channel protocol of byte streams; channels with another protocol are not streams. */
export const STREAM_PROTOCOL = 'discordopus-stream/1';
/** Cap on one write even when the peer accepts any message size (werift sends it in one go). */
export const MAX_STREAM_WRITE_BYTES = 256 * 1024;
const DEFAULT_OPEN_TIMEOUT_MS = 20_000;
const RETRY_DELAY_MS = 500;
/** Streams one contact may have open towards us at once; more are reset unseen (a peer cannot exhaust us). */
export const MAX_INCOMING_STREAMS_PER_PEER = 64;
/** An opener that neither takes nor resets a refused stream gets its channel reset after this. */
const REFUSED_RESET_MS = 30_000;

export interface PeerStreamsOptions {
  /** The client's peer links; without them every `open` fails with `streams/unavailable`. */
  links: PeerLinkManager | undefined;
  /** Who may stream; with the events, streams end when a contact is removed or its key changes. */
  contacts: { get(userId: UserId): Promise<Contact | undefined>; onDidChange?: Event<Contact>; onDidRemove?: Event<UserId> };
  logger: Logger;
}

/**
 * The kernel's {@link PeerStreams}: each stream is its own data channel (ordered, reliable) on
 * the contact's current peer-link session. The label carries a random stream id and the name;
 * the accepting side checks the sender is a contact whose identity key has not changed, hands
 * the stream to the handler registered for the name, and refuses it otherwise. The peer is the
 * link's remote, which is authenticated: the link's signals (with the DTLS fingerprint) travel
 * inside the pairwise ratchet session.
 */
export class PeerStreamsImpl implements PeerStreams, Disposable {
  private readonly handlers = new Map<string, (stream: PeerStream) => void>();
  private readonly live = new Set<DataChannelStream>();
  /** Open streams each contact opened towards us. */
  private readonly incoming = new Map<UserId, number>();
  private readonly subscriptions = new DisposableCollection();
  private disposed = false;

  constructor(private readonly options: PeerStreamsOptions) {
    if (options.links) this.subscriptions.push(options.links.onRemoteChannel((remote) => this.onRemoteChannel(remote)));
    const { onDidChange, onDidRemove } = options.contacts;
    if (onDidChange) {
      this.subscriptions.push(onDidChange((contact) => {
        if (contact.identityChanged) this.abortPeer(contact.userId, 'streams/identity-changed', `The identity key of ${contact.userId} changed; their streams were closed. Compare safety numbers, accept the new key, then open a new stream.`);
      }));
    }
    if (onDidRemove) {
      this.subscriptions.push(onDidRemove((userId) => this.abortPeer(userId, 'streams/not-a-contact', `${userId} was removed from your contacts; their streams were closed.`)));
    }
  }

  /** Streams open right now (diagnostics, tests). */
  get openStreams(): number {
    return this.live.size;
  }

  async open(to: UserId, name: string, openOptions: OpenStreamOptions = {}): Promise<PeerStream> {
    if (!isUserId(to)) throw new TypeError('PeerStreams.open: expected a user ID');
    checkStreamName('PeerStreams.open', name);
    const timeoutMs = openOptions.timeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('PeerStreams.open: timeoutMs must be a positive number');
    const links = this.options.links;
    if (!links || this.disposed) {
      throw new AppError('streams/unavailable', 'Direct peer-to-peer links are off in this client (no signaling connection, or peer links disabled); streams need them. Connect to a server with peer links on.');
    }
    await this.checkContact(to, 'open');
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.disposed) throw unreachable(to, timeoutMs, lastError);
      try {
        const link = await withTimeout(links.connect(to), remaining);
        if (!link) throw unreachable(to, timeoutMs, lastError);
        return await this.openOn(link, links, to, name, deadline - Date.now());
      } catch (error) {
        // Refusals and our own checks are final; link trouble is retried until the deadline.
        if (isAppError(error) && (error.code.startsWith('streams/') && error.code !== 'streams/link-lost')) throw error;
        if (isAppError(error, 'peer/dtls-failed')) throw unreachable(to, timeoutMs, error);
        lastError = error;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_DELAY_MS, Math.max(0, deadline - Date.now()))));
    }
  }

  onStream(name: string, handler: (stream: PeerStream) => void): Disposable {
    checkStreamName('PeerStreams.onStream', name);
    if (typeof handler !== 'function') throw new TypeError('PeerStreams.onStream: expected a handler function');
    if (this.handlers.has(name)) throw new RangeError(`PeerStreams.onStream: streams named '${name}' already have a handler`);
    this.handlers.set(name, handler);
    return toDisposable(() => {
      if (this.handlers.get(name) === handler) this.handlers.delete(name);
    });
  }

  /** Stops accepting streams and breaks the open ones (`streams/link-lost`). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.subscriptions.dispose();
    this.handlers.clear();
    for (const stream of [...this.live]) stream.abort(lostError(stream.peer, 'the client is shutting down'));
  }

  private abortPeer(peer: UserId, code: string, message: string): void {
    for (const stream of [...this.live]) if (stream.peer === peer) stream.abort(new AppError(code, message, { details: { peer } }));
  }

  private async openOn(link: PeerLink, links: PeerLinkManager, to: UserId, name: string, remainingMs: number): Promise<PeerStream> {
    const id = randomBytes(12).toString('base64url');
    const { session, channel } = link.createChannel(`${id}:${name}`, STREAM_PROTOCOL);
    const stream = this.track(link, links, session, new DataChannelStream(to, name, id, channel, maxWriteBytes(link), () => {}));
    const accepted = await withTimeout(stream.waitForAccept().then(() => true), remainingMs);
    if (!accepted) {
      stream.abort(lostError(to, 'the peer did not answer in time'));
      throw unreachable(to, remainingMs, undefined);
    }
    return publicStream(stream);
  }

  private onRemoteChannel({ remoteId, link, session, channel }: PeerManagerRemoteChannel): void {
    const links = this.options.links;
    if (!links || channel.protocol !== STREAM_PROTOCOL) return;
    const parsed = parseLabel(channel.label);
    if (!parsed || !isUserId(remoteId)) {
      this.options.logger.info('streams: reset a malformed stream', { peer: remoteId });
      channel.close();
      return;
    }
    if ((this.incoming.get(remoteId) ?? 0) >= MAX_INCOMING_STREAMS_PER_PEER) {
      this.options.logger.warn('streams: refused a stream over the per-contact limit', { peer: remoteId, limit: MAX_INCOMING_STREAMS_PER_PEER });
      // No stream object for it: the opener resets the channel on `refuse`, or we do later.
      try {
        channel.send(`${CONTROL_REFUSE}too-many`);
      } catch {
        // The transport is gone; the channel goes with it.
      }
      setTimeout(() => channel.close(), REFUSED_RESET_MS).unref();
      return;
    }
    const peer = remoteId;
    this.incoming.set(peer, (this.incoming.get(peer) ?? 0) + 1);
    const stream = this.track(link, links, session, new DataChannelStream(peer, parsed.name, parsed.id, channel, maxWriteBytes(link), () => {
      const left = (this.incoming.get(peer) ?? 1) - 1;
      if (left > 0) this.incoming.set(peer, left);
      else this.incoming.delete(peer);
    }));
    void this.admit(stream).catch((error) => {
      this.options.logger.error('streams: could not admit a stream', { peer: remoteId, code: isAppError(error) ? error.code : 'unknown' });
      stream.abort(lostError(remoteId, 'the client could not take it'));
    });
  }

  private async admit(stream: DataChannelStream): Promise<void> {
    const refusal = await this.refusal(stream.peer, stream.name);
    if (stream.closed) return;
    const handler = refusal === undefined ? this.handlers.get(stream.name) : undefined;
    if (!handler) {
      const reason = refusal ?? 'no-handler';
      this.options.logger.info('streams: refused a stream', { peer: stream.peer, stream: stream.name, reason });
      stream.refuse(reason);
      // The opener resets it on `refuse`; do not wait forever for one that does not.
      const timer = setTimeout(() => stream.abort(lostError(stream.peer, 'refused')), REFUSED_RESET_MS);
      stream.onDidClose(() => clearTimeout(timer));
      return;
    }
    stream.accept();
    try {
      handler(publicStream(stream));
    } catch (error) {
      this.options.logger.error('streams: a stream handler failed', { peer: stream.peer, stream: stream.name, error });
    }
  }

  private async refusal(peer: UserId, name: string): Promise<StreamRefusal | undefined> {
    if (this.disposed) return 'no-handler';
    const contact = await this.options.contacts.get(peer);
    if (!contact) return 'not-a-contact';
    if (contact.identityChanged) return 'identity-changed';
    return this.handlers.has(name) ? undefined : 'no-handler';
  }

  private async checkContact(to: UserId, what: string): Promise<void> {
    const contact = await this.options.contacts.get(to);
    if (!contact) throw new AppError('streams/not-a-contact', `${to} is not in your contacts; add them before you ${what} a stream.`, { details: { peer: to } });
    if (contact.identityChanged) {
      throw new AppError('streams/identity-changed', `The identity key of ${to} changed. Compare safety numbers with them out of band, then accept the new key to stream to them again.`, {
        details: { peer: to },
      });
    }
  }

  /** Ties the stream to its link session: it breaks when the session ends, and holds the link open meanwhile. */
  private track(link: PeerLink, links: PeerLinkManager, session: string, stream: DataChannelStream): DataChannelStream {
    this.live.add(stream);
    const hold = links.hold(link.remoteId);
    const ended = link.onDidEndSession((end) => {
      if (end.session === session) stream.abort(lostError(stream.peer, end.error.code === 'peer/link-closed' ? 'the link was closed' : 'the direct link dropped'));
    });
    stream.onDidClose(() => {
      this.live.delete(stream);
      ended.dispose();
      hold.dispose();
    });
    // The session may have ended between createChannel and here.
    if (link.sessionId !== session) stream.abort(lostError(stream.peer, 'the direct link dropped'));
    return stream;
  }
}

function maxWriteBytes(link: PeerLink): number {
  const remote = link.remoteMaxMessageSize ?? 65_536;
  return remote === 0 ? MAX_STREAM_WRITE_BYTES : Math.min(remote, MAX_STREAM_WRITE_BYTES);
}

function checkStreamName(method: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255) throw new TypeError(`${method}: expected a stream name of 1-255 characters`);
}

function parseLabel(label: string): { id: string; name: string } | undefined {
  const colon = label.indexOf(':');
  if (colon <= 0 || colon === label.length - 1) return undefined;
  return { id: label.slice(0, colon), name: label.slice(colon + 1) };
}

/** Resolves with the value, or `undefined` when `ms` passed first. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}

function unreachable(to: UserId, timeoutMs: number, cause: unknown): AppError {
  const why = isAppError(cause) ? ` (${cause.code})` : '';
  return new AppError(
    'streams/peer-unreachable',
    `Could not open a direct link to ${to} within ${Math.round(timeoutMs / 1000)} s${why}: they may be offline, or both sides are behind NATs that need a TURN server. Try again later.`,
    { details: { peer: to }, ...(cause === undefined ? {} : { cause }) },
  );
}
