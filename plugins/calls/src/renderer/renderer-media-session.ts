import { AppError, Emitter, type Event } from '@discordopus/sdk';
import type {
  CallQuality, IceCandidateInit, IceServerConfig, MediaDeviceSlot, MediaDevicesSelection, MediaKind, MediaRole, MediaSession, MediaSessionState,
} from '../common/media-engine.ts';
import { callQualityFromStats, type QualityCounters } from './call-quality.ts';
import { describeMediaDevices, missingDevices, type MediaDeviceOption } from './media-devices.ts';

/*
 * The renderer media engine's session: Chromium's own WebRTC (capture, echo cancellation, codecs,
 * jitter buffer) for one call. It holds no long-term keys: the kernel-side calls plugin carries
 * its SDP and ICE candidates inside the encrypted session and drives it over the bridge, so all
 * it takes and gives is plain JSON.
 *
 * The offerer always negotiates an audio and a video transceiver (video direction sendrecv even
 * in a voice call, with no track), so turning the camera on or sharing the screen is a
 * replaceTrack, not a new offer. An answerer whose offer had no video m-line fires
 * onNegotiationNeeded when the camera is turned on; the caller's re-offer then brings one.
 */

export interface RendererSessionOptions {
  callId: string;
  role: MediaRole;
  audio: boolean;
  video: boolean;
  iceServers: IceServerConfig[];
  /**
   * Preferred devices (the user's defaults). One that is not connected any more is replaced by
   * the system default and listed in `LocalMediaState.unavailableDevices`: never a failed call.
   */
  devices?: MediaDevicesSelection;
}

/** The local controls as the UI shows them. */
export interface LocalMediaState {
  audioMuted: boolean;
  videoMuted: boolean;
  cameraOn: boolean;
  screenSharing: boolean;
  /** The devices in use (the capture's own device ids once captured) and the chosen speaker. */
  devices: MediaDevicesSelection;
  /** Preferred devices that were not found, so the system default is used instead (for a notice). */
  unavailableDevices: MediaDeviceSlot[];
}

/** Raw receive figures for tests and diagnostics. */
export interface InboundFigures {
  framesDecoded: number;
  audioSamplesReceived: number;
  audioSamplesConcealed: number;
}

const AUDIO_CONSTRAINTS: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
const VIDEO_CONSTRAINTS: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };

export class RendererMediaSession implements MediaSession {
  private readonly pc: RTCPeerConnection;
  // The offerer's are made up front; an answerer takes them from the remote offer (Chromium
  // never pairs addTransceiver() transceivers with m-lines of a remote offer).
  private audio: RTCRtpTransceiver | undefined;
  private video: RTCRtpTransceiver | undefined;
  private audioTrack: MediaStreamTrack | undefined;
  private cameraTrack: MediaStreamTrack | undefined;
  private screenTrack: MediaStreamTrack | undefined;
  private readonly pendingCandidates: IceCandidateInit[] = [];
  private counters: QualityCounters | undefined;
  private closed = false;
  private state: LocalMediaState;

  /** The camera (or shared screen) and microphone; tracks are swapped inside it. */
  readonly localStream = new MediaStream();
  /** What the other side sends; tracks are added as they arrive. */
  readonly remoteStream = new MediaStream();

  private readonly candidateEmitter = new Emitter<IceCandidateInit>();
  readonly onLocalCandidate: Event<IceCandidateInit> = this.candidateEmitter.event;
  private readonly stateEmitter = new Emitter<MediaSessionState>();
  readonly onState: Event<MediaSessionState> = this.stateEmitter.event;
  private readonly negotiationEmitter = new Emitter<void>();
  readonly onNegotiationNeeded: Event<void> = this.negotiationEmitter.event;
  private readonly localStateEmitter = new Emitter<LocalMediaState>();
  /** Local controls changed (mute, camera, screen, devices). */
  readonly onLocalState: Event<LocalMediaState> = this.localStateEmitter.event;
  private readonly remoteTrackEmitter = new Emitter<MediaStreamTrack>();
  readonly onRemoteTrack: Event<MediaStreamTrack> = this.remoteTrackEmitter.event;

