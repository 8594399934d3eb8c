import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  CipherContext, HashAlgorithm, MediaStreamTrack, NamedCurveAlgorithm, RTCPeerConnection, SignatureAlgorithm,
  type DtlsKeys, type RTCRtpTransceiver, type RtcpPacket, type RtpPacket,
} from 'werift';
import { MediaRecorder, getUserMedia } from 'werift/nonstandard';
import { AppError, DisposableCollection, Emitter, toDisposable, type Event } from '@discordopus/sdk';
import type {
  CallQuality, IceCandidateInit, MediaEngine, MediaKind, MediaRole, MediaSession, MediaSessionOptions, MediaSessionState,
} from '../common/media-engine.ts';
import { ReceivedRtpCounter } from './received-rtp-counter.ts';
import { VideoFrameCounter } from './video-frame-counter.ts';

/** The built-in test clip (VP8 + Opus WebM, 3 s, made by test/fixtures/media/make-clip.sh). */
export const BUILT_IN_CLIP = fileURLToPath(new URL('../../../../test/fixtures/media/clip.webm', import.meta.url));

export interface WeriftMediaEngineOptions {
  /** A WebM file (VP8 and/or Opus) to send, looped. Default: {@link BUILT_IN_CLIP}. */
  source?: string;
  /** Records what a call receives to a WebM file: a path, or the path for a call id (undefined: none). */
  record?: string | ((callId: string) => string | undefined);
  /** Called when a session receives its first complete VP8 keyframe (benchmark, tests). */
  onFirstVideoFrame?: (callId: string, at: number) => void;
}

/** Largest file `--send` accepts: the engine keeps the clip in memory to loop it. */
const MAX_SOURCE_BYTES = 256 * 1024 * 1024;
/** A peer's PLI/FIR restarts the clip at its first keyframe at most this often. */
const KEYFRAME_REQUEST_INTERVAL_MS = 1_000;
/** While a recording has had no keyframe yet, it asks the peer for one this often. */
const RECORDING_KEYFRAME_RETRY_MS = 1_000;

type Player = Awaited<ReturnType<typeof getUserMedia>>;

/**
 * A media engine on werift for headless clients and bots: sends a WebM file (VP8/Opus) in a
 * loop and records what it receives to WebM with werift's recorder. Audio and video are always
 * both negotiated (sendrecv), so turning the camera on or muting needs no renegotiation: the
 * engine just stops forwarding that kind.
 */
export class WeriftMediaEngine implements MediaEngine {
  readonly name = 'werift';
  private clip: Promise<Buffer> | undefined;
  /** The next session's DTLS certificate, made ahead so that it costs nothing when a call is answered. */
  private nextKeys: Promise<DtlsKeys> | undefined;

  constructor(private readonly options: WeriftMediaEngineOptions = {}) {}

  async createSession(options: MediaSessionOptions): Promise<MediaSession> {
    const clip = await this.loadClip();
    const record = typeof this.options.record === 'function' ? this.options.record(options.callId) : this.options.record;
    // A fresh certificate per call: one per process would let a network observer link calls.
    const keys = await (this.nextKeys ?? newCertificate());
    this.nextKeys = newCertificate();
    this.nextKeys.catch(() => (this.nextKeys = undefined));
    return new WeriftMediaSession(options, clip, keys, record, this.options.onFirstVideoFrame);
  }

  private loadClip(): Promise<Buffer> {
    this.clip ??= (async () => {
      const file = this.options.source ?? BUILT_IN_CLIP;
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch (error) {
        throw new AppError('calls/bad-source', `Cannot read the media file ${file}: ${(error as Error).message}`, { cause: error });
      }
      if (data.length > MAX_SOURCE_BYTES) throw new AppError('calls/bad-source', `The media file ${file} is larger than ${MAX_SOURCE_BYTES >> 20} MiB; use a shorter clip (it is looped).`);
      // Checks it now (codecs, container) rather than when a call connects.
      try {
        (await getUserMedia({ buffer: data })).stop();
      } catch (error) {
        throw new AppError('calls/bad-source', `The media file ${file} cannot be sent: ${(error as Error).message}. Use a WebM file with VP8 video and/or Opus audio.`, { cause: error });
      }
      return data;
    })();
    this.clip.catch(() => (this.clip = undefined));
    return this.clip;
  }
}

