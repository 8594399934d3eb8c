import { randomBytes } from 'node:crypto';
import type { DtlsKeys, RTCDataChannel, RTCPeerConnection } from 'werift';
import { AppError, DisposableCollection, Emitter, toDisposable, type Event } from '@discordopus/sdk';
import { parsePeerSignal, sdpFingerprint, type PeerSignal } from './peer-signal.ts';
import {
  decodeFrame,
  encodeChannelName,
  encodeFrame,
  FrameReassembler,
  KEEPALIVE_FRAME,
  MAX_FRAME_BYTES,
  RECORD_OVERHEAD,
  recordSize,
  type FrameRecord,
} from './peer-frame.ts';

/**
 * `new` until the first connect; `connecting` while a session is being set up; `connected` when
 * the kernel channel is open; `disconnected` after an established link dropped or the peer said
 * bye; `failed` when setting up did not succeed (see the error event: unreachable, DTLS
 * failure); `closed` for good after {@link PeerLink.close}.
 */
export type PeerLinkState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** A STUN or TURN server, as in RTCIceServer. */
export interface PeerIceServer {
  urls: string;
  username?: string;
  credential?: string;
}

export interface PeerLinkOptions {
  localId: string;
  remoteId: string;
  /**
   * Delivers a signal to the remote link's `handleSignal`. The caller must carry it inside the
   * authenticated, encrypted pairwise session: the SDP holds the DTLS fingerprint, and a server
   * that could swap it could sit in the middle.
   */
  sendSignal(signal: PeerSignal): Promise<void> | void;
  /** STUN/TURN servers; none by default (werift would otherwise use Google's STUN). */
  iceServers?: PeerIceServer[];
  /** Tests and same-host use: offer 127.0.0.1 host candidates, no IPv6, and connect only to loopback addresses. */
  loopbackOnly?: boolean;
  /**
   * Use {@link LOOPBACK_SCTP_TUNING} (werift patch: 16 KiB chunks, bigger windows, ...). Default:
   * on with `loopbackOnly`, off otherwise; `false` with `loopbackOnly` runs the settings links use
   * over real networks, on loopback (benchmarks compare the two).
   */
  sctpTuning?: boolean;
  /** How long connect() waits for the channel to open before `peer/unreachable`. Default 20 s. */
  connectTimeoutMs?: number;
  /** Send a keepalive after this much send silence. Default 5 s. */
  keepaliveMs?: number;
  /** Declare the link lost after this much receive silence. Default 15 s. */
  deadAfterMs?: number;
  /** Largest message send() accepts and the receiver reassembles. Default 16 MiB. */
  maxMessageBytes?: number;
}

/** One message on a logical channel. */
export interface PeerLinkMessage {
  channel: string;
  data: Uint8Array;
}

/** A data channel the peer opened on a session of this link (byte streams use these). */
export interface PeerLinkRemoteChannel {
  readonly session: string;
  readonly channel: RTCDataChannel;
}

/** A session of the link ended; its data channels end with it. */
export interface PeerLinkSessionEnd {
  readonly session: string;
  readonly error: AppError;
}

// Backpressure: werift keeps what we hand it in memory and slows down with many queued messages.
// A frame goes out at once when werift's buffer is empty (latency); otherwise only frames of at
// least BATCH bytes while it holds less than HIGH (so at most HIGH / BATCH frames sit in
// werift), and smaller ones wait and batch until it drains.
const HIGH_WATER_BYTES = 1024 * 1024;
const BATCH_BYTES = 32 * 1024;
// Do not split a message into a slice smaller than this just to fill a frame's tail.
const MIN_SLICE_BYTES = 1024;
// Our side accepts up to this per data-channel message (Chromium's value); we send <= 64 KiB.
const LOCAL_MAX_MESSAGE_SIZE = 262_144;
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const CONSENT_RESPONSE_TIMEOUT_MS = 4_000;
const MAX_STREAM_ID = 65_534;
/**
 * werift patch settings every session uses, on any path: they change when SACKs are sent (one per
 * event-loop turn, and inside a DATA packet going the other way when there is one), not packet
 * sizes, so they are safe across the internet. Request/response traffic then needs 2 packets per
 * exchange instead of 4 (docs/werift-tuning.md).
 */
const PATH_INDEPENDENT_SCTP = { sackCoalescing: true, sackBundling: true } as const;
/**
 * The werift patch's tuned data-channel settings (docs/werift-tuning.md, measured 5-10x the
 * throughput at 1/6-1/8 the CPU per MB). Only where both ends are werift and 16 KiB datagrams
 * surely pass: loopback (`loopbackOnly`). Never towards Chromium or across the internet.
 */
export const LOOPBACK_SCTP_TUNING = {
  sctp: { maxPayloadSize: 16_356, ...PATH_INDEPENDENT_SCTP, maxBurst: 16, receiveWindow: 4 * 1024 * 1024 },
  iceUdpSocketBufferSize: SOCKET_BUFFER_BYTES,
} as const;
const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const REMEMBERED_SESSIONS = 16;
const EARLY_CANDIDATES_PER_SESSION = 32;