  private constructor(
    private readonly options: RendererSessionOptions,
    audioTrack: MediaStreamTrack | undefined,
    cameraTrack: MediaStreamTrack | undefined,
    unavailableDevices: MediaDeviceSlot[] = [],
  ) {
    this.pc = new RTCPeerConnection({ iceServers: options.iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.audioTrack = audioTrack;
    this.cameraTrack = cameraTrack;
    for (const track of [audioTrack, cameraTrack]) if (track) this.localStream.addTrack(track);
    const devices: MediaDevicesSelection = { ...options.devices };
    for (const slot of unavailableDevices) delete devices[slot];
    const audioId = deviceIdOf(audioTrack);
    const videoId = deviceIdOf(cameraTrack);
    if (audioId) devices.audioInput = audioId;
    if (videoId) devices.videoInput = videoId;
    this.state = { audioMuted: false, videoMuted: false, cameraOn: cameraTrack !== undefined, screenSharing: false, devices, unavailableDevices: [...unavailableDevices] };
    if (options.role === 'offerer') {
      const streams = [this.localStream];
      this.audio = this.pc.addTransceiver(audioTrack ?? 'audio', { direction: 'sendrecv', streams });
      this.video = this.pc.addTransceiver(cameraTrack ?? 'video', { direction: 'sendrecv', streams });
    }
    this.pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) this.candidateEmitter.fire(e.candidate.toJSON() as IceCandidateInit);
    };
    this.pc.onconnectionstatechange = () => {
      const state = this.pc.connectionState;
      if (state !== 'new') this.stateEmitter.fire(state === 'connecting' ? 'connecting' : state);
    };
    this.pc.ontrack = (e) => {
      this.remoteStream.addTrack(e.track);
      this.remoteTrackEmitter.fire(e.track);
    };
  }

  /**
   * Captures the microphone (echo cancellation on) and, for a video call, the camera, and
   * prepares the peer connection.
   * @throws AppError `calls/media-denied`, `calls/media-unavailable`, `calls/media-busy`
   */
  static async create(options: RendererSessionOptions): Promise<RendererMediaSession> {
    if (!options || typeof options.callId !== 'string' || (options.role !== 'offerer' && options.role !== 'answerer')) {
      throw new TypeError('RendererMediaSession.create: expected { callId, role: "offerer" | "answerer", ... }');
    }
    if (!options.audio && !options.video) return new RendererMediaSession(options, undefined, undefined);
    const { stream, unavailable } = await captureWithFallback(
      (devices) => navigator.mediaDevices.getUserMedia({
        audio: options.audio ? withDevice(AUDIO_CONSTRAINTS, devices.audioInput) : false,
        video: options.video ? withDevice(VIDEO_CONSTRAINTS, devices.videoInput) : false,
      }),
      { audioInput: options.audio ? options.devices?.audioInput : undefined, videoInput: options.video ? options.devices?.videoInput : undefined },
      options.video ? 'microphone and camera' : 'microphone',
    );
    return new RendererMediaSession(options, stream.getAudioTracks()[0], stream.getVideoTracks()[0], unavailable);
  }

  get callId(): string {
    return this.options.callId;
  }

  get role(): MediaRole {
    return this.options.role;
  }

  get localState(): LocalMediaState {
    return { ...this.state, devices: { ...this.state.devices }, unavailableDevices: [...this.state.unavailableDevices] };
  }

  async createOffer(): Promise<string> {
    return this.offer('createOffer', false);
  }

  /** Takes the caller's offer (first or a renegotiation) and returns the answer SDP. */
  async acceptOffer(sdp: string): Promise<string> {
    this.assertRole('acceptOffer', 'answerer');
    await this.pc.setRemoteDescription({ type: 'offer', sdp: checkSdp(sdp, 'acceptOffer') });
    if (!this.audio || !this.video) await this.adoptTransceivers();
    for (const t of [this.audio, this.video]) if (t && t.currentDirection !== 'stopped' && t.direction !== 'sendrecv') t.direction = 'sendrecv';
    await this.flushCandidates();
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    return this.pc.localDescription!.sdp;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    this.assertRole('acceptAnswer', 'offerer');
    await this.pc.setRemoteDescription({ type: 'answer', sdp: checkSdp(sdp, 'acceptAnswer') });
    await this.flushCandidates();
  }

