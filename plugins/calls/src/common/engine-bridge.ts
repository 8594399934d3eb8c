import { AppError, Emitter, type Disposable, type Event } from '@discordopus/sdk';
import type {
  CallQuality, EngineBridgeEvent, EngineBridgeRequest, EngineBridgeResponse, IceCandidateInit, MediaEngine, MediaKind, MediaRole,
  MediaSession, MediaSessionMethod, MediaSessionOptions, MediaSessionState,
} from './media-engine.ts';

/*
 * Both ends of driving a MediaEngine across a process boundary with plain JSON messages.
 * Kernel side: `BridgedMediaEngine` (a MediaEngine whose sessions forward every call).
 * Engine side (e.g. the renderer): `serveMediaEngine(engine, send)` runs the requests on the
 * real engine and sends back responses and session events. The transport is the host's:
 * JSON-RPC notifications (`calls.engine.*`), the preload bridge, a MessagePort.
 */

const DEFAULT_TIMEOUT_MS = 30_000;

/** The kernel side: forwards to an engine that lives elsewhere. */
export class BridgedMediaEngine implements MediaEngine, Disposable {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void; timer: ReturnType<typeof setTimeout> }>();
  private readonly sessions = new Map<string, BridgedMediaSession>();
  private disposed = false;

  constructor(
    readonly name: string,
    private readonly sendRequest: (request: EngineBridgeRequest) => void,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {}

  async createSession(options: MediaSessionOptions): Promise<MediaSession> {
    const session = new BridgedMediaSession(this, options.callId, options.role);
    this.sessions.set(options.callId, session);
    try {
      await this.request({ method: 'createSession', args: [options] });
    } catch (error) {
      this.sessions.delete(options.callId);
      throw error;
    }
    return session;
  }

  /** Feed the engine's responses here. Unknown ids are ignored (late answers after a timeout). */
  handleResponse(response: EngineBridgeResponse): void {
    const entry = this.pending.get(response.id);
    if (!entry) return;
    this.pending.delete(response.id);
    clearTimeout(entry.timer);
    if ('error' in response) entry.reject(new AppError('calls/engine-failed', `The media engine failed: ${String(response.error?.message ?? 'unknown error').slice(0, 500)}`));
    else entry.resolve(response.result);
  }

  /** Feed the engine's session events here. */
  handleEvent(event: EngineBridgeEvent): void {
    this.sessions.get(event.callId)?.fire(event);
  }

  /** The engine went away: pending calls fail and every open session reports `failed`. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const [id, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new AppError('calls/engine-gone', 'The media engine disconnected.'));
      this.pending.delete(id);
    }
    for (const session of this.sessions.values()) session.fire({ callId: session.callId, event: 'state', state: 'failed' });
    this.sessions.clear();
  }

  /** @internal */
  request(request: { method: 'createSession'; args: [MediaSessionOptions] } | { callId: string; method: MediaSessionMethod; args: unknown[] }): Promise<unknown> {
    if (this.disposed) return Promise.reject(new AppError('calls/engine-gone', 'The media engine disconnected.'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AppError('calls/engine-timeout', `The media engine did not answer ${request.method} within ${Math.round(this.timeoutMs / 1000)} s.`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.sendRequest({ id, ...request } as EngineBridgeRequest);
    });
  }

  /** @internal */
  forget(callId: string): void {
    this.sessions.delete(callId);
  }
}

class BridgedMediaSession implements MediaSession {
  private readonly candidates = new Emitter<IceCandidateInit>();
  private readonly states = new Emitter<MediaSessionState>();
  private readonly negotiation = new Emitter<void>();
  readonly onLocalCandidate: Event<IceCandidateInit> = this.candidates.event;
  readonly onState: Event<MediaSessionState> = this.states.event;
  readonly onNegotiationNeeded: Event<void> = this.negotiation.event;

  constructor(private readonly engine: BridgedMediaEngine, readonly callId: string, readonly role: MediaRole) {}

  fire(event: EngineBridgeEvent): void {
    if (event.event === 'localCandidate') this.candidates.fire(event.candidate);
    else if (event.event === 'state') this.states.fire(event.state);
    else this.negotiation.fire();
  }

  private call<T>(method: MediaSessionMethod, ...args: unknown[]): Promise<T> {
    return this.engine.request({ callId: this.callId, method, args }) as Promise<T>;
  }

  createOffer(): Promise<string> { return this.call('createOffer').then(text('createOffer')); }
  acceptOffer(sdp: string): Promise<string> { return this.call('acceptOffer', sdp).then(text('acceptOffer')); }
  async acceptAnswer(sdp: string): Promise<void> { await this.call('acceptAnswer', sdp); }
  async addRemoteCandidate(candidate: IceCandidateInit): Promise<void> { await this.call('addRemoteCandidate', candidate); }
  async remoteFingerprint(): Promise<string | undefined> {
    const value = await this.call<unknown>('remoteFingerprint');
    return typeof value === 'string' ? value : undefined;
  }
  async setMuted(kind: MediaKind, muted: boolean): Promise<void> { await this.call('setMuted', kind, muted); }
  async setCamera(on: boolean): Promise<void> { await this.call('setCamera', on); }
  async startScreenShare(): Promise<void> { await this.call('startScreenShare'); }
  async stopScreenShare(): Promise<void> { await this.call('stopScreenShare'); }
  renegotiate(): Promise<string> { return this.call('renegotiate').then(text('renegotiate')); }
  restartIce(): Promise<string> { return this.call('restartIce').then(text('restartIce')); }
  stats(): Promise<CallQuality> { return this.call<CallQuality>('stats'); }
  async close(): Promise<void> {
    this.engine.forget(this.callId);
    await this.call('close').catch(() => undefined);
    this.candidates.dispose();
    this.states.dispose();
    this.negotiation.dispose();
  }
}

function text(method: string) {
  return (value: unknown): string => {
    if (typeof value !== 'string') throw new AppError('calls/engine-failed', `The media engine answered ${method} with something other than SDP text.`);
    return value;
  };
}

const SESSION_METHODS: ReadonlySet<string> = new Set<MediaSessionMethod>([
  'createOffer', 'acceptOffer', 'acceptAnswer', 'addRemoteCandidate', 'remoteFingerprint', 'setMuted', 'setCamera',
  'startScreenShare', 'stopScreenShare', 'renegotiate', 'restartIce', 'selectDevices', 'stats', 'close',
]);

/** What the engine side sends back. */
export type EngineBridgeOutput = { response: EngineBridgeResponse } | { event: EngineBridgeEvent };

/**
 * The engine side: runs requests from a {@link BridgedMediaEngine} on a real engine and sends
 * back one response per request plus the sessions' events.
 */
export function serveMediaEngine(engine: MediaEngine, send: (output: EngineBridgeOutput) => void): { handleRequest(request: EngineBridgeRequest): Promise<void> } & Disposable {
  const sessions = new Map<string, { session: MediaSession; subs: Disposable[] }>();
  const run = async (request: EngineBridgeRequest): Promise<unknown> => {
    if (request.method === 'createSession') {
      const options = request.args[0];
      const session = await engine.createSession(options);
      const callId = options.callId;
      sessions.set(callId, {
        session,
        subs: [
          session.onLocalCandidate((candidate) => send({ event: { callId, event: 'localCandidate', candidate } })),
          session.onState((state) => send({ event: { callId, event: 'state', state } })),
          session.onNegotiationNeeded(() => send({ event: { callId, event: 'negotiationNeeded' } })),
        ],
      });
      return null;
    }
    if (!SESSION_METHODS.has(request.method)) throw new TypeError(`unknown method ${String(request.method).slice(0, 40)}`);
    const entry = sessions.get(request.callId);
    if (!entry) throw new Error(`no session for call ${String(request.callId).slice(0, 40)}`);
    const method = (entry.session as unknown as Record<string, ((...args: unknown[]) => Promise<unknown>) | undefined>)[request.method];
    if (typeof method !== 'function') throw new TypeError(`the engine has no ${request.method}`);
    const result = await method.apply(entry.session, request.args);
    if (request.method === 'close') {
      entry.subs.forEach((s) => s.dispose());
      sessions.delete(request.callId);
    }
    return result ?? null;
  };
  return {
    async handleRequest(request) {
      try {
        send({ response: { id: request.id, result: await run(request) } });
      } catch (error) {
        send({ response: { id: request.id, error: { message: error instanceof Error ? error.message : String(error) } } });
      }
    },
    dispose() {
      for (const { session, subs } of sessions.values()) {
        subs.forEach((s) => s.dispose());
        void session.close().catch(() => undefined);
      }
      sessions.clear();
    },
  };
}