type CandidateSignal = Extract<PeerSignal, { kind: 'candidate' }>;

interface Session {
  readonly id: string;
  readonly pc: RTCPeerConnection;
  readonly dc: RTCDataChannel;
  readonly subscriptions: DisposableCollection;
  readonly pendingCandidates: CandidateSignal[];
  remoteDescriptionSet: boolean;
  remoteFingerprint: string | undefined;
  /** Frame size limit: ours, or less if the remote SDP's max-message-size says so. */
  maxFrameBytes: number;
  /** The remote SDP's max-message-size (0: no limit); werift refuses bigger data-channel messages. */
  remoteMaxMessageSize: number;
  open: boolean;
  /** Next stream id for an extra data channel (see nextChannelId). */
  nextChannelId: number | undefined;
  /** Wakes a pump waiting for the send buffer to drain (also on teardown). */
  wake: (() => void) | undefined;
}

interface OutgoingMessage {
  readonly channel: string;
  readonly name: Uint8Array;
  readonly data: Uint8Array;
  offset: number;
  readonly resolve: () => void;
  readonly reject: (error: AppError) => void;
}

type Werift = typeof import('werift');
let weriftModule: Promise<Werift> | undefined;

/** werift, imported by the first link: a client that never opens one (most CLI commands) skips ~0.6 s of CPU. */
function loadWerift(): Promise<Werift> {
  weriftModule ??= import('werift');
  weriftModule.catch(() => (weriftModule = undefined));
  return weriftModule;
}

/**
 * An encrypted (DTLS) peer-to-peer link to one contact over werift, carrying named logical
 * channels with reliable, ordered messages on one SCTP data channel.
 *
 * Roles are fixed so both ends agree without negotiation: the smaller id offers; the other end
 * asks for an offer with a `restart` signal. Each offer starts a new session (a fresh
 * RTCPeerConnection), which is also how a dropped link reconnects.
 */
export class PeerLink {
  readonly localId: string;
  readonly remoteId: string;
  /** True when this end creates offers (its id sorts first). */
  readonly isOfferer: boolean;

  private readonly onMessageEmitter = new Emitter<PeerLinkMessage>();
  private readonly onDidChangeStateEmitter = new Emitter<PeerLinkState>();
  private readonly onErrorEmitter = new Emitter<AppError>();
  /** A complete message arrived on a logical channel. */
  readonly onMessage: Event<PeerLinkMessage> = this.onMessageEmitter.event;
  readonly onDidChangeState: Event<PeerLinkState> = this.onDidChangeStateEmitter.event;
  /** Something went wrong that the caller may want to show or log; the link keeps running. */
  readonly onError: Event<AppError> = this.onErrorEmitter.event;
  private readonly onDidOpenRemoteChannelEmitter = new Emitter<PeerLinkRemoteChannel>();
  private readonly onDidEndSessionEmitter = new Emitter<PeerLinkSessionEnd>();
  /** The peer opened an extra data channel (see {@link createChannel}) on the current session. */
  readonly onDidOpenRemoteChannel: Event<PeerLinkRemoteChannel> = this.onDidOpenRemoteChannelEmitter.event;
  /** A session ended (dropped, replaced by a new one, closed): its extra data channels are dead. */
  readonly onDidEndSession: Event<PeerLinkSessionEnd> = this.onDidEndSessionEmitter.event;

  private currentState: PeerLinkState = 'new';
  private session: Session | undefined;
  private lastRemoteSession: string | undefined;
  private lastError: AppError | undefined;
  private readonly endedSessions: string[] = [];
  private readonly earlyCandidates = new Map<string, CandidateSignal[]>();
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private keepaliveTimer: ReturnType<typeof setInterval> | undefined;
  private lastReceivedAt = 0;
  private lastSentAt = 0;
  private readonly queues = new Map<string, OutgoingMessage[]>();
  private readonly rotation: string[] = [];
  private pumping = false;
  private sessionStarting: string | undefined;
  private pumpScheduled = false;
  /** A frame went to werift in this event-loop turn (reset by setImmediate): see send(). */
  private wroteThisTurn = false;
  private queuedBytes = 0;
  private readonly reassembler: FrameReassembler;
  private readonly certificate: Promise<DtlsKeys>;
  /** Set once loaded, which the certificate waits for: every session is made after that. */
  private werift: Werift | undefined;
  private readonly connectTimeoutMs: number;
  private readonly keepaliveMs: number;
  private readonly deadAfterMs: number;
  private readonly maxMessageBytes: number;