  /** Queued until the remote description is known (the other side may trickle first). */
  async addRemoteCandidate(candidate: IceCandidateInit): Promise<void> {
    this.assertOpen('addRemoteCandidate');
    if (!candidate || typeof candidate.candidate !== 'string') throw new TypeError('addRemoteCandidate: expected { candidate: string }');
    if (!this.pc.remoteDescription) this.pendingCandidates.push(candidate);
    else await this.pc.addIceCandidate(candidate);
  }

  /** SHA-256 of the certificate the peer presented in DTLS (from the certificate, never from SDP). */
  async remoteFingerprint(): Promise<string | undefined> {
    const transport = (this.audio ?? this.video)?.sender.transport as (RTCDtlsTransport & { getRemoteCertificates?(): ArrayBuffer[] }) | null | undefined;
    const der = transport?.getRemoteCertificates?.()[0];
    if (!der) return undefined;
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', der));
    return `sha-256 ${[...digest].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':')}`;
  }

  async setMuted(kind: MediaKind, muted: boolean): Promise<void> {
    this.assertOpen('setMuted');
    if (kind === 'audio') {
      if (this.audioTrack) this.audioTrack.enabled = !muted;
      this.update({ audioMuted: muted });
    } else if (kind === 'video') {
      if (this.cameraTrack) this.cameraTrack.enabled = !muted;
      this.update({ videoMuted: muted });
    } else {
      throw new TypeError(`setMuted: kind must be "audio" or "video", not ${String(kind)}`);
    }
  }

  /** Camera on (captured now) or off (stopped, so its light goes out). */
  async setCamera(on: boolean): Promise<void> {
    this.assertOpen('setCamera');
    if (on === this.state.cameraOn) return;
    if (on) {
      const { stream, unavailable } = await captureWithFallback(
        (devices) => navigator.mediaDevices.getUserMedia({ video: withDevice(VIDEO_CONSTRAINTS, devices.videoInput) }),
        { videoInput: this.state.devices.videoInput },
        'camera',
      );
      const track = stream.getVideoTracks()[0]!;
      track.enabled = !this.state.videoMuted;
      const videoInput = deviceIdOf(track);
      const devices = { ...this.state.devices };
      if (videoInput) devices.videoInput = videoInput;
      else delete devices.videoInput;
      this.state = { ...this.state, devices, unavailableDevices: [...new Set([...this.state.unavailableDevices, ...unavailable])] };
      this.cameraTrack = track;
      this.localStream.addTrack(track);
      if (!this.screenTrack) await this.sendVideo(track);
    } else if (this.cameraTrack) {
      const track = this.cameraTrack;
      this.cameraTrack = undefined;
      if (!this.screenTrack) await this.sendVideo(null);
      this.localStream.removeTrack(track);
      track.stop();
    }
    this.update({ cameraOn: on });
    if (on && !this.video) this.negotiationEmitter.fire();
  }

