import { DisposableCollection, isAppError, type Logger, type UserId } from '@discordopus/sdk';
import { PeerLinkManager, type PeerLinkManagerOptions } from '../peer/peer-link-manager.ts';
import type { PeerSignal } from '../peer/peer-signal.ts';

/** Peer-link channel that carries session envelopes (ratchet-encrypted, like on the relay). */
export const PEER_ENVELOPE_CHANNEL = 'kernel/envelope';
/**
 * Peer-link channel for the kernel's acks, NOT ratchet-encrypted: the link is itself encrypted
 * and authenticated to the peer (DTLS with the fingerprint that came through the session), and
 * an ack holds only message ids. So acks turn no ratchet: one-way traffic costs no X25519 per
 * message and no ratchet state commit on the side that gets the acks. Only `acks` records are
 * accepted here; a receiver drops anything else.
 */
export const PEER_ACK_CHANNEL = 'kernel/acks';
/** Sent once to open a link on demand; the receiver ignores it. */
const PEER_HELLO_CHANNEL = 'kernel/hello';

export interface PeerRouteOptions {
  /** STUN/TURN, loopback-only, timeouts of each link (see PeerLinkOptions). */
  link?: PeerLinkManagerOptions['link'];
  /** Close a link after this long without traffic. Default: the manager's (5 min). */
  idleTimeoutMs?: number;
}

/**
 * Direct peer-to-peer links (werift data channels) as a route for session envelopes. The
 * signals that set a link up (SDP with the DTLS fingerprint, ICE) go through `sendSignal`,
 * which the secure channels carry inside the pairwise ratchet session, so the signaling server
 * can neither read nor swap them.
 */
export class PeerRoute {
  private readonly manager: PeerLinkManager;
  private readonly subscriptions = new DisposableCollection();
  private readonly opening = new Set<UserId>();

  constructor(
    localId: UserId,
    sendSignal: (to: UserId, signal: PeerSignal) => Promise<void>,
    onEnvelope: (from: UserId, payload: Uint8Array) => void,
    onAcks: (from: UserId, record: Uint8Array) => void,
    onConnected: (peer: UserId) => void,
    private readonly logger: Logger,
    options: PeerRouteOptions = {},
  ) {
    this.manager = new PeerLinkManager({
      localId,
      sendSignal: (to, signal) => sendSignal(to as UserId, signal),
      ...(options.link ? { link: options.link } : {}),
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      retry: { maxAttempts: 2 },
    });
    this.subscriptions.push(this.manager.onMessage(({ remoteId, channel, data }) => {
      if (channel === PEER_ENVELOPE_CHANNEL) onEnvelope(remoteId as UserId, data);
      else if (channel === PEER_ACK_CHANNEL) onAcks(remoteId as UserId, data);
    }));
    this.subscriptions.push(this.manager.onDidChangeState(({ remoteId, state }) => {
      if (state === 'connected') onConnected(remoteId as UserId);
    }));
    this.subscriptions.push(this.manager.onError(({ remoteId, error }) => this.logger.info('peer link problem', { peer: remoteId, code: error.code })));
  }

  /** The link manager (shared with the kernel's PeerStreams). */
  get links(): PeerLinkManager {
    return this.manager;
  }

  isConnected(peer: UserId): boolean {
    return this.manager.get(peer)?.state === 'connected';
  }

  /** Sends an envelope on the open link. @throws AppError `peer/*` when it is not (or no longer) open. */
  send(peer: UserId, payload: Uint8Array): Promise<void> {
    return this.sendOn(peer, PEER_ENVELOPE_CHANNEL, payload);
  }

  /** Sends an `acks` record (plain: see {@link PEER_ACK_CHANNEL}) on the open link. @throws as {@link send} */
  sendAcks(peer: UserId, record: Uint8Array): Promise<void> {
    return this.sendOn(peer, PEER_ACK_CHANNEL, record);
  }

  private sendOn(peer: UserId, channel: string, data: Uint8Array): Promise<void> {
    const link = this.manager.get(peer);
    if (!link) return Promise.reject(new Error('no link'));
    return link.send(channel, data);
  }

  /** Opens a link to `peer` in the background unless one is open or opening. */
  open(peer: UserId): void {
    const state = this.manager.get(peer)?.state;
    if (state === 'connected' || state === 'connecting' || this.opening.has(peer)) return;
    this.opening.add(peer);
    this.manager.send(peer, PEER_HELLO_CHANNEL, new Uint8Array(0)).then(
      () => this.logger.debug('peer link open', { peer }),
      (error) => this.logger.info('no direct link; staying on the relay', { peer, code: isAppError(error) ? error.code : 'unknown' }),
    ).finally(() => this.opening.delete(peer));
  }

  /** Applies a signal that arrived (decrypted, authenticated) from `peer`. */
  handleSignal(peer: UserId, signal: unknown): Promise<void> {
    return this.manager.handleSignal(peer, signal);
  }

  async dispose(): Promise<void> {
    this.subscriptions.dispose();
    await this.manager.dispose();
  }
}