  constructor(private readonly options: PeerLinkOptions) {
    if (typeof options.localId !== 'string' || typeof options.remoteId !== 'string' || !options.localId || !options.remoteId) {
      throw new TypeError('PeerLink: localId and remoteId must be non-empty strings');
    }
    if (options.localId === options.remoteId) throw new RangeError('PeerLink: localId and remoteId must differ');
    if (typeof options.sendSignal !== 'function') throw new TypeError('PeerLink: sendSignal must be a function');
    if (options.sctpTuning !== undefined && typeof options.sctpTuning !== 'boolean') throw new TypeError('PeerLink: sctpTuning must be a boolean');
    this.localId = options.localId;
    this.remoteId = options.remoteId;
    this.isOfferer = options.localId < options.remoteId;
    this.connectTimeoutMs = positive(options.connectTimeoutMs, 20_000, 'connectTimeoutMs');
    this.keepaliveMs = positive(options.keepaliveMs, 5_000, 'keepaliveMs');
    this.deadAfterMs = positive(options.deadAfterMs, 15_000, 'deadAfterMs');
    this.maxMessageBytes = positive(options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes');
    this.reassembler = new FrameReassembler(this.maxMessageBytes);
    // werift would reuse one certificate for every connection of the process, which lets a
    // network observer link a user's connections to different contacts; ~20 ms per link.
    this.certificate = loadWerift().then((werift) => {
      this.werift = werift;
      return werift.CipherContext.createSelfSignedCertificateWithKey(
        { signature: werift.SignatureAlgorithm.ecdsa_3, hash: werift.HashAlgorithm.sha256_4 },
        werift.NamedCurveAlgorithm.secp256r1_23,
      );
    });
    this.certificate.catch(() => {});
  }

  get state(): PeerLinkState {
    return this.currentState;
  }

  /** Bytes handed to werift and not yet sent (bounded by backpressure to about 1 MiB). */
  get bufferedAmount(): number {
    return this.session?.dc.bufferedAmount ?? 0;
  }

  /**
   * The remote DTLS certificate fingerprint (`"sha-256 AB:CD:…"`) from the remote SDP of the
   * current session. werift's DTLS handshake refuses a certificate that does not match it, so
   * when the SDP came through the authenticated envelope, the link is bound to that contact.
   */
  remoteFingerprint(): string | undefined {
    return this.session?.remoteFingerprint;
  }

  /** Id of the open session, if connected. */
  get sessionId(): string | undefined {
    return this.currentState === 'connected' ? this.session?.id : undefined;
  }

  /** Largest data-channel message the peer accepts on the open session (its SDP max-message-size; 0: no limit). */
  get remoteMaxMessageSize(): number | undefined {
    return this.currentState === 'connected' ? this.session?.remoteMaxMessageSize : undefined;
  }

  /**
   * Opens an extra data channel (ordered, reliable, announced to the peer in-band) on the open
   * session, beside the kernel channel. It lives as long as the session: {@link onDidEndSession}
   * tells when that ends. Traffic on it counts as a sign of life for the keepalive.
   * @throws AppError `peer/not-connected` when no session is open.
   */
  createChannel(label: string, protocol: string): { session: string; channel: RTCDataChannel } {
    const session = this.session;
    if (this.currentState !== 'connected' || !session?.open) {
      throw new AppError('peer/not-connected', `There is no open link to ${this.remoteId}; connect first.`, { details: { remoteId: this.remoteId, state: this.currentState } });
    }
    const id = this.nextChannelId(session);
    const channel = session.pc.createDataChannel(label, { ordered: true, protocol, ...(id === undefined ? {} : { id }) });
    this.watchChannel(session, channel);
    return { session: session.id, channel };
  }

  /**
   * Opens the link, or joins the attempt in progress. Resolves when the kernel channel is open.
   * @throws AppError `peer/unreachable` (no path within connectTimeoutMs), `peer/dtls-failed`,
   *   `peer/remote-closed`, `peer/link-closed` (after close()).
   */
  async connect(): Promise<void> {
    if (this.currentState === 'closed') throw this.closedError();
    if (this.currentState === 'connected') return;
    const outcome = this.waitForOutcome();
    if (this.currentState !== 'connecting') {
      this.lastError = undefined;
      if (this.isOfferer) {
        void this.startSession();
      } else {
        this.setState('connecting');
        this.armConnectTimer();
        this.signal({ kind: 'restart', ...(this.lastRemoteSession ? { session: this.lastRemoteSession } : {}) });
      }
    }
    return outcome;
  }

  /**
   * Sends one message on a logical channel: reliable and ordered per channel. Resolves once the
   * whole message is handed to the transport (delivery is confirmed by the layer above, e.g.
   * receipts); awaiting it gives backpressure.
   * @throws TypeError / RangeError (synchronously) for a bad channel name (1..255 UTF-8 bytes),
   *   data that is not a Uint8Array, or a message over maxMessageBytes.
   * @throws AppError `peer/not-connected`, `peer/link-lost` (the link dropped before the whole
   *   message was sent: it was not delivered, retry on a new link), `peer/link-closed`.
   */
  send(channel: string, data: Uint8Array): Promise<void> {
    const name = encodeChannelName(channel);
    if (!(data instanceof Uint8Array)) throw new TypeError('PeerLink.send: data must be a Uint8Array');
    if (data.length > this.maxMessageBytes) {
      throw new RangeError(`PeerLink.send: message of ${data.length} bytes exceeds maxMessageBytes ${this.maxMessageBytes}`);
    }
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    if (this.currentState !== 'connected') {
      return Promise.reject(
        new AppError('peer/not-connected', `There is no open link to ${this.remoteId}; connect first (the link manager does this and retries).`, {
          details: { remoteId: this.remoteId, state: this.currentState },
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      let queue = this.queues.get(channel);
      if (!queue) {
        queue = [];
        this.queues.set(channel, queue);
        this.rotation.push(channel);
      }
      queue.push({ channel, name, data, offset: 0, resolve, reject });
      this.queuedBytes += data.length;
      // On the next microtask, so a burst of sends shares frames.
      if (!this.pumpScheduled && !this.pumping) {
        this.pumpScheduled = true;
        const run = () => {
          this.pumpScheduled = false;
          void this.pump();
        };
        // The first frame of an event-loop turn leaves on the next microtask (lowest latency);
        // later sends of the same turn (a handler answering several messages across awaits)
        // wait for the turn's end and share one frame, as Nagle holds small segments.
        if (this.wroteThisTurn) setImmediate(run);
        else queueMicrotask(run);
      }
    });
  }

  /**
   * Validates and applies a signal from the remote link. Never throws: malformed or unexpected
   * signals are reported on {@link onError} (`peer/bad-signal`) and ignored.
   */
  async handleSignal(value: unknown): Promise<void> {
    const parsed = parsePeerSignal(value);
    if ('error' in parsed) {
      this.reportError(new AppError('peer/bad-signal', `Ignored a malformed signal from ${this.remoteId} (${parsed.error}).`));
      return;
    }
    if (this.currentState === 'closed') return;
    const signal = parsed.signal;
    try {
      switch (signal.kind) {
        case 'offer':
          return await this.onOffer(signal);
        case 'answer':
          return await this.onAnswer(signal);
        case 'candidate':
          return await this.onCandidate(signal);
        case 'restart':
          return this.onRestart(signal);
        case 'bye':
          return this.onBye(signal);
      }
    } catch (error) {
      const appError = new AppError('peer/bad-signal', `Could not apply a '${signal.kind}' signal from ${this.remoteId}: ${(error as Error).message}.`, {
        cause: error,
      });
      this.reportError(appError);
      // A session whose descriptions could not be applied will never open: end it now.
      if (this.session?.id === signal.session && this.currentState === 'connecting') this.fail(appError);
    }
  }

  /** Closes the link for good: tells the peer (bye), rejects pending sends, releases werift. */
  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    const session = this.session;
    if (session) this.signal({ kind: 'bye', session: session.id });
    this.clearConnectTimer();
    const closing = this.endSession(this.closedError());
    this.setState('closed');
    this.onMessageEmitter.dispose();
    this.onDidChangeStateEmitter.dispose();
    this.onErrorEmitter.dispose();
    this.onDidOpenRemoteChannelEmitter.dispose();
    this.onDidEndSessionEmitter.dispose();
    await closing;
  }

  // ---- sessions ----

  private async startSession(): Promise<void> {
    const id = randomBytes(12).toString('base64url');
    const wasConnected = this.currentState === 'connected';
    void this.endSession(wasConnected ? this.lostError('a new session replaced it') : undefined);
    this.setState('connecting');
    this.armConnectTimer();
    this.sessionStarting = id;
    const keys = await this.certificate.catch(() => undefined);
    if (!keys) {
      if (this.sessionStarting === id) this.fail(new AppError('peer/connect-failed', `Could not create a DTLS certificate for the link to ${this.remoteId}.`));
      return;
    }
    // A newer start, an offer, or close() came in while the certificate was made.
    if (this.sessionStarting !== id || this.currentState !== 'connecting' || this.session) return;
    this.sessionStarting = undefined;
    const session = this.createSession(id, keys);
    try {
      const offer = await session.pc.createOffer();
      await session.pc.setLocalDescription(offer);
      if (!this.isCurrent(session)) return;
      this.signal({ kind: 'offer', session: id, sdp: session.pc.localDescription!.sdp });
    } catch (error) {
      if (this.isCurrent(session)) this.fail(new AppError('peer/connect-failed', `Could not create an offer for ${this.remoteId}: ${(error as Error).message}.`, { cause: error }));
    }
  }

  private async onOffer(signal: Extract<PeerSignal, { kind: 'offer' }>): Promise<void> {
    if (this.isOfferer) {
      this.reportError(new AppError('peer/bad-signal', `Ignored an offer from ${this.remoteId}: this end makes the offers.`));
      return;
    }
    const keys = await this.certificate;
    if (this.currentState === 'closed') return;
    if (this.session?.id === signal.session || this.endedSessions.includes(signal.session)) return;
    const wasConnected = this.currentState === 'connected';
    void this.endSession(wasConnected ? this.lostError('the peer started a new session') : undefined);
    const session = this.createSession(signal.session, keys);
    this.lastRemoteSession = signal.session;
    this.lastError = undefined;
    this.setState('connecting');
    this.armConnectTimer();
    const early = this.earlyCandidates.get(signal.session) ?? [];
    this.earlyCandidates.delete(signal.session);
    session.pendingCandidates.push(...early);
    await this.applyRemoteDescription(session, 'offer', signal.sdp);
    const answer = await session.pc.createAnswer();
    await session.pc.setLocalDescription(answer);
    if (!this.isCurrent(session)) return;
    this.signal({ kind: 'answer', session: session.id, sdp: session.pc.localDescription!.sdp });
  }

  private async onAnswer(signal: Extract<PeerSignal, { kind: 'answer' }>): Promise<void> {
    const session = this.session;
    if (!this.isOfferer || !session || session.id !== signal.session || session.remoteDescriptionSet) return;
    await this.applyRemoteDescription(session, 'answer', signal.sdp);
  }

  private async applyRemoteDescription(session: Session, type: 'offer' | 'answer', sdp: string): Promise<void> {
    session.remoteFingerprint = sdpFingerprint(sdp);
    // A peer that is not a PeerLink may accept less than our frame size (werift's default 64 KiB).
    const advertised = /^a=max-message-size:(\d+)\s*$/m.exec(sdp);
    const limit = advertised ? Number(advertised[1]) : 65_536;
    session.remoteMaxMessageSize = limit;
    session.maxFrameBytes = limit === 0 ? MAX_FRAME_BYTES : Math.max(1024, Math.min(MAX_FRAME_BYTES, limit));
    await session.pc.setRemoteDescription({ type, sdp });
    session.remoteDescriptionSet = true;
    // werift trickles before the other side has our description: candidates wait until now.
    for (const candidate of session.pendingCandidates.splice(0)) await this.addCandidate(session, candidate);
  }

  private async onCandidate(signal: CandidateSignal): Promise<void> {
    const session = this.session;
    if (session?.id === signal.session) {
      if (session.remoteDescriptionSet) await this.addCandidate(session, signal);
      else session.pendingCandidates.push(signal);
      return;
    }
    // Candidates may overtake the offer they belong to; keep a few for a session not seen yet.
    if (this.isOfferer || this.endedSessions.includes(signal.session)) return;
    let list = this.earlyCandidates.get(signal.session);
    if (!list) {
      if (this.earlyCandidates.size >= 4) this.earlyCandidates.delete(this.earlyCandidates.keys().next().value!);
      list = [];
      this.earlyCandidates.set(signal.session, list);
    }
    if (list.length < EARLY_CANDIDATES_PER_SESSION) list.push(signal);
  }

  private async addCandidate(session: Session, signal: CandidateSignal): Promise<void> {
    await session.pc.addIceCandidate({ candidate: signal.candidate, sdpMid: signal.sdpMid, sdpMLineIndex: signal.sdpMLineIndex });
  }

  private onRestart(signal: Extract<PeerSignal, { kind: 'restart' }>): void {
    if (!this.isOfferer) {
      this.reportError(new AppError('peer/bad-signal', `Ignored a restart request from ${this.remoteId}: this end answers, it does not offer.`));
      return;
    }
    const current = this.session?.id ?? this.sessionStarting;
    // Our offer for a newer session is already on its way: the peer will take that one.
    if (this.currentState === 'connecting' && current !== undefined && signal.session !== current) return;
    // A late request about an older session while a newer one works.
    if (this.currentState === 'connected' && signal.session !== undefined && signal.session !== current) return;
    this.lastError = undefined;
    void this.startSession();
  }

  private onBye(signal: Extract<PeerSignal, { kind: 'bye' }>): void {
    if (this.session?.id !== signal.session) return;
    const error = new AppError('peer/remote-closed', `${this.remoteId} closed the link; it reopens when either side has something to send.`, {
      details: { remoteId: this.remoteId },
    });
    this.clearConnectTimer();
    void this.endSession(error);
    this.lastError = error;
    this.setState('disconnected');
  }

  private createSession(id: string, keys: DtlsKeys): Session {
    if (!this.werift) throw new Error('PeerLink: werift is not loaded before the certificate (a bug)');
    const pc = new this.werift.RTCPeerConnection({
      dtls: { keys },
      iceServers: (this.options.iceServers ?? []).map((s) => ({ ...s })),
      // Tests must never dial out: offer 127.0.0.1 and check only pairs with a loopback remote.
      ...(this.options.loopbackOnly
        ? {
          iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false, iceFilterCandidatePair: (pair: { remoteCandidate: { host: string } }) => pair.remoteCandidate.host.startsWith('127.'),
        }
        : {}),
      // 16 KiB packets only where they surely pass (loopback: both ends are werift); the SACK
      // settings on every path.
      ...((this.options.sctpTuning ?? this.options.loopbackOnly) ? LOOPBACK_SCTP_TUNING : { sctp: PATH_INDEPENDENT_SCTP }),
      maxMessageSize: LOCAL_MAX_MESSAGE_SIZE,
    });
    // Negotiated on both ends with a fixed id: open as soon as SCTP is up, no DCEP round trip.
    const dc = pc.createDataChannel('kernel', { negotiated: true, id: 0, ordered: true });
    dc.bufferedAmountLowThreshold = 0;
    const session: Session = {
      id,
      pc,
      dc,
      subscriptions: new DisposableCollection(),
      pendingCandidates: [],
      remoteDescriptionSet: false,
      remoteFingerprint: undefined,
      maxFrameBytes: MAX_FRAME_BYTES,
      remoteMaxMessageSize: 65_536,
      nextChannelId: undefined,
      open: false,
      wake: undefined,
    };
    const on = <T extends unknown[]>(event: { subscribe(fn: (...args: T) => void): { unSubscribe(): void } }, fn: (...args: T) => void) => {
      const sub = event.subscribe((...args: T) => {
        if (this.session === session) fn(...args);
      });
      session.subscriptions.push(toDisposable(() => sub.unSubscribe()));
    };
    on(pc.onIceCandidate, (candidate) => {
      if (!candidate?.candidate) return;
      this.signal({
        kind: 'candidate',
        session: id,
        candidate: candidate.candidate,
        ...(candidate.sdpMid != null ? { sdpMid: candidate.sdpMid } : {}),
        ...(candidate.sdpMLineIndex != null ? { sdpMLineIndex: candidate.sdpMLineIndex } : {}),
      });
    });
    on(dc.stateChanged, (state) => {
      if (state === 'open') this.onSessionOpen(session);
      else if (state === 'closed' && session.open) this.lose(this.lostError('the data channel closed'));
    });
    on(dc.onMessage, (data) => this.onFrame(data));
    on(pc.onDataChannel, (channel) => {
      // Only DCEP-announced channels arrive here (the kernel channel is negotiated).
      this.watchChannel(session, channel);
      this.onDidOpenRemoteChannelEmitter.fire({ session: id, channel });
    });
    on(dc.bufferedAmountLow, () => session.wake?.());
    on(pc.connectionStateChange, (state) => {
      if (state === 'failed' || state === 'closed') {
        if (session.open) this.lose(this.lostError(`the connection ${state}`));
        else this.fail(this.setupFailedError(session));
      }
    });
    this.session = session;
    return session;
  }

  /**
   * A stream id not used before in this session. werift reuses the lowest free id at once; a
   * new channel on an id whose reset is still in flight confuses both ends (the peer answers the
   * new channel's open as a duplicate of the old one, then werift throws "channel not found" as
   * an unhandled rejection). Ids keep werift's parity (0/1 by DTLS role); 0 is the kernel channel.
   */
  private nextChannelId(session: Session): number | undefined {
    const transport = session.pc.sctpTransport as unknown as { dataChannelId?: number; dataChannels?: Record<string, unknown> } | undefined;
    const parity = transport?.dataChannelId;
    if ((parity !== 0 && parity !== 1) || !transport?.dataChannels) return undefined;
    let id = session.nextChannelId ?? parity + 2;
    for (let tries = 0; transport.dataChannels[id] !== undefined || id > MAX_STREAM_ID; tries++) {
      if (tries > MAX_STREAM_ID) return undefined; // all taken: let werift say so
      id = id + 2 > MAX_STREAM_ID ? parity + 2 : id + 2;
    }
    session.nextChannelId = id + 2;
    return id;
  }

  /** Traffic on an extra channel keeps the link alive: a busy stream may delay keepalives. */
  private watchChannel(session: Session, channel: RTCDataChannel): void {
    const sub = channel.onMessage.subscribe(() => {
      if (this.session === session) this.lastReceivedAt = Date.now();
    });
    session.subscriptions.push(toDisposable(() => sub.unSubscribe()));
  }

  private isCurrent(session: Session): boolean {
    return this.session === session;
  }

  private onSessionOpen(session: Session): void {
    session.open = true;
    enlargeSocketBuffers(session.pc);
    relaxConsentChecks(session.pc);
    guardChannelReceive(session.pc, (error) => {
      if (this.session === session) this.reportError(new AppError('peer/bad-frame', `Ignored a data-channel message from ${this.remoteId} that werift could not handle (${error instanceof Error ? error.message : String(error)}).`));
    });
    this.clearConnectTimer();
    this.lastReceivedAt = this.lastSentAt = Date.now();
    this.keepaliveTimer = setInterval(() => this.keepalive(session), Math.min(this.keepaliveMs, this.deadAfterMs / 3));
    this.setState('connected');
    void this.pump();
  }

  private keepalive(session: Session): void {
    if (this.session !== session || !session.open) return;
    const now = Date.now();
    if (now - this.lastReceivedAt > this.deadAfterMs) {
      this.lose(this.lostError(`nothing arrived for ${this.deadAfterMs} ms`));
      return;
    }
    if (now - this.lastSentAt >= this.keepaliveMs) this.write(session, KEEPALIVE_FRAME);
  }

  /** An open session dropped. */
  private lose(error: AppError): void {
    void this.endSession(error);
    this.lastError = error;
    this.reportError(error);
    this.setState('disconnected');
  }

  /** Setting up did not succeed. */
  private fail(error: AppError): void {
    this.clearConnectTimer();
    void this.endSession(error);
    this.lastError = error;
    this.reportError(error);
    this.setState('failed');
  }

  /** Tears the current session down and rejects what was still queued. */
  private endSession(error: AppError | undefined): Promise<void> {
    const session = this.session;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    const pending = [...this.queues.values()].flat();
    this.queues.clear();
    this.rotation.length = 0;
    this.queuedBytes = 0;
    const reason = error ?? this.lostError('the session ended');
    for (const message of pending) message.reject(reason);
    this.reassembler.reset();
    if (!session) return Promise.resolve();
    this.session = undefined;
    this.endedSessions.push(session.id);
    if (this.endedSessions.length > REMEMBERED_SESSIONS) this.endedSessions.shift();
    session.wake?.();
    session.subscriptions.dispose();
    this.onDidEndSessionEmitter.fire({ session: session.id, error: reason });
    return session.pc.close().catch(() => {});
  }

  private setupFailedError(session: Session): AppError {
    const dtls = session.pc.dtlsTransports.some((t) => t.state === 'failed');
    if (dtls) {
      return new AppError(
        'peer/dtls-failed',
        `The secure handshake with ${this.remoteId} failed: its certificate did not match the fingerprint in its signed offer/answer. The link was not opened; if this repeats, someone may be interfering with the connection.`,
        { details: { remoteId: this.remoteId } },
      );
    }
    return new AppError('peer/connect-failed', `Could not connect to ${this.remoteId}: the connection failed during setup. Messages stay queued; it will be retried.`, {
      details: { remoteId: this.remoteId },
    });
  }

  // ---- data ----

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.rotation.length > 0) {
        const session = this.session;
        if (!session?.open || this.currentState !== 'connected') return;
        const buffered = session.dc.bufferedAmount;
        const batchReady = this.queuedBytes >= BATCH_BYTES && buffered + Math.min(this.queuedBytes, session.maxFrameBytes) <= HIGH_WATER_BYTES;
        if (buffered > 0 && !batchReady) {
          // Woken by bufferedAmountLow (threshold 0) or by the session ending.
          await new Promise<void>((resolve) => (session.wake = resolve));
          session.wake = undefined;
          continue;
        }
        const { frame, completed } = this.buildFrame(session.maxFrameBytes);
        if (!this.write(session, frame)) {
          for (const message of completed) message.reject(this.lostError('the transport refused a frame'));
          return;
        }
        for (const message of completed) message.resolve();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Fills one frame from the queues, one record per channel in turn. */
  private buildFrame(maxFrameBytes: number): { frame: Buffer; completed: OutgoingMessage[] } {
    const records: FrameRecord[] = [];
    const completed: OutgoingMessage[] = [];
    let room = maxFrameBytes - 1;
    while (this.rotation.length > 0) {
      const channel = this.rotation[0]!;
      const queue = this.queues.get(channel)!;
      const message = queue[0]!;
      const remaining = message.data.length - message.offset;
      const capacity = room - RECORD_OVERHEAD - message.name.length;
      if (records.length > 0 && capacity < Math.min(remaining, MIN_SLICE_BYTES)) break;
      const take = Math.min(capacity, remaining);
      const more = take < remaining;
      records.push({ name: message.name, payload: message.data.subarray(message.offset, message.offset + take), more });
      message.offset += take;
      this.queuedBytes -= take;
      room -= recordSize(message.name.length, take);
      this.rotation.shift();
      if (!more) {
        queue.shift();
        completed.push(message);
      }
      if (queue.length > 0) this.rotation.push(channel);
      else this.queues.delete(channel);
      if (room <= RECORD_OVERHEAD + 1) break;
    }
    return { frame: encodeFrame(records), completed };
  }

  private write(session: Session, frame: Uint8Array): boolean {
    try {
      session.dc.send(Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.length));
      this.lastSentAt = Date.now();
      if (!this.wroteThisTurn) {
        this.wroteThisTurn = true;
        setImmediate(() => (this.wroteThisTurn = false));
      }
      return true;
    } catch (error) {
      this.lose(this.lostError(`sending failed (${(error as Error).message})`));
      return false;
    }
  }

  private onFrame(data: string | Buffer): void {
    this.lastReceivedAt = Date.now();
    const frame = typeof data === 'string' ? undefined : decodeFrame(data);
    if (!frame) {
      this.reportError(new AppError('peer/bad-frame', `Ignored a malformed frame from ${this.remoteId}.`));
      return;
    }
    if (frame.kind === 'keepalive') return;
    for (const record of frame.records) {
      const result = this.reassembler.push(record.channel, record.payload, record.more);
      if (!result) continue;
      if ('tooLarge' in result) {
        this.reportError(
          new AppError('peer/message-too-large', `Dropped a message from ${this.remoteId} on '${record.channel}': over ${this.maxMessageBytes} bytes.`, {
            details: { remoteId: this.remoteId, channel: record.channel },
          }),
        );
        continue;
      }
      this.onMessageEmitter.fire({ channel: record.channel, data: result.message });
    }
  }

  // ---- helpers ----

  private signal(signal: PeerSignal): void {
    const report = (error: unknown) =>
      this.reportError(new AppError('peer/signal-failed', `Could not send a '${signal.kind}' signal to ${this.remoteId}: ${(error as Error)?.message ?? error}.`, { cause: error }));
    try {
      const result = this.options.sendSignal(signal);
      if (result && typeof (result as Promise<void>).catch === 'function') (result as Promise<void>).catch(report);
    } catch (error) {
      report(error);
    }
  }

  private waitForOutcome(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sub = this.onDidChangeState((state) => {
        if (state === 'connected') {
          sub.dispose();
          resolve();
        } else if (state !== 'connecting') {
          sub.dispose();
          reject(state === 'closed' ? this.closedError() : (this.lastError ?? this.lostError('the connection attempt ended')));
        }
      });
    });
  }

  private armConnectTimer(): void {
    if (this.connectTimer) return;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      if (this.currentState !== 'connecting') return;
      this.fail(
        new AppError(
          'peer/unreachable',
          `Could not reach ${this.remoteId} within ${Math.round(this.connectTimeoutMs / 1000)} s: no network path was found (the contact may be offline, or both sides are behind NATs that need a TURN server). Messages stay queued; try again later or configure a TURN server.`,
          { details: { remoteId: this.remoteId } },
        ),
      );
    }, this.connectTimeoutMs);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  private setState(state: PeerLinkState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.onDidChangeStateEmitter.fire(state);
  }

  private reportError(error: AppError): void {
    this.onErrorEmitter.fire(error);
  }

  private lostError(why: string): AppError {
    return new AppError('peer/link-lost', `The link to ${this.remoteId} dropped (${why}); a message not fully sent was not delivered and can be sent again after reconnecting.`, {
      details: { remoteId: this.remoteId },
    });
  }

  private closedError(): AppError {
    return new AppError('peer/link-closed', `The link to ${this.remoteId} is closed; open a new one to send.`, { details: { remoteId: this.remoteId } });
  }
}