  /** Sends the screen (or a window) instead of the camera until stopped here or in the browser's own bar. */
  async startScreenShare(): Promise<void> {
    this.assertOpen('startScreenShare');
    if (this.screenTrack) return;
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    } catch (error) {
      throw mediaError(error, 'screen');
    }
    const track = stream.getVideoTracks()[0]!;
    track.contentHint = 'detail';
    this.screenTrack = track;
    track.addEventListener('ended', () => void this.stopScreenShare());
    await this.sendVideo(track);
    this.update({ screenSharing: true });
    if (!this.video) this.negotiationEmitter.fire();
  }

  async stopScreenShare(): Promise<void> {
    const track = this.screenTrack;
    if (!track) return;
    this.screenTrack = undefined;
    track.stop();
    if (!this.closed) await this.sendVideo(this.cameraTrack ?? null);
    this.update({ screenSharing: false });
  }

  async renegotiate(): Promise<string> {
    return this.offer('renegotiate', false);
  }

  async restartIce(): Promise<string> {
    return this.offer('restartIce', true);
  }

  /** Switches microphone or camera without renegotiating; the speaker choice is for the UI's media elements (setSinkId). */
  async selectDevices(selection: MediaDevicesSelection): Promise<void> {
    this.assertOpen('selectDevices');
    if (!selection || typeof selection !== 'object') throw new TypeError('selectDevices: expected { audioInput?, videoInput?, audioOutput? }');
    if (selection.audioInput && selection.audioInput !== this.state.devices.audioInput) {
      let stream: MediaStream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: withDevice(AUDIO_CONSTRAINTS, selection.audioInput) });
      } catch (error) {
        throw mediaError(error, 'microphone');
      }
      const track = stream.getAudioTracks()[0]!;
      track.enabled = !this.state.audioMuted;
      await this.audio?.sender.replaceTrack(track);
      if (this.audioTrack) {
        this.localStream.removeTrack(this.audioTrack);
        this.audioTrack.stop();
      }
      this.audioTrack = track;
      this.localStream.addTrack(track);
    }
    if (selection.videoInput && selection.videoInput !== this.state.devices.videoInput && this.cameraTrack) {
      const track = await captureVideo(selection.videoInput);
      track.enabled = !this.state.videoMuted;
      if (!this.screenTrack) await this.sendVideo(track);
      this.localStream.removeTrack(this.cameraTrack);
      this.cameraTrack.stop();
      this.cameraTrack = track;
      this.localStream.addTrack(track);
    }
    const devices = { ...this.state.devices };
    for (const key of ['audioInput', 'videoInput', 'audioOutput'] as const) if (selection[key]) devices[key] = selection[key];
    // A device chosen now supersedes the notice about a preferred one that was missing.
    this.update({ devices, unavailableDevices: this.state.unavailableDevices.filter((slot) => !selection[slot]) });
  }

  /** The quality indicator from a fresh getStats(). */
  async stats(): Promise<CallQuality> {
    const report = await this.pc.getStats();
    const { quality, counters } = callQualityFromStats(report.values() as Iterable<{ type: string }>, this.counters);
    this.counters = counters;
    return quality;
  }

  /** Receive figures straight from getStats (tests, diagnostics). */
  async inboundFigures(): Promise<InboundFigures> {
    const { quality } = callQualityFromStats((await this.pc.getStats()).values() as Iterable<{ type: string }>);
    return {
      framesDecoded: quality.video?.framesDecoded ?? 0,
      audioSamplesReceived: quality.audio?.totalSamplesReceived ?? 0,
      audioSamplesConcealed: quality.audio?.concealedSamples ?? 0,
    };
  }

  /** Stops every capture (camera light off) and closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const track of [this.audioTrack, this.cameraTrack, this.screenTrack]) track?.stop();
    this.pc.close();
    this.stateEmitter.fire('closed');
    for (const emitter of [this.candidateEmitter, this.stateEmitter, this.negotiationEmitter, this.localStateEmitter, this.remoteTrackEmitter]) emitter.dispose();
  }

  private async offer(method: string, iceRestart: boolean): Promise<string> {
    this.assertRole(method, 'offerer');
    const offer = await this.pc.createOffer({ iceRestart });
    await this.pc.setLocalDescription(offer);
    return this.pc.localDescription!.sdp;
  }

  private async adoptTransceivers(): Promise<void> {
    for (const t of this.pc.getTransceivers()) {
      if (t.mid === null || t.currentDirection === 'stopped') continue;
      const kind = t.receiver.track.kind;
      if (kind === 'audio' && !this.audio) {
        this.audio = t;
        t.sender.setStreams(this.localStream);
        await t.sender.replaceTrack(this.audioTrack ?? null);
      } else if (kind === 'video' && !this.video) {
        this.video = t;
        t.sender.setStreams(this.localStream);
        await t.sender.replaceTrack(this.screenTrack ?? this.cameraTrack ?? null);
      }
    }
  }

  private async sendVideo(track: MediaStreamTrack | null): Promise<void> {
    await this.video?.sender.replaceTrack(track);
  }

  private async flushCandidates(): Promise<void> {
    for (const candidate of this.pendingCandidates.splice(0)) await this.pc.addIceCandidate(candidate);
  }

  private update(patch: Partial<LocalMediaState>): void {
    this.state = { ...this.state, ...patch };
    this.localStateEmitter.fire(this.localState);
  }

  private assertRole(method: string, role: MediaRole): void {
    if (this.options.role !== role) throw new TypeError(`${method}: only a session with role "${role}" can do this`);
    this.assertOpen(method);
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new AppError('calls/media-closed', `${method}: the call's media was already closed.`);
  }
}

/** Microphones, cameras and speakers to choose from (names appear once a capture was allowed; "Microphone 1" etc. before). */
export async function listMediaDevices(): Promise<MediaDeviceOption[]> {
  return describeMediaDevices(await navigator.mediaDevices.enumerateDevices());
}