function newCertificate(): Promise<DtlsKeys> {
  return CipherContext.createSelfSignedCertificateWithKey(
    { signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 },
    NamedCurveAlgorithm.secp256r1_23,
  );
}

interface KindState {
  transceiver: RTCRtpTransceiver;
  /** What the sender sends: the player's packets pass through here unless muted. */
  gate: MediaStreamTrack;
  muted: boolean;
  sentPackets: number;
  received: ReceivedRtpCounter;
}

class WeriftMediaSession implements MediaSession {
  readonly callId: string;
  readonly role: MediaRole;
  private readonly pc: RTCPeerConnection;
  private readonly subs = new DisposableCollection();
  private readonly candidates = new Emitter<IceCandidateInit>();
  private readonly states = new Emitter<MediaSessionState>();
  private readonly negotiation = new Emitter<void>();
  readonly onLocalCandidate: Event<IceCandidateInit> = this.candidates.event;
  readonly onState: Event<MediaSessionState> = this.states.event;
  readonly onNegotiationNeeded: Event<void> = this.negotiation.event;
  private readonly kinds = new Map<MediaKind, KindState>();
  /** Mute choices made before the transceivers exist (answerer, before the offer). */
  private readonly initialMuted = new Map<MediaKind, boolean>();
  private readonly pending: IceCandidateInit[] = [];
  private remoteSet = false;
  private player: Player | undefined;
  /** Parsed while the call is being set up, started once it connects. */
  private readonly preparedPlayer: Promise<Player>;
  private playerSubs = new DisposableCollection();
  private lastKeyframeRestart = 0;
  private readonly frames = new VideoFrameCounter();
  private keyframeRequests = 0;
  private recorder: MediaRecorder | undefined;
  private recordingKeyframeTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly remoteTracks: MediaStreamTrack[] = [];
  private state: MediaSessionState = 'connecting';
  private closed = false;
  private camera: boolean;

  constructor(
    options: MediaSessionOptions,
    private readonly clip: Buffer,
    keys: DtlsKeys,
    private readonly recordPath: string | undefined,
    onFirstVideoFrame: ((callId: string, at: number) => void) | undefined,
  ) {
    this.callId = options.callId;
    this.role = options.role;
    this.camera = options.video;
    this.pc = new RTCPeerConnection({
      dtls: { keys },
      iceServers: options.iceServers.map((s) => ({ ...s })),
      ...(options.loopbackOnly ? { iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false } : {}),
    });
    if (!options.audio) this.kindMuted('audio', true);
    this.subs.push(subscribe(this.pc.onIceCandidate, (candidate) => {
      if (candidate) this.candidates.fire(candidate.toJSON() as IceCandidateInit);
    }));
    this.subs.push(subscribe(this.pc.connectionStateChange, (state) => this.onConnectionState(state)));
    this.subs.push(subscribe(this.pc.onTrack, (track) => this.onRemoteTrack(track)));
    if (onFirstVideoFrame) this.subs.push(this.frames.onFirstKeyframe((at) => onFirstVideoFrame(this.callId, at)));
    if (this.role === 'offerer') {
      for (const kind of ['audio', 'video'] as const) this.setUpKind(kind, this.pc.addTransceiver(kind, { direction: 'sendrecv' }));
    }
    this.preparedPlayer = getUserMedia({ buffer: clip, loop: true });
    this.preparedPlayer.catch(() => undefined);
  }

  async createOffer(): Promise<string> {
    this.requireRole('createOffer', 'offerer');
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    return this.pc.localDescription!.sdp;
  }