/**
 * Gives werift's UDP sockets 4 MiB buffers. With the default 208 KiB, a receiver whose event
 * loop is busy for a moment drops packets (UdpRcvbufErrors), and each loss costs SCTP a
 * retransmission timeout of at least 1 s. werift has no option for it, so this reaches into its
 * ICE objects; best effort (the kernel caps it at net.core.rmem_max / wmem_max).
 */
function enlargeSocketBuffers(pc: RTCPeerConnection): void {
  for (const transport of pc.iceTransports) {
    const protocols = (transport.connection as unknown as { protocols?: { transport?: { socket?: unknown } }[] }).protocols ?? [];
    for (const protocol of protocols) {
      const socket = protocol.transport?.socket as { setRecvBufferSize?(n: number): void; setSendBufferSize?(n: number): void } | undefined;
      try {
        socket?.setRecvBufferSize?.(SOCKET_BUFFER_BYTES);
        socket?.setSendBufferSize?.(SOCKET_BUFFER_BYTES);
      } catch {
        // Not bound (a candidate that lost) or refused by the OS: keep the default.
      }
    }
  }
}

/**
 * Lets an ICE consent check (RFC 7675) wait up to 4 s for its answer instead of werift's
 * max(500 ms, 2 x RTT + 200 ms). Under a bulk transfer the answer queues behind up to the
 * SCTP receive window of data in the peer's and our UDP buffers; on a busy machine that took
 * over a second, every check of 30 s missed, and werift failed a healthy connection mid-stream.
 * Consent checks are the only STUN requests sent without retransmissions; a check still fails
 * when its answer has not come by the next check (4-6 s later). Best effort: werift has no option.
 */
