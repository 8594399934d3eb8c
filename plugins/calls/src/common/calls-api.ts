import type { Event, UserId } from '@discordopus/sdk';
import type { CallQuality, MediaEngineHost, MediaKind } from './media-engine.ts';

/*
 * The calls plugin's API, as returned from `activate`: what the CLI, the daemon (JSON-RPC
 * `calls.*`) and the desktop renderer call. Plain data only.
 */

/**
 * - `ringing`: outgoing, the callee's client is ringing (or the invite is on its way);
 *   incoming, waiting for the local user to accept or decline.
 * - `connecting`: accepted; media is being set up (ICE, DTLS).
 * - `active`: media flows and the DTLS fingerprint matched the one received end to end.
 * - `ended`: see `endReason`. Ended calls leave `calls()` and stay in `history()`.
 */
export type CallState = 'ringing' | 'connecting' | 'active' | 'ended';

/**
 * - `hangup` / `remote-hangup`: one side ended an accepted call.
 * - `declined` (the callee declined), `busy` (the callee is in another call),
 *   `cancelled` (the caller gave up before an answer), `no-answer` (ring timeout),
 *   `missed` (incoming call not answered: cancelled or timed out; a missed-call entry).
 * - `glare`: both called each other at once; this call lost and the other one continues.
 * - `failed`: media or signalling failed (`error` says why, e.g. `calls/fingerprint-mismatch`,
 *   `calls/media-failed`, `calls/peer-unreachable`).
 */
export type CallEndReason =
  | 'hangup' | 'remote-hangup' | 'declined' | 'busy' | 'cancelled' | 'no-answer' | 'missed' | 'glare' | 'failed';

export interface CallView {
  /** 16 random bytes as 32 hex digits, chosen by the caller. */
  callId: string;
  peer: UserId;
  direction: 'in' | 'out';
  /** The call was started as (or became) a video call. */
  video: boolean;
  state: CallState;
  /** When the call was placed (caller) or the invite arrived (callee), ms since the epoch. */
  startedAt: number;
  /** When media first connected. */
  connectedAt?: number;
  endedAt?: number;
  endReason?: CallEndReason;
  error?: { code: string; message: string };
  /** Local controls. */
  muted: { audio: boolean; video: boolean };
  camera: boolean;
  screenSharing: boolean;
  /** What the peer told us about its own controls. */
  remote: { audioMuted: boolean; camera: boolean; screenSharing: boolean };
  /** The engine in use (`werift`, `renderer`). */
  engine?: string;
}

/** A stored call record (missed calls included), for the conversation view. */
export interface CallLogEntry {
  callId: string;
  peer: UserId;
  direction: 'in' | 'out';
  video: boolean;
  startedAt: number;
  connectedAt?: number;
  endedAt: number;
  endReason: CallEndReason;
  /** Seconds with media connected (0 when never connected). */
  durationS: number;
}

/** `calls.state` on the event bus (and `onDidChange`): a call changed. */
export interface CallStateEvent {
  call: CallView;
}

/** `calls.logged` on the event bus: a call ended and was recorded (missed calls included). */
export interface CallLoggedEvent {
  entry: CallLogEntry;
}

export interface CallOptions {
  /** Start with the camera on. Default false (audio only; video can be added later). */
  video?: boolean;
}

export interface CallsApi extends MediaEngineHost {
  /**
   * Rings a contact; resolves with the call once the invite is handed to the encrypted channel
   * (state `ringing`). Follow `onDidChange` for accept / decline / busy / no-answer.
   * @throws AppError `calls/unknown-contact`, `calls/busy` (already in a call), `calls/no-engine`,
   *   `calls/peer-unreachable`
   */
  call(contact: string, options?: CallOptions): Promise<CallView>;
  /** Accepts a ringing incoming call. @throws AppError `calls/unknown-call`, `calls/not-ringing` */
  accept(callId: string, options?: CallOptions): Promise<CallView>;
  /** Declines a ringing incoming call (the caller sees `declined`). */
  decline(callId: string): Promise<CallView>;
  /** Ends a call in any state: cancels an outgoing ringing call, declines an incoming one, hangs up an accepted one. */
  hangUp(callId: string): Promise<CallView>;
  setMuted(callId: string, kind: MediaKind, muted: boolean): Promise<CallView>;
  /** Camera on/off; turning it on in an audio call renegotiates. */
  setCamera(callId: string, on: boolean): Promise<CallView>;
  startScreenShare(callId: string): Promise<CallView>;
  stopScreenShare(callId: string): Promise<CallView>;
  /** A new ICE negotiation (network changed). */
  restartIce(callId: string): Promise<CallView>;
  /** The quality indicator from the engine's getStats. @throws AppError `calls/unknown-call` */
  quality(callId: string): Promise<CallQuality>;
  /** Calls not yet ended. */
  calls(): CallView[];
  /** One call (ended calls stay here until the next call starts). */
  get(callId: string): CallView | undefined;
  /** Ended calls, newest first (for one contact, or all). */
  history(options?: { contact?: string; limit?: number }): Promise<CallLogEntry[]>;
  /** Resolves once the media of every ended call is closed (recordings finished). */
  whenIdle(): Promise<void>;
  readonly onDidChange: Event<CallView>;
}

/**
 * JSON-RPC method names (core/src/node/daemon/calls-rpc-methods.ts). Params are objects:
 * `calls.call {contact, video?}`, `calls.accept {callId, video?}`, `calls.decline {callId}`,
 * `calls.hangUp {callId}`, `calls.setMuted {callId, kind, muted}`, `calls.setCamera {callId, on}`,
 * `calls.startScreenShare {callId}`, `calls.stopScreenShare {callId}`, `calls.restartIce {callId}`,
 * `calls.quality {callId}`, `calls.list {}`, `calls.history {contact?, limit?}`.
 * Events: `subscribe {topics: ['calls.state', 'calls.logged']}`.
 *
 * Engine bridge (the renderer engine drives media for the kernel's plugin):
 * `calls.engine.attach {}` makes the calling RPC session the media engine (until it
 * disconnects or calls `calls.engine.detach {}`); the kernel then sends notifications
 * `calls.engine.request` with an `EngineBridgeRequest`; the engine answers each with the method
 * `calls.engine.respond` (`EngineBridgeResponse`) and reports with `calls.engine.event`
 * (`EngineBridgeEvent`).
 */
export const CALLS_RPC = {
  call: 'calls.call',
  accept: 'calls.accept',
  decline: 'calls.decline',
  hangUp: 'calls.hangUp',
  setMuted: 'calls.setMuted',
  setCamera: 'calls.setCamera',
  startScreenShare: 'calls.startScreenShare',
  stopScreenShare: 'calls.stopScreenShare',
  restartIce: 'calls.restartIce',
  quality: 'calls.quality',
  list: 'calls.list',
  history: 'calls.history',
  engineAttach: 'calls.engine.attach',
  engineDetach: 'calls.engine.detach',
  engineRespond: 'calls.engine.respond',
  engineEvent: 'calls.engine.event',
  /** Notification kernel → engine session. */
  engineRequest: 'calls.engine.request',
} as const;

/** Event bus topics. */
export const CALLS_TOPICS = { state: 'calls.state', logged: 'calls.logged' } as const;