/**
 * Captures with the preferred devices; when one of them is gone (unplugged since it was chosen),
 * captures again with the system default for it rather than failing the call.
 */
async function captureWithFallback(
  capture: (devices: MediaDevicesSelection) => Promise<MediaStream>,
  preferred: MediaDevicesSelection,
  what: string,
): Promise<{ stream: MediaStream; unavailable: MediaDeviceSlot[] }> {
  try {
    return { stream: await capture(preferred), unavailable: [] };
  } catch (error) {
    const chosen = (['audioInput', 'videoInput'] as const).filter((slot) => preferred[slot]);
    if (chosen.length === 0 || !isMissingDevice(error)) throw mediaError(error, what);
    const present = describeMediaDevices(await navigator.mediaDevices.enumerateDevices().catch(() => []));
    let gone = missingDevices(preferred, present).filter((slot) => (chosen as MediaDeviceSlot[]).includes(slot));
    // Ids hidden (no permission yet) or the device listed but refusing: the default for all of them.
    if (gone.length === 0) gone = chosen;
    const fallback = { ...preferred };
    for (const slot of gone) delete fallback[slot];
    try {
      return { stream: await capture(fallback), unavailable: gone };
    } catch (retryError) {
      throw mediaError(retryError, what);
    }
  }
}

function isMissingDevice(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  return name === 'NotFoundError' || name === 'OverconstrainedError';
}

function deviceIdOf(track: MediaStreamTrack | undefined): string | undefined {
  const id = track?.getSettings?.().deviceId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

function withDevice(base: MediaTrackConstraints, deviceId: string | undefined): MediaTrackConstraints {
  return deviceId ? { ...base, deviceId: { exact: deviceId } } : base;
}

async function captureVideo(deviceId: string | undefined): Promise<MediaStreamTrack> {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: withDevice(VIDEO_CONSTRAINTS, deviceId) });
    return stream.getVideoTracks()[0]!;
  } catch (error) {
    throw mediaError(error, 'camera');
  }
}

function checkSdp(sdp: unknown, method: string): string {
  if (typeof sdp !== 'string' || !sdp.startsWith('v=0')) throw new TypeError(`${method}: expected SDP text starting with "v=0"`);
  return sdp;
}

function mediaError(error: unknown, what: string): AppError {
  const name = (error as { name?: string } | undefined)?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return new AppError('calls/media-denied', `Access to the ${what} was refused. Allow it in the system or browser settings and try again.`);
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return new AppError('calls/media-unavailable', `No ${what} was found. Connect one, or pick another device in the call settings.`);
  }
  if (name === 'NotReadableError') {
    return new AppError('calls/media-busy', `The ${what} is in use by another application. Close it and try again.`);
  }
  return new AppError('calls/media-failed', `Could not start the ${what}. Try again, or pick another device.`);
}