function relaxConsentChecks(pc: RTCPeerConnection): void {
  type Request = (request: unknown, addr: unknown, key: unknown, options?: unknown, onSent?: unknown) => Promise<unknown>;
  for (const transport of pc.iceTransports) {
    const protocols = (transport.connection as unknown as { protocols?: { request?: Request; consentRelaxed?: boolean }[] }).protocols ?? [];
    for (const protocol of protocols) {
      const original = protocol.request;
      if (typeof original !== 'function' || protocol.consentRelaxed) continue;
      protocol.consentRelaxed = true;
      protocol.request = function (this: unknown, request, addr, key, options, onSent) {
        const o = options as { retransmissions?: number; responseTimeout?: number } | undefined;
        const relaxed = o && typeof o === 'object' && o.retransmissions === 0 && typeof o.responseTimeout === 'number'
          ? { ...o, responseTimeout: Math.max(o.responseTimeout, CONSENT_RESPONSE_TIMEOUT_MS) }
          : options;
        return original.call(this, request, addr, key, relaxed, onSent);
      };
    }
  }
}

/**
 * werift handles incoming data-channel messages in an async function and throws from it, e.g.
 * "channel not found" for a DCEP ACK on an unknown stream: an unhandled rejection, which ends a
 * Node process. A peer (or a reset racing an ACK) could take the app down that way, so the
 * rejections of the SCTP receive handlers are caught and reported instead.
 */
function guardChannelReceive(pc: RTCPeerConnection, report: (error: unknown) => void): void {
  type Item = { execute: (...args: unknown[]) => unknown; guarded?: boolean };
  const sctp = (pc.sctpTransport as unknown as { sctp?: { onReceive?: { event?: { stack?: Item[] } } } } | undefined)?.sctp;
  for (const item of sctp?.onReceive?.event?.stack ?? []) {
    if (item.guarded) continue;
    item.guarded = true;
    const original = item.execute;
    item.execute = (...args: unknown[]) => {
      const result = original(...args);
      if (result instanceof Promise) result.catch(report);
      return result;
    };
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new RangeError(`PeerLink: ${name} must be a positive number`);
  return value;
}
