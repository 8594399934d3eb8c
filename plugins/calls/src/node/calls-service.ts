import type { Kysely } from 'kysely';
import {
  AppError, DisposableCollection, Emitter, isAppError, isUserId, toDisposable, type Disposable, type PeerMessage, type PluginContext, type UserId,
} from '@discordopus/sdk';
import type {
  CallEndReason, CallLogEntry, CallLoggedEvent, CallOptions, CallsApi, CallStateEvent, CallView,
} from '../common/calls-api.ts';
import {
  CALLS_CHANNEL, CallRecordRejected, callIdSchema, decodeCallRecord, encodeCallRecord, newCallId, sdpFingerprint, type CallRecord,
} from '../common/calls-protocol.ts';
import type {
  CallQuality, IceCandidateInit, IceServerConfig, MediaEngine, MediaKind, MediaSession, MediaSessionState,
} from '../common/media-engine.ts';

declare module '@discordopus/sdk' {
  interface EventMap {
    /** A call changed state or controls. */
    'calls.state': CallStateEvent;
    /** A call ended and was written to the call log (missed calls included). */
    'calls.logged': CallLoggedEvent;
  }
}

export interface CallsServiceOptions {
  /** The engine for new calls unless one is attached at run time. */
  engine?: MediaEngine;
  /** How long an outgoing call rings before it ends with `no-answer`. Default 45 s. */
  ringTimeoutMs?: number;
  /** From accept to connected media. Default 20 s. */
  connectTimeoutMs?: number;
  /** Invites older than this (sender's clock, with the same skew allowed ahead) are missed calls, not rung. Default 60 s. */
  inviteMaxAgeMs?: number;
  iceServers?: IceServerConfig[];
  /** Tests and loopback demos. */
  loopbackOnly?: boolean;
  now?: () => number;
}

interface CallLogTable {
  calls_log: {
    call_id: string; peer: string; direction: 'in' | 'out'; video: number; started_at: number; connected_at: number | null;
    ended_at: number; end_reason: CallEndReason; duration_s: number;
  };
}
type Db = Kysely<CallLogTable>;

interface Call {
  view: CallView;
  session?: MediaSession;
  subs: DisposableCollection;
  /** The peer's latest SDP, as received inside the encrypted session. */
  remoteSdp?: string;
  /** Incoming: the invite's offer, applied on accept. */
  offer?: string;
  /** Remote candidates that arrived before the remote SDP was applied. */
  remoteCandidates: IceCandidateInit[];
  remoteApplied: boolean;
  /** Local candidates wait until the invite / accept went out (the peer drops candidates of unknown calls). */
  localCandidates: IceCandidateInit[];
  signalled: boolean;
  /** The last SDP sent: candidates it already lists are not trickled again. */
  localSdp?: string;
  timer?: ReturnType<typeof setTimeout>;
  disconnectTimer?: ReturnType<typeof setTimeout>;
  /** Sends to the peer, one after the other. */
  chain: Promise<void>;
  /** Offerer: seq of the last re-offer sent; answerer: of the last one applied. */
  negotiationSeq: number;
  /** The certificate check passed once (fingerprints never change within a call). */
  verified: boolean;
}

const MAX_BUFFERED_CANDIDATES = 64;
const SEND_TIMEOUT_MS = 15_000;
const KEPT_ENDED_CALLS = 20;

/** The calls plugin's work: the state machine over `calls/c`, the call log, the engine. */
export class CallsService implements CallsApi, Disposable {
  private readonly changes = new Emitter<CallView>((error) => this.ctx.log.error('calls: a change listener failed', { error }));
  readonly onDidChange = this.changes.event;
  private readonly calls_ = new Map<string, Call>();
  /** Call ids this client has seen (calls, glare losers, refused invites): an invite reusing one is a replay. */
  private readonly seen = new Set<string>();
  private readonly db: Db;
  private readonly now: () => number;
  private readonly ringTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly inviteMaxAgeMs: number;
  private attached: MediaEngine | undefined;
  /** Media sessions being closed (recorders finishing their files). */
  private readonly closing = new Set<Promise<void>>();
  private disposed = false;