  async acceptOffer(sdp: string): Promise<string> {
    this.requireRole('acceptOffer', 'answerer');
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.kind as MediaKind;
      if ((kind === 'audio' || kind === 'video') && !this.kinds.has(kind)) {
        transceiver.setDirection('sendrecv');
        this.setUpKind(kind, transceiver);
      }
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.remoteDescriptionSet();
    return this.pc.localDescription!.sdp;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    this.requireRole('acceptAnswer', 'offerer');
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
    this.remoteDescriptionSet();
  }

  async addRemoteCandidate(candidate: IceCandidateInit): Promise<void> {
    if (!this.remoteSet) {
      this.pending.push(candidate);
      return;
    }
    await this.pc.addIceCandidate(candidate as Parameters<RTCPeerConnection['addIceCandidate']>[0]);
  }

  async remoteFingerprint(): Promise<string | undefined> {
    const certificate = this.pc.dtlsTransports[0]?.dtls?.remoteCertificate;
    if (!certificate) return undefined;
    const hex = createHash('sha256').update(certificate).digest('hex').toUpperCase();
    return `sha-256 ${hex.match(/../g)!.join(':')}`;
  }

  async setMuted(kind: MediaKind, muted: boolean): Promise<void> {
    this.kindMuted(kind, muted);
  }

  async setCamera(on: boolean): Promise<void> {
    this.camera = on;
  }

  async startScreenShare(): Promise<void> {
    throw new AppError('calls/unsupported', 'The werift engine has no screen to share; it sends its media file.');
  }

  async stopScreenShare(): Promise<void> {}

  async renegotiate(): Promise<string> {
    return this.createOffer();
  }

  async restartIce(): Promise<string> {
    this.requireRole('restartIce', 'offerer');
    // Measured: after pc.restartIce() and a new offer/answer, werift 0.24.4 gathers and checks the
    // new candidates but media stops for good (the DTLS/SRTP transport is not re-bound). Refusing
    // keeps the call up on the old path instead of breaking it.
    throw new AppError('calls/unsupported', 'The werift engine cannot restart ICE during a call; hang up and call again if the network changed.');
  }

  async stats(): Promise<CallQuality> {
    const audio = this.kinds.get('audio');
    const video = this.kinds.get('video');
    const loss = Math.max(audio?.received.lossFraction ?? 0, video?.received.lossFraction ?? 0);
    const flowing = (audio?.received.packets ?? 0) + (video?.received.packets ?? 0) > 0;
    return {
      level: this.state !== 'connected' || !flowing ? 'unknown' : loss < 0.02 ? 'good' : loss < 0.1 ? 'fair' : 'poor',
      ...(audio ? { audio: { packetsReceived: audio.received.packets, packetsLost: audio.received.lost, bytesReceived: audio.received.bytes } } : {}),
      ...(video ? {
        video: {
          packetsReceived: video.received.packets, packetsLost: video.received.lost, bytesReceived: video.received.bytes,
          framesDecoded: this.frames.frames,
        },
      } : {}),
      sent: { audioPackets: audio?.sentPackets ?? 0, videoPackets: video?.sentPackets ?? 0, bytes: 0 },
      at: Date.now(),
    };
  }

