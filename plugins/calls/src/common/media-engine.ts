import type { Disposable, Event } from '@discordopus/sdk';

/*
 * The contract between the calls plugin and a media engine. The ENGINE owns the
 * RTCPeerConnection (ICE, DTLS, SRTP, capture, codecs, playback or recording); the PLUGIN owns
 * signalling (SDP and ICE travel only inside the end-to-end encrypted channel) and the call
 * state machine. Everything that crosses this interface is plain JSON data, so an engine can
 * live in another process and be driven over a bridge (see `EngineBridgeRequest` below): the
 * renderer engine (Chromium WebRTC) sits behind the Electron preload bridge or the local
 * WebSocket; the werift engine runs in Node next to the plugin.
 *
 * Negotiation rule (no glare inside a call): only the session created with role `offerer`
 * ever makes offers (`createOffer`, `renegotiate`, `restartIce`). An answerer session that
 * needs a new negotiation (camera turned on, screen share) fires `onNegotiationNeeded`; the
 * plugin then asks the offerer side, over the encrypted channel, to renegotiate.
 */

export type MediaKind = 'audio' | 'video';

/** Who makes the offers in this call: the caller is the offerer, the callee the answerer. */
export type MediaRole = 'offerer' | 'answerer';

/** State of the engine's peer connection (a subset of RTCPeerConnectionState). */
export type MediaSessionState = 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export interface IceServerConfig {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** A trickled ICE candidate, as in RTCIceCandidateInit. */
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

export interface MediaSessionOptions {
  /** The call's id (32 hex digits); one session per call. */
  callId: string;
  role: MediaRole;
  /** Send audio from the start (microphone / the engine's audio source). */
  audio: boolean;
  /** Send video from the start (camera / the engine's video source). */
  video: boolean;
  /** STUN/TURN servers; `[]` means host candidates only. Never defaults to a public STUN. */
  iceServers: IceServerConfig[];
  /** Tests and loopback demos: offer 127.0.0.1 candidates, no IPv6. */
  loopbackOnly?: boolean;
}

/** Receive-side figures for one kind of media, from getStats (absent figures are unknown). */
export interface InboundMediaStats {
  packetsReceived: number;
  packetsLost: number;
  bytesReceived: number;
  jitterMs?: number;
  /** Video: frames the engine decoded (renderer) or assembled into complete frames (werift). */
  framesDecoded?: number;
  framesPerSecond?: number;
  frameWidth?: number;
  frameHeight?: number;
  /** Audio: samples received and how many of those were concealed (lost, synthesised). */
  totalSamplesReceived?: number;
  concealedSamples?: number;
}

/** The call quality indicator: a coarse level for the UI plus the figures it came from. */
export interface CallQuality {
  level: 'good' | 'fair' | 'poor' | 'unknown';
  /** Round-trip time of the selected candidate pair (or from RTCP), in ms. */
  rttMs?: number;
  audio?: InboundMediaStats;
  video?: InboundMediaStats;
  /** Outbound: packets and bytes sent per kind. */
  sent?: { audioPackets: number; videoPackets: number; bytes: number };
  /** When it was measured (ms since the epoch). */
  at: number;
}

/** Device choices the renderer engine offers (`deviceId`s as enumerateDevices returns them). */
export interface MediaDevicesSelection {
  audioInput?: string;
  videoInput?: string;
  audioOutput?: string;
}

/** One kind of device in a {@link MediaDevicesSelection}. */
export type MediaDeviceSlot = keyof MediaDevicesSelection;

/**
 * One call's media. Every method may reject with an Error whose message says what failed; the
 * plugin ends the call (`calls/media-failed`) when setting up fails.
 */
export interface MediaSession {
  readonly callId: string;
  readonly role: MediaRole;
  /** Offerer only: the initial offer (SDP text). */
  createOffer(): Promise<string>;
  /** Answerer only, also for re-offers during the call: applies the offer, returns the answer SDP. */
  acceptOffer(sdp: string): Promise<string>;
  /** Offerer only: applies the answer to the latest offer. */
  acceptAnswer(sdp: string): Promise<void>;
  /** Candidates may arrive before the remote SDP: the engine queues them. */
  addRemoteCandidate(candidate: IceCandidateInit): Promise<void>;
  /** Local candidates to trickle to the peer (through the plugin, encrypted). */
  readonly onLocalCandidate: Event<IceCandidateInit>;
  readonly onState: Event<MediaSessionState>;
  /** The engine needs a new offer/answer exchange (answerer: the plugin asks the offerer). */
  readonly onNegotiationNeeded: Event<void>;
  /**
   * The fingerprint of the certificate the peer actually presented in the DTLS handshake, as
   * `"sha-256 AB:CD:…"` (algorithm lower-case, hex upper-case, as in SDP), once connected;
   * `undefined` before. The PLUGIN compares it with the fingerprint of the SDP it received
   * inside the encrypted session and ends the call if they differ (fails closed). The engine
   * computes it from the certificate itself (werift: the DTLS socket's remote certificate;
   * Chromium: `RTCDtlsTransport.getRemoteCertificates()` hashed with SHA-256), never from SDP.
   */
  remoteFingerprint(): Promise<string | undefined>;
  /** Mutes (stops sending, keeps the track negotiated) or unmutes one kind. */
  setMuted(kind: MediaKind, muted: boolean): Promise<void>;
  /** Camera on/off; turning it on in an audio-only call fires `onNegotiationNeeded`. */
  setCamera(on: boolean): Promise<void>;
  /** Replaces the camera by a screen capture (renderer engine; werift rejects). */
  startScreenShare(): Promise<void>;
  stopScreenShare(): Promise<void>;
  /** Offerer only: a new offer for the current state (after `onNegotiationNeeded` or a peer's request). */
  renegotiate(): Promise<string>;
  /** Offerer only: a new offer with fresh ICE credentials (network change). */
  restartIce(): Promise<string>;
  /** Renderer engine: switch devices mid-call (werift ignores it). */
  selectDevices?(selection: MediaDevicesSelection): Promise<void>;
  stats(): Promise<CallQuality>;
  /** Stops sending, releases devices, finishes recordings. Idempotent. */
  close(): Promise<void>;
}

/** Makes media sessions. One engine per client; the plugin creates one session per call. */
export interface MediaEngine {
  /** A short name for logs and the UI (`'werift'`, `'renderer'`). */
  readonly name: string;
  createSession(options: MediaSessionOptions): Promise<MediaSession>;
}

/*
 * Driving an engine over a bridge (JSON-RPC notifications, the preload bridge, a WebSocket).
 * The kernel side (plugin) calls; the engine side answers. A bridge implementation turns
 * `MediaEngine`/`MediaSession` calls into `EngineBridgeRequest`s and fires
 * `EngineBridgeEvent`s it receives on the matching session's events.
 */

/** The methods of MediaSession that a bridge forwards, by name. */
export type MediaSessionMethod =
  | 'createOffer' | 'acceptOffer' | 'acceptAnswer' | 'addRemoteCandidate' | 'remoteFingerprint' | 'setMuted' | 'setCamera'
  | 'startScreenShare' | 'stopScreenShare' | 'renegotiate' | 'restartIce' | 'selectDevices' | 'stats' | 'close';

/** Kernel → engine: a call to make. `createSession` carries the options as its one argument. */
export type EngineBridgeRequest =
  | { id: number; method: 'createSession'; args: [MediaSessionOptions] }
  | { id: number; callId: string; method: MediaSessionMethod; args: unknown[] };

/** Engine → kernel: the result of a request (`result` is the method's resolved value or null). */
export type EngineBridgeResponse = { id: number; result: unknown } | { id: number; error: { message: string } };

/** Engine → kernel: something a session reports. */
export type EngineBridgeEvent =
  | { callId: string; event: 'localCandidate'; candidate: IceCandidateInit }
  | { callId: string; event: 'state'; state: MediaSessionState }
  | { callId: string; event: 'negotiationNeeded' };

/** What hosts use to plug an engine in at run time (the desktop app, once its renderer is up). */
export interface MediaEngineHost {
  /** Uses `engine` for new calls until the returned Disposable is disposed (then the default, if any). */
  attachEngine(engine: MediaEngine): Disposable;
}