  constructor(private readonly ctx: PluginContext, private readonly options: CallsServiceOptions = {}) {
    this.db = ctx.storage.db as Db;
    this.now = options.now ?? Date.now;
    this.ringTimeoutMs = options.ringTimeoutMs ?? 45_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 20_000;
    this.inviteMaxAgeMs = options.inviteMaxAgeMs ?? 60_000;
  }

  start(): void {
    this.ctx.subscriptions.push(this.ctx.channels.onMessage(CALLS_CHANNEL, (message) => this.receive(message)));
  }

  dispose(): void {
    this.disposed = true;
    for (const call of this.calls_.values()) {
      if (call.view.state !== 'ended') {
        this.send(call, { t: 'hangup', callId: call.view.callId });
        this.finish(call, 'hangup');
      }
    }
    this.changes.dispose();
  }

  async whenIdle(): Promise<void> {
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  attachEngine(engine: MediaEngine): Disposable {
    this.attached = engine;
    return toDisposable(() => {
      if (this.attached === engine) this.attached = undefined;
    });
  }

  // ---- API ----

  async call(contact: string, options: CallOptions = {}): Promise<CallView> {
    const peer = await this.resolvePeer(contact);
    const video = options.video === true;
    this.ensureIdle();
    const engine = this.engine();
    const callId = newCallId();
    this.seen.add(callId);
    const call = this.newCall({ callId, peer, direction: 'out', video, engine: engine.name });
    this.changed(call);
    try {
      const session = await this.openSession(call, engine, 'offerer', video);
      const sdp = await session.createOffer();
      if (ended(call)) return this.viewOf(call);
      call.localSdp = sdp;
      await this.sendNow(call, { t: 'invite', callId, video, at: this.now(), sdp });
      this.flushLocalCandidates(call);
    } catch (error) {
      const failure = isAppError(error) && error.code.startsWith('channels/')
        ? new AppError('calls/peer-unreachable', `Could not ring ${contact}: ${error.message}`, { cause: error })
        : toAppError(error, 'calls/media-failed', 'Could not set up the call media');
      this.finish(call, 'failed', failure);
      throw failure;
    }
    if (call.view.state === 'ringing') {
      call.timer = setTimeout(() => {
        if (call.view.state !== 'ringing') return;
        this.send(call, { t: 'cancel', callId });
        this.finish(call, 'no-answer');
      }, this.ringTimeoutMs);
    }
    return this.viewOf(call);
  }

  async accept(callId: string, options: CallOptions = {}): Promise<CallView> {
    const call = this.require('accept', callId);
    if (call.view.direction !== 'in' || call.view.state !== 'ringing') {
      throw new AppError('calls/not-ringing', `Call ${callId} is not an incoming call that is ringing (it is ${call.view.state}).`);
    }
    const video = options.video ?? call.view.video;
    const engine = this.engine();
    this.setState(call, 'connecting');
    clearTimeout(call.timer);
    call.view.engine = engine.name;
    call.view.camera = video;
    try {
      const session = await this.openSession(call, engine, 'answerer', video);
      const offer = call.offer!;
      call.remoteSdp = offer;
      const answer = await session.acceptOffer(offer);
      this.remoteApplied(call);
      if (ended(call)) return this.viewOf(call);
      call.localSdp = answer;
      await this.sendNow(call, { t: 'accept', callId, sdp: answer, video });
      this.flushLocalCandidates(call);
    } catch (error) {
      const failure = toAppError(error, 'calls/media-failed', 'Could not answer the call');
      this.send(call, { t: 'hangup', callId, reason: 'failed' });
      this.finish(call, 'failed', failure);
      throw failure;
    }
    this.startConnectTimer(call);
    return this.viewOf(call);
  }

  async decline(callId: string): Promise<CallView> {
    const call = this.require('decline', callId);
    if (call.view.direction !== 'in' || call.view.state !== 'ringing') {
      throw new AppError('calls/not-ringing', `Call ${callId} is not an incoming call that is ringing (it is ${call.view.state}).`);
    }
    this.send(call, { t: 'decline', callId });
    this.finish(call, 'declined');
    return this.viewOf(call);
  }

  async hangUp(callId: string): Promise<CallView> {
    const call = this.require('hangUp', callId);
    const { state, direction } = call.view;
    if (state === 'ended') return this.viewOf(call);
    if (state === 'ringing' && direction === 'in') return this.decline(callId);
    if (state === 'ringing') {
      this.send(call, { t: 'cancel', callId });
      this.finish(call, 'cancelled');
    } else {
      this.send(call, { t: 'hangup', callId });
      this.finish(call, 'hangup');
    }
    await call.chain;
    return this.viewOf(call);
  }

  async setMuted(callId: string, kind: MediaKind, muted: boolean): Promise<CallView> {
    if (kind !== 'audio' && kind !== 'video') throw new TypeError('setMuted: kind must be "audio" or "video"');
    if (typeof muted !== 'boolean') throw new TypeError('setMuted: muted must be a boolean');
    const call = this.requireLive('setMuted', callId);
    await call.session?.setMuted(kind, muted);
    call.view.muted = { ...call.view.muted, [kind]: muted };
    this.controlsChanged(call);
    return this.viewOf(call);
  }

  async setCamera(callId: string, on: boolean): Promise<CallView> {
    if (typeof on !== 'boolean') throw new TypeError('setCamera: on must be a boolean');
    const call = this.requireLive('setCamera', callId);
    await call.session?.setCamera(on);
    call.view.camera = on;
    if (on) call.view.video = true;
    this.controlsChanged(call);
    return this.viewOf(call);
  }

  async startScreenShare(callId: string): Promise<CallView> {
    const call = this.requireLive('startScreenShare', callId);
    await call.session?.startScreenShare();
    call.view.screenSharing = true;
    call.view.video = true;
    this.controlsChanged(call);
    return this.viewOf(call);
  }

  async stopScreenShare(callId: string): Promise<CallView> {
    const call = this.requireLive('stopScreenShare', callId);
    await call.session?.stopScreenShare();
    call.view.screenSharing = false;
    this.controlsChanged(call);
    return this.viewOf(call);
  }

  async restartIce(callId: string): Promise<CallView> {
    const call = this.requireLive('restartIce', callId);
    if (call.view.state === 'ringing') throw new AppError('calls/not-connected', `Call ${callId} is not connected yet; nothing to restart.`);
    if (call.session?.role === 'offerer') await this.reoffer(call, true);
    else this.send(call, { t: 'negotiate', callId, iceRestart: true });
    return this.viewOf(call);
  }

  async quality(callId: string): Promise<CallQuality> {
    const call = this.require('quality', callId);
    if (!call.session || call.view.state === 'ended') return { level: 'unknown', at: this.now() };
    return call.session.stats();
  }

  calls(): CallView[] {
    return [...this.calls_.values()].filter((c) => c.view.state !== 'ended').map((c) => this.viewOf(c));
  }

  get(callId: string): CallView | undefined {
    const call = this.calls_.get(callId);
    return call ? this.viewOf(call) : undefined;
  }

  async history(options: { contact?: string; limit?: number } = {}): Promise<CallLogEntry[]> {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new RangeError('history: limit must be an integer from 1 to 500');
    let query = this.db.selectFrom('calls_log').selectAll();
    if (options.contact !== undefined) query = query.where('peer', '=', await this.resolvePeer(options.contact));
    const rows = await query.orderBy('ended_at', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      callId: r.call_id, peer: r.peer as UserId, direction: r.direction, video: r.video === 1, startedAt: r.started_at,
      ...(r.connected_at !== null ? { connectedAt: r.connected_at } : {}), endedAt: r.ended_at, endReason: r.end_reason, durationS: r.duration_s,
    }));
  }

  // ---- incoming records ----

  private async receive(message: PeerMessage): Promise<void> {
    let record: CallRecord;
    try {
      record = decodeCallRecord(message.data);
    } catch (error) {
      if (error instanceof CallRecordRejected) {
        this.ctx.log.warn('calls: dropped a record', { from: message.from, reason: error.reason, detail: error.message });
        return;
      }
      throw error;
    }
    if (record.t === 'invite') return this.onInvite(message.from, record);
    const call = this.calls_.get(record.callId);
    if (!call || call.view.peer !== message.from) {
      this.ctx.log.debug('calls: record for an unknown call dropped', { from: message.from, type: record.t });
      return;
    }
    if (call.view.state === 'ended') return;
    try {
      await this.handle(call, record);
    } catch (error) {
      this.ctx.log.warn('calls: handling a record failed', { callId: call.view.callId, type: record.t, code: isAppError(error) ? error.code : 'error' });
      if (!ended(call)) {
        this.send(call, { t: 'hangup', callId: call.view.callId, reason: 'failed' });
        this.finish(call, 'failed', toAppError(error, 'calls/media-failed', 'The call media failed'));
      }
    }
  }

  private async onInvite(from: UserId, invite: Extract<CallRecord, { t: 'invite' }>): Promise<void> {
    const { callId } = invite;
    if (this.seen.has(callId) || (await this.logged(callId))) {
      this.ctx.log.warn('calls: refused a replayed invite', { from, callId });
      return;
    }
    this.seen.add(callId);
    const now = this.now();
    if (Math.abs(now - invite.at) > this.inviteMaxAgeMs) {
      // Delivered late (the caller rang while we were offline): a missed call, never a ring.
      this.ctx.log.info('calls: stale invite recorded as missed', { from, callId, ageMs: now - invite.at });
      const call = this.newCall({ callId, peer: from, direction: 'in', video: invite.video, startedAt: Math.min(invite.at, now) });
      this.finish(call, 'missed');
      return;
    }
    const mine = [...this.calls_.values()].find((c) => c.view.state !== 'ended');
    if (mine && mine.view.peer === from && mine.view.direction === 'out' && mine.view.state === 'ringing') {
      // Glare: both rang at once. The lower call id wins on both sides; the loser's side answers the winner.
      if (callId > mine.view.callId) {
        this.ctx.log.info('calls: glare, our call wins', { callId: mine.view.callId });
        return;
      }
      this.ctx.log.info('calls: glare, the peer\'s call wins', { callId });
      const video = mine.view.video;
      this.finish(mine, 'glare');
      const call = this.newCall({ callId, peer: from, direction: 'in', video: invite.video });
      call.offer = invite.sdp;
      this.changed(call);
      await this.accept(callId, { video }).catch(() => undefined);
      return;
    }
    if (mine) {
      const call = this.newCall({ callId, peer: from, direction: 'in', video: invite.video });
      this.send(call, { t: 'busy', callId });
      this.finish(call, 'missed');
      return;
    }
    if (sdpFingerprint(invite.sdp) === undefined) {
      this.ctx.log.warn('calls: refused an invite without one DTLS fingerprint', { from, callId });
      return;
    }
    const call = this.newCall({ callId, peer: from, direction: 'in', video: invite.video });
    call.offer = invite.sdp;
    // Local candidates (once accepted) wait for the accept record: sent before it, each would
    // delay the answer by a confirmation round trip.
    this.send(call, { t: 'ringing', callId });
    // A little longer than the caller's own timeout, in case its cancel is lost.
    call.timer = setTimeout(() => {
      if (call.view.state === 'ringing') this.finish(call, 'missed');
    }, this.ringTimeoutMs + 15_000);
    this.changed(call);
  }

  private async handle(call: Call, record: Exclude<CallRecord, { t: 'invite' }>): Promise<void> {
    const { view } = call;
    switch (record.t) {
      case 'ringing':
        return;
      case 'accept': {
        if (view.direction !== 'out' || view.state !== 'ringing' || !call.session) return this.stale(call, record.t);
        clearTimeout(call.timer);
        this.setState(call, 'connecting');
        view.remote.camera = record.video;
        call.remoteSdp = record.sdp;
        if (sdpFingerprint(record.sdp) === undefined) throw new AppError('calls/fingerprint-mismatch', 'The answer carries no single DTLS fingerprint; the call was ended.');
        await call.session.acceptAnswer(record.sdp);
        this.remoteApplied(call);
        this.startConnectTimer(call);
        return;
      }
      case 'decline':
        if (view.direction !== 'out' || view.state !== 'ringing') return this.stale(call, record.t);
        return this.finish(call, 'declined');
      case 'busy':
        if (view.direction !== 'out' || view.state !== 'ringing') return this.stale(call, record.t);
        return this.finish(call, 'busy');
      case 'cancel':
        if (view.direction !== 'in') return this.stale(call, record.t);
        return this.finish(call, view.state === 'ringing' ? 'missed' : 'remote-hangup');
      case 'hangup':
        if (view.direction === 'in' && view.state === 'ringing') return this.finish(call, 'missed');
        return this.finish(call, record.reason === 'failed' ? 'failed' : 'remote-hangup',
          record.reason === 'failed' ? new AppError('calls/remote-failed', 'The other side could not keep the call up.') : undefined);
      case 'candidate':
        if (!call.remoteApplied || !call.session) {
          if (call.remoteCandidates.length < MAX_BUFFERED_CANDIDATES) call.remoteCandidates.push(record.candidate);
          return;
        }
        return call.session.addRemoteCandidate(record.candidate);
      case 'reoffer': {
        if (!call.session || call.session.role !== 'answerer' || view.state === 'ringing') return this.stale(call, record.t);
        if (record.seq <= call.negotiationSeq) {
          this.ctx.log.warn('calls: refused a replayed or stale re-offer', { callId: view.callId, seq: record.seq });
          return;
        }
        this.checkSameFingerprint(call, record.sdp);
        call.negotiationSeq = record.seq;
        call.remoteSdp = record.sdp;
        const answer = await call.session.acceptOffer(record.sdp);
        call.localSdp = answer;
        this.send(call, { t: 'reanswer', callId: view.callId, seq: record.seq, sdp: answer });
        return;
      }
      case 'reanswer': {
        if (!call.session || call.session.role !== 'offerer' || record.seq !== call.negotiationSeq) return this.stale(call, record.t);
        this.checkSameFingerprint(call, record.sdp);
        call.remoteSdp = record.sdp;
        await call.session.acceptAnswer(record.sdp);
        return;
      }
      case 'negotiate':
        if (!call.session || call.session.role !== 'offerer' || view.state === 'ringing') return this.stale(call, record.t);
        // A negotiation the engine cannot make leaves the call as it is.
        return this.reoffer(call, record.iceRestart === true).catch((error: unknown) => {
          this.ctx.log.warn('calls: could not renegotiate for the peer', { callId: view.callId, code: isAppError(error) ? error.code : 'error' });
        });
      case 'controls':
        view.remote = { audioMuted: record.audioMuted, camera: record.camera, screenSharing: record.screenSharing };
        if (record.camera || record.screenSharing) view.video = true;
        this.changed(call);
        return;
    }
  }

  private stale(call: Call, type: string): void {
    this.ctx.log.debug('calls: record does not fit the call state, dropped', { callId: call.view.callId, type, state: call.view.state });
  }

  /** Within a call the peer's certificate cannot change: a new SDP with another fingerprint is an attack. */
  private checkSameFingerprint(call: Call, sdp: string): void {
    const before = call.remoteSdp ? sdpFingerprint(call.remoteSdp) : undefined;
    if (sdpFingerprint(sdp) === undefined || sdpFingerprint(sdp) !== before) {
      throw new AppError('calls/fingerprint-mismatch', 'The peer\'s new offer/answer announces a different DTLS certificate; the call was ended.');
    }
  }

  private async reoffer(call: Call, iceRestart: boolean): Promise<void> {
    const session = call.session!;
    const sdp = iceRestart ? await session.restartIce() : await session.renegotiate();
    call.localSdp = sdp;
    call.negotiationSeq += 1;
    this.send(call, { t: 'reoffer', callId: call.view.callId, seq: call.negotiationSeq, sdp });
  }

  // ---- media session ----

  private async openSession(call: Call, engine: MediaEngine, role: 'offerer' | 'answerer', video: boolean): Promise<MediaSession> {
    const session = await engine.createSession({
      callId: call.view.callId, role, audio: true, video, iceServers: this.options.iceServers ?? [],
      ...(this.options.loopbackOnly ? { loopbackOnly: true } : {}),
    });
    call.session = session;
    call.view.camera = video;
    call.subs.push(session.onLocalCandidate((candidate) => {
      if (!call.signalled) {
        if (call.localCandidates.length < MAX_BUFFERED_CANDIDATES) call.localCandidates.push(candidate);
        return;
      }
      this.sendCandidate(call, candidate);
    }));
    call.subs.push(session.onState((state) => void this.mediaState(call, state)));
    call.subs.push(session.onNegotiationNeeded(() => {
      if (call.view.state === 'ended' || call.view.state === 'ringing') return;
      if (session.role === 'offerer') void this.reoffer(call, false).catch((error) => this.ctx.log.warn('calls: renegotiation failed', { error: String(error) }));
      else this.send(call, { t: 'negotiate', callId: call.view.callId });
    }));
    if (ended(call)) await session.close().catch(() => undefined);
    return session;
  }

  private async mediaState(call: Call, state: MediaSessionState): Promise<void> {
    if (call.view.state === 'ended') return;
    switch (state) {
      case 'connected': {
        clearTimeout(call.disconnectTimer);
        if (!call.verified) {
          const presented = await call.session!.remoteFingerprint().catch(() => undefined);
          const expected = call.remoteSdp ? sdpFingerprint(call.remoteSdp) : undefined;
          if (ended(call)) return;
          if (presented === undefined || expected === undefined || presented.toUpperCase() !== expected.toUpperCase()) {
            this.ctx.log.error('calls: the DTLS certificate does not match the fingerprint received end to end; call ended', { callId: call.view.callId });
            this.send(call, { t: 'hangup', callId: call.view.callId, reason: 'failed' });
            this.finish(call, 'failed', new AppError('calls/fingerprint-mismatch',
              'The other side\'s media certificate does not match the one it announced through the encrypted session; the call was ended. Someone may be interfering with the connection.'));
            return;
          }
          call.verified = true;
        }
        clearTimeout(call.timer);
        call.view.connectedAt ??= this.now();
        this.setState(call, 'active');
        return;
      }
      case 'failed':
        this.send(call, { t: 'hangup', callId: call.view.callId, reason: 'failed' });
        this.finish(call, 'failed', new AppError('calls/media-failed', 'The media connection failed (no network path between you, or it broke).'));
        return;
      case 'disconnected':
        // The caller restarts ICE if the path does not come back by itself (network change).
        if (call.session?.role === 'offerer') {
          clearTimeout(call.disconnectTimer);
          call.disconnectTimer = setTimeout(() => {
            if (call.view.state === 'active') void this.reoffer(call, true).catch(() => undefined);
          }, 3_000);
        }
        return;
      default:
        return;
    }
  }

  private remoteApplied(call: Call): void {
    call.remoteApplied = true;
    const queued = call.remoteCandidates.splice(0);
    for (const candidate of queued) {
      void call.session!.addRemoteCandidate(candidate).catch((error) => this.ctx.log.debug('calls: a remote candidate was refused', { error: String(error) }));
    }
  }

  private flushLocalCandidates(call: Call): void {
    call.signalled = true;
    for (const candidate of call.localCandidates.splice(0)) this.sendCandidate(call, candidate);
  }

  /** Trickles a candidate unless the SDP the peer has already lists it (each send is a ratchet step and a round trip). */
  private sendCandidate(call: Call, candidate: IceCandidateInit): void {
    if (call.localSdp?.includes(`a=${candidate.candidate}`)) return;
    this.send(call, { t: 'candidate', callId: call.view.callId, candidate });
  }

  private startConnectTimer(call: Call): void {
    clearTimeout(call.timer);
    call.timer = setTimeout(() => {
      if (call.view.state !== 'connecting') return;
      this.send(call, { t: 'hangup', callId: call.view.callId, reason: 'failed' });
      this.finish(call, 'failed', new AppError('calls/media-failed', `The call media did not connect within ${Math.round(this.connectTimeoutMs / 1000)} s (no network path between you).`));
    }, this.connectTimeoutMs);
  }

  // ---- bookkeeping ----

  private newCall(init: { callId: string; peer: UserId; direction: 'in' | 'out'; video: boolean; engine?: string; startedAt?: number }): Call {
    this.seen.add(init.callId);
    const call: Call = {
      view: {
        callId: init.callId, peer: init.peer, direction: init.direction, video: init.video, state: 'ringing', startedAt: init.startedAt ?? this.now(),
        muted: { audio: false, video: false }, camera: init.direction === 'out' && init.video, screenSharing: false,
        remote: { audioMuted: false, camera: init.direction === 'in' && init.video, screenSharing: false },
        ...(init.engine ? { engine: init.engine } : {}),
      },
      subs: new DisposableCollection(),
      remoteCandidates: [],
      remoteApplied: false,
      localCandidates: [],
      signalled: false,
      chain: Promise.resolve(),
      negotiationSeq: 0,
      verified: false,
    };
    this.calls_.set(init.callId, call);
    this.prune();
    return call;
  }

  private prune(): void {
    const ended = [...this.calls_.values()].filter((c) => c.view.state === 'ended');
    for (const call of ended.slice(0, Math.max(0, ended.length - KEPT_ENDED_CALLS))) this.calls_.delete(call.view.callId);
  }

  private setState(call: Call, state: CallView['state']): void {
    if (call.view.state === state) return;
    call.view.state = state;
    this.changed(call);
  }

  private changed(call: Call): void {
    if (this.disposed) return;
    const view = this.viewOf(call);
    this.changes.fire(view);
    this.ctx.events.publish('calls.state', { call: view });
  }

  private controlsChanged(call: Call): void {
    this.changed(call);
    if (call.view.state === 'ringing' && call.view.direction === 'in') return;
    const { muted, camera, screenSharing } = call.view;
    this.send(call, { t: 'controls', callId: call.view.callId, audioMuted: muted.audio, camera: camera && !muted.video, screenSharing });
  }

  /** Ends a call once: stops timers and media, writes the log entry, tells listeners. */
  private finish(call: Call, reason: CallEndReason, error?: AppError): void {
    if (call.view.state === 'ended') return;
    clearTimeout(call.timer);
    clearTimeout(call.disconnectTimer);
    const endedAt = this.now();
    call.view.state = 'ended';
    call.view.endReason = reason;
    call.view.endedAt = endedAt;
    if (error) call.view.error = { code: error.code, message: error.message };
    call.subs.dispose();
    const session = call.session;
    if (session) {
      const closed = session.close().catch((e) => this.ctx.log.debug('calls: closing the media session failed', { error: String(e) }));
      this.closing.add(closed);
      void closed.finally(() => this.closing.delete(closed));
    }
    const { view } = call;
    const entry: CallLogEntry = {
      callId: view.callId, peer: view.peer, direction: view.direction, video: view.video, startedAt: view.startedAt,
      ...(view.connectedAt !== undefined ? { connectedAt: view.connectedAt } : {}), endedAt, endReason: reason,
      durationS: view.connectedAt !== undefined ? Math.max(0, Math.round((endedAt - view.connectedAt) / 1000)) : 0,
    };
    this.changed(call);
    if (this.disposed) return;
    void this.db.insertInto('calls_log').values({
      call_id: entry.callId, peer: entry.peer, direction: entry.direction, video: entry.video ? 1 : 0, started_at: entry.startedAt,
      connected_at: entry.connectedAt ?? null, ended_at: entry.endedAt, end_reason: entry.endReason, duration_s: entry.durationS,
    }).onConflict((oc) => oc.column('call_id').doNothing()).execute()
      .then(() => this.ctx.events.publish('calls.logged', { entry }))
      .catch((e) => this.ctx.log.error('calls: could not write the call log', { error: String(e) }));
  }

  private async logged(callId: string): Promise<boolean> {
    return (await this.db.selectFrom('calls_log').select('call_id').where('call_id', '=', callId).executeTakeFirst()) !== undefined;
  }

  /** Queues a record to the peer; failures are logged (the call's timers handle a silent peer). */
  private send(call: Call, record: CallRecord): void {
    this.sendNow(call, record).catch((error) => {
      this.ctx.log.debug('calls: a record was not delivered', { callId: call.view.callId, type: record.t, code: isAppError(error) ? error.code : 'error' });
    });
  }

  private sendNow(call: Call, record: CallRecord): Promise<void> {
    const data = encodeCallRecord(record);
    const run = call.chain.then(async () => void await this.ctx.channels.send(call.view.peer, CALLS_CHANNEL, data, { timeoutMs: SEND_TIMEOUT_MS }));
    call.chain = run.catch(() => undefined);
    return run;
  }

  private viewOf(call: Call): CallView {
    return structuredClone(call.view);
  }

  private engine(): MediaEngine {
    const engine = this.attached ?? this.options.engine;
    if (!engine) throw new AppError('calls/no-engine', 'No media engine is available in this client (the desktop app attaches one when its window is open).');
    return engine;
  }

  private ensureIdle(): void {
    const busy = [...this.calls_.values()].find((c) => c.view.state !== 'ended');
    if (busy) throw new AppError('calls/busy', `You are already in a call (${busy.view.callId}); hang up first.`);
  }

  private require(fn: string, callId: string): Call {
    if (typeof callId !== 'string' || !callIdSchema.safeParse(callId).success) throw new TypeError(`${fn}: expected a call id of 32 hex digits`);
    const call = this.calls_.get(callId);
    if (!call) throw new AppError('calls/unknown-call', `There is no call ${callId}.`);
    return call;
  }

  private requireLive(fn: string, callId: string): Call {
    const call = this.require(fn, callId);
    if (call.view.state === 'ended') throw new AppError('calls/ended', `Call ${callId} has ended.`);
    return call;
  }

  private async resolvePeer(ref: string): Promise<UserId> {
    if (typeof ref !== 'string' || ref.trim() === '') throw new TypeError('calls: expected a user ID or a contact name');
    try {
      return (await this.ctx.contacts.resolve(ref.trim())).userId;
    } catch (error) {
      if (isAppError(error, 'contacts/not-found') || isAppError(error, 'contacts/invalid-user-id')) {
        const hint = isUserId(ref.trim()) ? `Add them first: discordopus contacts add ${ref.trim()}` : 'Check the name with "discordopus contacts list".';
        throw new AppError('calls/unknown-contact', `"${ref}" is not one of your contacts. ${hint}`, { cause: error });
      }
      throw error;
    }
  }
}

/** Reads the state afresh: it may change while an engine call is awaited. */
function ended(call: Call): boolean {
  return call.view.state === 'ended';
}

function toAppError(error: unknown, code: string, what: string): AppError {
  if (isAppError(error)) return error;
  return new AppError(code, `${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