  /** How many keyframe requests (PLI/FIR) the peer sent for our video. */
  get keyframeRequestsReceived(): number {
    return this.keyframeRequests;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.recordingKeyframeTimer);
    this.stopPlayer();
    this.subs.dispose();
    const recorder = this.recorder;
    this.recorder = undefined;
    await recorder?.stop().catch(() => undefined);
    await this.pc.close().catch(() => undefined);
    this.setState('closed');
    this.candidates.dispose();
    this.states.dispose();
    this.negotiation.dispose();
  }

  // ---- internals ----

  private requireRole(fn: string, role: MediaRole): void {
    if (this.role !== role) throw new TypeError(`${fn}: only a session with role "${role}" can do this`);
    if (this.closed) throw new AppError('calls/media-closed', 'The call media was closed.');
  }

  private kindMuted(kind: MediaKind, muted: boolean): void {
    const state = this.kinds.get(kind);
    if (state) state.muted = muted;
    else this.initialMuted.set(kind, muted);
  }

  private setUpKind(kind: MediaKind, transceiver: RTCRtpTransceiver): void {
    const gate = new MediaStreamTrack({ kind });
    transceiver.sender.registerTrack(gate);
    const state: KindState = {
      transceiver, gate, muted: this.initialMuted.get(kind) ?? false, sentPackets: 0, received: new ReceivedRtpCounter(),
    };
    this.kinds.set(kind, state);
    if (kind === 'video') {
      // werift routes a PLI on a sendrecv transceiver by its sender SSRC, so it reaches the
      // receiver (receiver.onRtcp) rather than sender.onPictureLossIndication: listen on both.
      this.subs.push(subscribe(transceiver.sender.onPictureLossIndication, () => this.keyframeRequested()));
      this.subs.push(subscribe(transceiver.receiver.onRtcp, (packet) => {
        if (isKeyframeRequest(packet)) this.keyframeRequested();
      }));
      this.subs.push(subscribe(transceiver.sender.onRtcp, (packet) => {
        if (isFir(packet)) this.keyframeRequested();
      }));
    }
  }

  private remoteDescriptionSet(): void {
    this.remoteSet = true;
    for (const candidate of this.pending.splice(0)) {
      void this.pc.addIceCandidate(candidate as Parameters<RTCPeerConnection['addIceCandidate']>[0]).catch(() => undefined);
    }
  }

  private onConnectionState(state: string): void {
    if (state === 'connected') {
      this.setState('connected');
      if (!this.player) void this.startPlayer();
    } else if (state === 'failed' || state === 'disconnected' || state === 'closed') {
      this.setState(state);
    } else {
      this.setState('connecting');
    }
  }

  private setState(state: MediaSessionState): void {
    if (this.state === state) return;
    this.state = state;
    this.states.fire(state);
  }

  private onRemoteTrack(track: MediaStreamTrack): void {
    // A renegotiation announces the same tracks again: they are already counted and recorded.
    if (this.remoteTracks.includes(track)) return;
    this.remoteTracks.push(track);
    const kind = track.kind as MediaKind;
    const frames = kind === 'video' ? this.frames : undefined;
    this.subs.push(subscribe(track.onReceiveRtp, (rtp) => {
      this.kinds.get(kind)?.received.push(rtp.header.sequenceNumber, rtp.payload.length);
      if (!this.recorder && this.recordPath) this.startRecorder();
      if (frames && frames.push(rtp) === 'need-keyframe') this.requestRemoteKeyframe(rtp.header.ssrc);
    }));
  }

  /** Asks the peer for a keyframe when its video started (or resumed) without one. */
  private requestRemoteKeyframe(ssrc: number): void {
    const receiver = this.kinds.get('video')?.transceiver.receiver;
    void receiver?.sendRtcpPLI(ssrc).catch(() => undefined);
  }

  /**
   * Starts at the first received packet, once every remote track knows its codec, so that the
   * recording begins with the peer's first keyframe. Timestamps come from RTP alone (no waiting
   * for RTCP sender reports, no lip-sync buffer): a short call still records what it received.
   */
  private startRecorder(): void {
    if (!this.recordPath || this.recorder || this.remoteTracks.length === 0 || this.remoteTracks.some((t) => !t.codec)) return;
    const recorder = new MediaRecorder({ path: this.recordPath, numOfTracks: this.remoteTracks.length, disableNtp: true, disableLipSync: true });
    recorder.onError.subscribe(() => undefined);
    // The recorder listens to the tracks once the last one is added and its file is ready.
    const listening = Promise.all(this.remoteTracks.map((track) => recorder.addTrack(track)));
    this.recorder = recorder;
    const video = this.remoteTracks.find((t) => t.kind === 'video');
    if (video?.ssrc === undefined) return;
    const ssrc = video.ssrc;
    // Chromium sends VP8 keyframes only at the start and on request, and ignores a request that
    // comes within 300 ms of its last keyframe: a recording that missed the first one would hold
    // no decodable video until the next, so ask now and again each second until one came.
    this.requestRemoteKeyframe(ssrc);
    void listening.then(() => {
      const seen = this.frames.keyframes;
      const ask = (): void => {
        if (this.closed || this.recorder !== recorder || this.frames.keyframes > seen) return;
        this.requestRemoteKeyframe(ssrc);
        this.recordingKeyframeTimer = setTimeout(ask, RECORDING_KEYFRAME_RETRY_MS);
      };
      this.recordingKeyframeTimer = setTimeout(ask, RECORDING_KEYFRAME_RETRY_MS);
    }, () => undefined);
  }

  /** Starts (or restarts, for a keyframe) the clip from its beginning. */
  private async startPlayer(fresh = false): Promise<void> {
    const player = fresh ? await getUserMedia({ buffer: this.clip, loop: true }) : await this.preparedPlayer;
    if (this.closed) return player.stop();
    const previous = this.player;
    this.playerSubs.dispose();
    this.playerSubs = new DisposableCollection();
    this.player = player;
    previous?.stop();
    for (const kind of ['audio', 'video'] as const) {
      const source = player[kind];
      const state = this.kinds.get(kind);
      if (!source) continue;
      if (!state?.transceiver.sender.codec) {
        // Not negotiated (the peer refused this kind): the player still needs a codec to run.
        source.codec = undefined;
        continue;
      }
      source.codec = state.transceiver.sender.codec;
      let first = true;
      this.playerSubs.push(subscribe(source.onSourceChanged, (header) => state.gate.onSourceChanged.execute(header)));
      this.playerSubs.push(subscribe(source.onReceiveRtp, (rtp) => {
        if (first) {
          // A new player starts its own numbering: the sender continues its sequence across it.
          first = false;
          if (previous) state.gate.onSourceChanged.execute(rtp.header);
        }
        if (state.muted || (kind === 'video' && !this.camera)) return;
        state.sentPackets++;
        state.gate.writeRtp(rtp);
      }));
    }
    player.onError.subscribe(() => undefined);
    await player.start().catch(() => undefined);
  }

  private stopPlayer(): void {
    this.playerSubs.dispose();
    this.player?.stop();
    this.player = undefined;
    void this.preparedPlayer.then((p) => p.stop(), () => undefined);
  }

  /**
   * The peer lost our video (or just joined): a file cannot encode a keyframe on demand, so the
   * clip restarts from its first frame, which is one.
   */
  private keyframeRequested(): void {
    this.keyframeRequests++;
    const now = Date.now();
    if (this.closed || !this.player || now - this.lastKeyframeRestart < KEYFRAME_REQUEST_INTERVAL_MS) return;
    this.lastKeyframeRestart = now;
    void this.startPlayer(true);
  }
}

function isKeyframeRequest(packet: RtcpPacket): boolean {
  if (packet.type !== 206) return false;
  const feedback = (packet as { feedback?: { count?: number } }).feedback;
  // PSFB FMT 1 = PLI, 4 = FIR (werift keeps the FMT as the class's static `count`).
  const fmt = (feedback?.constructor as { count?: number } | undefined)?.count;
  return fmt === 1 || fmt === 4;
}

function isFir(packet: RtcpPacket): boolean {
  if (packet.type !== 206) return false;
  const feedback = (packet as { feedback?: object }).feedback;
  return (feedback?.constructor as { count?: number } | undefined)?.count === 4;
}

/** werift's events have `subscribe` returning `{ unSubscribe }`; this makes them Disposables. */
function subscribe<T extends unknown[]>(event: { subscribe(fn: (...args: T) => void): { unSubscribe(): void } }, fn: (...args: T) => void) {
  const { unSubscribe } = event.subscribe(fn);
  return toDisposable(unSubscribe);
}

export type { RtpPacket };
