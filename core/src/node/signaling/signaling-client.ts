import { createPublicKey, verify } from 'node:crypto';
import { z } from 'zod';
import { io, type Socket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import {
  AppError, Emitter, SignalingErrorCodes, SignalingEvents, SignalingLimits, authChallengeMessage, authChallengeSchema, authResponseSchema, envelopeDeliveryWireSchema, envelopeResultSchema,
  prekeyBundleSchema, prekeyCountSchema, prekeyUploadSchema, presenceUpdateSchema, shutdownNoticeSchema, signalingErrorSchema, signalingOrigin,
  signedPrekeyMessage, userIdFromPublicKey, type Disposable, type EnvelopeDelivery, type Event, type OneTimePrekey,
  type PrekeyBundle, type PrekeyCount, type PresenceUpdate, type SignalingResult, type SignedPrekey, type UserId,
} from '@discordopus/sdk';

export type SignalingState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface SignalingClientOptions {
  /** `http(s)://host:port` or `ws(s)://…` of the server (or of the load balancer in front). */
  url: string;
  /** Ed25519 identity public key (32 bytes). */
  publicKey: Uint8Array;
  /** Signs with the identity key; the private key stays wherever this callback lives (the keyring). */
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** The origin signed into the auth response. Default: derived from `url`. */
  origin?: string;
  /** Reconnect (and re-authenticate, re-subscribe) after a lost connection. Default true. */
  reconnect?: boolean;
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
  /** How long a request waits for the server's answer. Default 15 s. */
  requestTimeoutMs?: number;
  /** TLS options for wss (e.g. `ca` of a private CA). */
  tls?: Pick<ManagerOptions & SocketOptions, 'ca' | 'rejectUnauthorized'>;
}

/** An envelope waiting to be sent in the next burst, or sent and waiting for its outcome. */
interface PendingEnvelope {
  readonly to: UserId;
  readonly payload: string;
  seq: number;
  resolve(status: 'delivered' | 'offline'): void;
  reject(error: unknown): void;
}

/** Envelopes sent under one acknowledgement at most (protocol 2). */
const MAX_BURST = 256;

// Auth refusals that a later retry can cure; the others (bad signature, wrong origin) cannot.
const TRANSIENT = new Set<string>([SignalingErrorCodes.tooManyPending, SignalingErrorCodes.rateLimited, SignalingErrorCodes.shuttingDown, SignalingErrorCodes.authTimeout]);

/**
 * The kernel's connection to the signaling server: proves the identity by signing the server's
 * challenge, then relays envelopes, presence and prekeys. Everything the server sends is
 * validated against the protocol schemas and prekey bundles are verified, because the server is
 * not trusted. Server errors surface as `AppError` with the wire code.
 */
export class SignalingClient implements Disposable {
  private readonly socket: Socket;
  private readonly origin: string;
  private readonly ownUserId: UserId;
  private currentState: SignalingState = 'idle';
  private watched: UserId[] = [];
  private readonly presence = new Map<UserId, boolean>();
  private waiters: { resolve(): void; reject(error: unknown): void }[] = [];
  private reconnectAfterMs: number | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private fatal: AppError | undefined;
  private terminating = false;
  /** Protocol version the server announced in its last challenge. */
  private serverProtocol = 1;
  private outbox: PendingEnvelope[] = [];
  private flushScheduled = false;
  /** Sent without an acknowledgement (protocol 2), by `seq`: settled by `envelope:result` or by the burst's acknowledgement. */
  private readonly unacked = new Map<number, PendingEnvelope>();
  private nextSeq = 0;

  private readonly stateEmitter = new Emitter<SignalingState>();
  private readonly envelopeEmitter = new Emitter<EnvelopeDelivery>();
  private readonly presenceEmitter = new Emitter<PresenceUpdate>();
  private readonly prekeysLowEmitter = new Emitter<PrekeyCount>();
  private readonly errorEmitter = new Emitter<AppError>();

  readonly onDidChangeState: Event<SignalingState> = this.stateEmitter.event;
  /** An envelope for this user; `from` is the sender the server authenticated. */
  readonly onEnvelope: Event<EnvelopeDelivery> = this.envelopeEmitter.event;
  /** A watched user came online or went offline (fired on changes only). */
  readonly onPresence: Event<PresenceUpdate> = this.presenceEmitter.event;
  /** The server handed out our prekeys and few one-time prekeys are left: upload more. */
  readonly onPrekeysLow: Event<PrekeyCount> = this.prekeysLowEmitter.event;
  /** Errors the server reported outside a request (auth refused, rate limits, shutdown). */
  readonly onError: Event<AppError> = this.errorEmitter.event;

  constructor(private readonly options: SignalingClientOptions) {
    if (!(options.publicKey instanceof Uint8Array) || options.publicKey.length !== 32) throw new RangeError('SignalingClient: publicKey must be 32 bytes');
    this.ownUserId = userIdFromPublicKey(options.publicKey);
    this.origin = options.origin ?? signalingOrigin(options.url);
    this.socket = io(options.url, {
      transports: ['websocket'],
      autoConnect: false,
      reconnection: options.reconnect ?? true,
      reconnectionDelay: options.reconnectDelayMs ?? 500,
      reconnectionDelayMax: options.reconnectDelayMaxMs ?? 10_000,
      ...options.tls,
    });
    this.socket.on(SignalingEvents.challenge, (challenge: unknown) => void this.answer(challenge));
    this.socket.on(SignalingEvents.envelope, (message: unknown) => {
      const parsed = envelopeDeliveryWireSchema.safeParse(message);
      if (!parsed.success) return;
      const payload = Buffer.from(parsed.data.payload, 'base64url');
      this.envelopeEmitter.fire({ from: parsed.data.from, payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength) });
    });
    this.socket.on(SignalingEvents.envelopeResult, (message: unknown) => {
      const parsed = envelopeResultSchema.safeParse(message);
      const pending = parsed.success ? this.unacked.get(parsed.data.seq) : undefined;
      if (!parsed.success || !pending) return;
      this.unacked.delete(parsed.data.seq);
      if (parsed.data.ok) pending.resolve('offline');
      else pending.reject(new AppError(parsed.data.error.code, parsed.data.error.message));
    });
    this.socket.on(SignalingEvents.presence, (message: unknown) => {
      const parsed = presenceUpdateSchema.safeParse(message);
      if (parsed.success && this.watched.includes(parsed.data.userId)) this.setPresence(parsed.data.userId, parsed.data.online);
    });
    this.socket.on(SignalingEvents.prekeysLow, (message: unknown) => {
      const parsed = prekeyCountSchema.safeParse(message);
      if (parsed.success) this.prekeysLowEmitter.fire(parsed.data);
    });
    this.socket.on(SignalingEvents.error, (message: unknown) => {
      const parsed = signalingErrorSchema.safeParse(message);
      if (!parsed.success) return;
      const error = new AppError(parsed.data.code, parsed.data.message);
      if (!TRANSIENT.has(error.code) && this.currentState !== 'connected') this.fatal = error;
      this.errorEmitter.fire(error);
      this.settle(error);
    });
    this.socket.on(SignalingEvents.shutdown, (message: unknown) => {
      const parsed = shutdownNoticeSchema.safeParse(message);
      this.reconnectAfterMs = parsed.success ? Math.min(parsed.data.reconnectAfterMs, 60_000) : 1000;
    });
    this.socket.on('disconnect', (reason) => {
      if (this.currentState === 'closed' || this.terminating) return;
      this.setState('reconnecting');
      // socket.io reconnects by itself after transport loss, not after a server-side disconnect.
      if (reason === 'io server disconnect') {
        if (this.fatal || this.options.reconnect === false) return this.terminate(this.fatal);
        const base = this.reconnectAfterMs ?? this.options.reconnectDelayMs ?? 500;
        this.reconnectAfterMs = undefined;
        this.reconnectTimer = setTimeout(() => this.socket.connect(), base + Math.random() * base);
      } else if (this.options.reconnect === false) {
        this.terminate(new AppError(SignalingErrorCodes.unreachable, 'Lost the connection to the signaling server.'));
      }
    });
    this.socket.on('connect_error', (error) => {
      this.settle(new AppError(SignalingErrorCodes.unreachable, `Cannot reach the signaling server at ${this.options.url}: ${error.message}. Check the address and your network.`));
    });
  }

  get state(): SignalingState {
    return this.currentState;
  }

  /** This client's user ID (derived from the public key). */
  get userId(): UserId {
    return this.ownUserId;
  }

  /**
   * Connects and authenticates. Resolves once authenticated; rejects with the server's AppError
   * when it refuses us, or `signaling/unreachable` when the first attempt fails (retries go on
   * in the background unless `reconnect` is false or the client is closed).
   */
  connect(): Promise<void> {
    if (this.currentState === 'closed') return Promise.reject(new AppError(SignalingErrorCodes.notConnected, 'This signaling client is closed; create a new one.'));
    if (this.currentState === 'connected') return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.currentState === 'idle') {
      this.setState('connecting');
      this.socket.connect();
    }
    return done;
  }

  /** Relays an (already end-to-end encrypted) payload. `offline`: the recipient has no live connection; nothing was stored. */
  async send(to: UserId, payload: Uint8Array): Promise<'delivered' | 'offline'> {
    if (payload.length > SignalingLimits.maxPayloadBytes) {
      throw new AppError(SignalingErrorCodes.payloadTooLarge, `Envelope payloads are limited to ${SignalingLimits.maxPayloadBytes} bytes; split the message.`);
    }
    const wire = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64url');
    if (this.serverProtocol >= 2) {
      if (this.currentState !== 'connected') throw new AppError(SignalingErrorCodes.notConnected, 'Not connected to the signaling server; wait for the connection and retry.');
      return new Promise((resolve, reject) => {
        this.outbox.push({ to, payload: wire, seq: 0, resolve, reject });
        this.scheduleFlush();
      });
    }
    const result = await this.request<{ status: 'delivered' | 'offline' }>(SignalingEvents.envelope, { to, payload: wire });
    if (result.status !== 'delivered' && result.status !== 'offline') throw this.violation('envelope status');
    return result.status;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Sends the envelopes queued since the last flush as bursts (protocol 2): each but the last
   * with a `seq` and no acknowledgement, the last with one. The server answers envelopes in
   * order, so when that acknowledgement comes, every earlier envelope of the burst without an
   * `envelope:result` was delivered. Halves the packets per envelope under load.
   */
  private flush(): void {
    const burst = this.outbox.splice(0, MAX_BURST);
    if (this.outbox.length > 0) this.scheduleFlush();
    if (burst.length === 0) return;
    if (this.currentState !== 'connected') {
      const error = new AppError(SignalingErrorCodes.notConnected, 'Not connected to the signaling server; wait for the connection and retry.');
      for (const envelope of burst) envelope.reject(error);
      return;
    }
    const last = burst.pop()!;
    for (const envelope of burst) {
      envelope.seq = this.nextSeq;
      this.nextSeq = (this.nextSeq + 1) >>> 0;
      this.unacked.set(envelope.seq, envelope);
      this.socket.emit(SignalingEvents.envelope, { to: envelope.to, payload: envelope.payload, seq: envelope.seq });
    }
    // Those of the burst still unsettled when the acknowledgement (or its failure) arrives.
    const settleEarlier = (error?: unknown) => {
      for (const envelope of burst) {
        if (this.unacked.get(envelope.seq) !== envelope) continue;
        this.unacked.delete(envelope.seq);
        if (error === undefined) envelope.resolve('delivered');
        else envelope.reject(error);
      }
    };
    this.emit<{ status: 'delivered' | 'offline' }>(SignalingEvents.envelope, { to: last.to, payload: last.payload }).then((result) => {
      settleEarlier();
      if (result.status === 'delivered' || result.status === 'offline') last.resolve(result.status);
      else last.reject(this.violation('envelope status'));
    }, (error: unknown) => {
      // The server answered (a refusal of the last one): the earlier ones were handled before it.
      // No answer (timeout, lost connection): their outcome is unknown, as the last one's.
      const answered = error instanceof AppError && error.code !== SignalingErrorCodes.timeout && error.code !== SignalingErrorCodes.protocolViolation;
      settleEarlier(answered ? undefined : error);
      last.reject(error);
    });
  }

  /** Replaces the watch list; resolves with those of `userIds` online now. Re-sent after every reconnect. */
  async subscribePresence(userIds: readonly UserId[]): Promise<UserId[]> {
    this.watched = [...new Set(userIds)];
    for (const id of [...this.presence.keys()]) if (!this.watched.includes(id)) this.presence.delete(id);
    return this.resubscribe();
  }

  /** Online state of a watched user as last reported, `undefined` when unknown. */
  isOnline(userId: UserId): boolean | undefined {
    return this.presence.get(userId);
  }

  /** Publishes prekeys; resolves with the number of one-time prekeys the server now holds. */
  async uploadPrekeys(signedPrekey: SignedPrekey | undefined, oneTimePrekeys: readonly OneTimePrekey[]): Promise<number> {
    const upload = z.encode(prekeyUploadSchema, signedPrekey ? { signedPrekey, oneTimePrekeys: [...oneTimePrekeys] } : { oneTimePrekeys: [...oneTimePrekeys] });
    const result = await this.request<{ remaining: number }>(SignalingEvents.uploadPrekeys, upload);
    if (!Number.isInteger(result.remaining)) throw this.violation('prekey count');
    return result.remaining;
  }

  /**
   * Fetches a user's prekey bundle (consuming one of their one-time prekeys, if any left).
   * @throws AppError `signaling/no-bundle`, or `signaling/forged-bundle` when the identity key
   *   does not match `userId` or the signed prekey's signature does not verify.
   */
  async fetchPrekeyBundle(userId: UserId): Promise<PrekeyBundle> {
    const { ok: _ok, ...rest } = await this.request<Record<string, unknown>>(SignalingEvents.fetchPrekeys, { userId });
    const parsed = prekeyBundleSchema.safeParse(rest);
    if (!parsed.success) throw this.violation('prekey bundle');
    const bundle = parsed.data;
    const { signedPrekey } = bundle;
    if (bundle.userId !== userId || userIdFromPublicKey(bundle.identityKey) !== userId
      || !verifyEd25519(bundle.identityKey, signedPrekeyMessage(signedPrekey.keyId, signedPrekey.publicKey), signedPrekey.signature)) {
      throw new AppError(SignalingErrorCodes.forgedBundle, `The server returned a prekey bundle for ${userId} that fails verification; do not use it and report the server.`);
    }
    return bundle;
  }

  /** Disconnects for good. */
  close(): void {
    if (this.currentState === 'closed') return;
    this.terminate(new AppError(SignalingErrorCodes.notConnected, 'The signaling client was closed.'));
  }

  dispose(): void {
    this.close();
    this.stateEmitter.dispose();
    this.envelopeEmitter.dispose();
    this.presenceEmitter.dispose();
    this.prekeysLowEmitter.dispose();
    this.errorEmitter.dispose();
  }

  private terminate(error: AppError | undefined): void {
    this.terminating = true;
    clearTimeout(this.reconnectTimer);
    this.socket.disconnect();
    this.settle(error ?? new AppError(SignalingErrorCodes.notConnected, 'The signaling client was closed.'));
    this.setState('closed');
  }

  private async answer(challenge: unknown): Promise<void> {
    const parsed = authChallengeSchema.safeParse(challenge);
    if (!parsed.success) return this.terminate(this.violation('auth challenge'));
    try {
      this.serverProtocol = parsed.data.protocol;
      const signature = await this.options.sign(authChallengeMessage(parsed.data.nonce, this.origin));
      const result = await this.emit<{ userId: UserId }>(SignalingEvents.auth, z.encode(authResponseSchema, { publicKey: this.options.publicKey, signature, origin: this.origin }));
      if (result.userId !== this.ownUserId) throw this.violation('auth result');
      this.fatal = undefined;
      this.setState('connected');
      if (this.watched.length > 0) await this.resubscribe().catch(() => undefined);
      this.settle();
    } catch (error) {
      if (error instanceof AppError && !TRANSIENT.has(error.code) && error.code !== SignalingErrorCodes.timeout) {
        this.fatal = error;
        return this.terminate(error);
      }
      this.settle(error);
    }
  }

  private async resubscribe(): Promise<UserId[]> {
    const result = await this.request<{ online: UserId[] }>(SignalingEvents.subscribe, { userIds: this.watched });
    if (!Array.isArray(result.online)) throw this.violation('presence snapshot');
    const online = new Set(result.online);
    for (const id of this.watched) this.setPresence(id, online.has(id));
    return this.watched.filter((id) => online.has(id));
  }

  private setPresence(userId: UserId, online: boolean): void {
    if (this.presence.get(userId) === online) return;
    this.presence.set(userId, online);
    this.presenceEmitter.fire({ userId, online });
  }

  private settle(error?: unknown): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  }

  private setState(state: SignalingState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.stateEmitter.fire(state);
  }

  private async request<T>(event: string, data: unknown): Promise<T> {
    if (this.currentState !== 'connected') throw new AppError(SignalingErrorCodes.notConnected, 'Not connected to the signaling server; wait for the connection and retry.');
    return this.emit<T>(event, data);
  }

  private async emit<T>(event: string, data: unknown): Promise<T> {
    let result: SignalingResult<T>;
    try {
      result = await this.socket.timeout(this.options.requestTimeoutMs ?? 15_000).emitWithAck(event, data);
    } catch {
      throw new AppError(SignalingErrorCodes.timeout, 'The signaling server did not answer in time; retry.');
    }
    if (typeof result !== 'object' || result === null) throw this.violation(event);
    if (result.ok === true) return result;
    const error = signalingErrorSchema.safeParse((result as { error?: unknown }).error);
    if (!error.success) throw this.violation(event);
    throw new AppError(error.data.code, error.data.message);
  }

  private violation(what: string): AppError {
    return new AppError(SignalingErrorCodes.protocolViolation, `The signaling server sent a malformed ${what}; it may be incompatible or malicious.`);
  }
}

function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}
