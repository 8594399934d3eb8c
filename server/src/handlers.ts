import type { Server as IoServer, Socket } from 'socket.io';
import type { Logger } from 'pino';
import {
  SignalingEvents, SignalingErrorCodes, SignalingLimits, authChallengeMessage, authResponseSchema, base64urlByteLength,
  prekeyBundleSchema, prekeyFetchSchema, prekeyUploadSchema, presenceSubscribeSchema, signedPrekeyMessage, userIdFromPublicKey,
  type SignalingErrorMessage, type UserId,
} from '@discordopus/sdk';
import { z } from 'zod';
import type { ServerLimits } from './options.ts';
import type { ServerMetrics } from './metrics.ts';
import type { PrekeyStore } from './prekey-store.ts';
import type { PresenceRegistry } from './presence.ts';
import type { TokenBucket } from './rate-limit.ts';
import { verifyEd25519 } from './ed25519.ts';
import { userRoom, watchRoom } from './rooms.ts';
import { VerifiedUserIds, envelopeWireSchema } from './verified-user-ids.ts';

/** What the server knows about one socket. Kept small: a server holds tens of thousands. */
export interface ConnectionState {
  readonly socket: Socket;
  readonly ip: string;
  userId: UserId | undefined;
  publicKey: Uint8Array | undefined;
  /** The challenge; cleared on the first auth attempt so it cannot be answered twice. */
  nonce: Uint8Array | undefined;
  watching: UserId[];
  readonly bucket: TokenBucket;
  readonly strikes: TokenBucket;
  authTimer?: ReturnType<typeof setTimeout>;
  onAuthenticated?: () => void;
}

export interface ServerContext {
  io: IoServer;
  log: Logger;
  metrics: ServerMetrics;
  limits: ServerLimits;
  store: PrekeyStore;
  presence: PresenceRegistry;
  nodeId: string;
  origins: string[];
  /** True with the Redis adapter: other processes may hold the recipient's connections. */
  clustered: boolean;
}

export type Result = ({ ok: true } & Record<string, unknown>) | { ok: false; error: SignalingErrorMessage };
export type Reply = (result: Result) => void;
/** Synchronous where it can be (the relay hot path), a promise where it waits on a store or Redis. */
export type Handler = (conn: ConnectionState, input: unknown) => Result | Promise<Result>;

const failure = (code: string, message: string): Result => ({ ok: false, error: { code, message } });

function invalid(error: z.ZodError): Result {
  // Paths and messages come from our own schema, never echo the hostile input.
  const issue = error.issues[0];
  const where = issue?.path.length ? issue.path.map(String).join('.').slice(0, 100) : 'message';
  return failure(SignalingErrorCodes.invalidMessage, `Malformed message: ${where}: ${issue?.message.slice(0, 200) ?? 'invalid'}.`);
}

/** The event handlers, by event name. Each validates its input with the protocol schema first. */
export function createEventHandlers(ctx: ServerContext): Map<string, Handler> {
  const { io, limits, metrics, store, log } = ctx;
  const handlers = new Map<string, Handler>();

  const authenticated = (handler: (conn: ConnectionState & { userId: UserId; publicKey: Uint8Array }, input: unknown) => Result | Promise<Result>): Handler =>
    (conn, input) => {
      if (!conn.userId || !conn.publicKey) return failure(SignalingErrorCodes.authRequired, 'Authenticate first: answer the auth challenge.');
      return handler(conn as ConnectionState & { userId: UserId; publicKey: Uint8Array }, input);
    };

  const refuseAuth = (conn: ConnectionState, reason: string, code: string, message: string): Result => {
    metrics.authFailures.inc({ reason });
    log.info({ ip: conn.ip, reason }, 'auth refused');
    // Disconnect after the acknowledgement has been written, so the client reads the reason.
    setImmediate(() => {
      conn.socket.emit(SignalingEvents.error, { code, message });
      conn.socket.disconnect(true);
    });
    return failure(code, message);
  };

  handlers.set(SignalingEvents.auth, async (conn, input) => {
    if (conn.userId) return failure(SignalingErrorCodes.alreadyAuthenticated, 'This connection is already authenticated.');
    const nonce = conn.nonce;
    conn.nonce = undefined;
    const parsed = authResponseSchema.safeParse(input);
    if (!parsed.success) {
      const result = invalid(parsed.error);
      return refuseAuth(conn, 'malformed', SignalingErrorCodes.invalidMessage, result.ok ? '' : result.error.message);
    }
    if (!nonce) return refuseAuth(conn, 'replay', SignalingErrorCodes.badSignature, 'The challenge was already answered; connect again for a fresh one.');
    const { publicKey, signature, origin } = parsed.data;
    if (!ctx.origins.includes(origin)) {
      return refuseAuth(conn, 'origin', SignalingErrorCodes.wrongOrigin, `This server is not ${origin.slice(0, 100)}; check the server address you connect to.`);
    }
    if (!verifyEd25519(publicKey, authChallengeMessage(nonce, origin), signature)) {
      return refuseAuth(conn, 'signature', SignalingErrorCodes.badSignature, 'The challenge signature does not verify with this identity key.');
    }
    // The auth timeout may have fired while we verified; a closed socket must not join rooms.
    if (!conn.socket.connected) return failure(SignalingErrorCodes.authTimeout, 'The connection closed before authentication finished.');
    const userId = userIdFromPublicKey(publicKey);
    conn.userId = userId;
    conn.publicKey = Uint8Array.from(publicKey);
    conn.onAuthenticated?.();
    conn.socket.join(userRoom(userId));
    await ctx.presence.connected(userId);
    return { ok: true, userId };
  });

  handlers.set(SignalingEvents.subscribe, authenticated(async (conn, input) => {
    const parsed = presenceSubscribeSchema.safeParse(input);
    if (!parsed.success) return invalid(parsed.error);
    const userIds = [...new Set(parsed.data.userIds)];
    if (userIds.length > limits.maxSubscriptions) {
      return failure(SignalingErrorCodes.tooManySubscriptions, `This server lets one connection watch at most ${limits.maxSubscriptions} users.`);
    }
    for (const old of conn.watching) conn.socket.leave(watchRoom(old));
    conn.watching = userIds;
    if (userIds.length > 0) conn.socket.join(userIds.map(watchRoom));
    return { ok: true, online: await onlineAmong(userIds) };
  }));

  const localCount = (room: string) => io.of('/').adapter.rooms.get(room)?.size ?? 0;

  const onlineAmong = async (userIds: UserId[]): Promise<UserId[]> => {
    if (!ctx.clustered) return userIds.filter((id) => localCount(userRoom(id)) > 0);
    return ctx.presence.onlineAmong(userIds);
  };

  const envelopeSchema = envelopeWireSchema(new VerifiedUserIds());
  const tooLarge = `Envelope payloads are limited to ${limits.maxPayloadBytes} bytes.`;
  const { hot } = metrics;
  const delivered: Result = { ok: true, status: 'delivered' };
  const offline: Result = { ok: true, status: 'offline' };

  handlers.set(SignalingEvents.envelope, authenticated((conn, input) => {
    const parsed = envelopeSchema.safeParse(input);
    if (!parsed.success) {
      if (parsed.error.issues.some((i) => i.path[0] === 'payload' && i.code === 'too_big')) return failure(SignalingErrorCodes.payloadTooLarge, tooLarge);
      return invalid(parsed.error);
    }
    const { to, payload } = parsed.data;
    const bytes = base64urlByteLength(payload.length);
    if (bytes > limits.maxPayloadBytes) return failure(SignalingErrorCodes.payloadTooLarge, tooLarge);
    const room = userRoom(to);
    const deliver = (online: boolean): Result => {
      if (!online) {
        hot.offline++;
        return offline;
      }
      // The sender's own connection is skipped: sending to yourself reaches your other devices.
      conn.socket.to(room).emit(SignalingEvents.envelope, { from: conn.userId, payload });
      hot.delivered++;
      hot.bytes += bytes;
      return delivered;
    };
    const local = localCount(room) - (to === conn.userId ? 1 : 0);
    if (local > 0 || !ctx.clustered) return deliver(local > 0);
    return ctx.presence.isOnline(to).then(deliver);
  }));

  handlers.set(SignalingEvents.uploadPrekeys, authenticated(async (conn, input) => {
    const parsed = prekeyUploadSchema.safeParse(input);
    if (!parsed.success) return invalid(parsed.error);
    const { signedPrekey, oneTimePrekeys } = parsed.data;
    if (signedPrekey && !verifyEd25519(conn.publicKey, signedPrekeyMessage(signedPrekey.keyId, signedPrekey.publicKey), signedPrekey.signature)) {
      return failure(SignalingErrorCodes.badBundleSignature, 'The signed prekey is not signed by your identity key; sign it again.');
    }
    const remaining = await store.upload(conn.userId, conn.publicKey, signedPrekey, oneTimePrekeys, limits.maxStoredPrekeys);
    return { ok: true, remaining };
  }));

  handlers.set(SignalingEvents.fetchPrekeys, authenticated(async (_conn, input) => {
    const parsed = prekeyFetchSchema.safeParse(input);
    if (!parsed.success) return invalid(parsed.error);
    const owner = parsed.data.userId;
    const taken = await store.take(owner);
    if (!taken) return failure(SignalingErrorCodes.noBundle, 'This user has published no prekeys; they must come online once first.');
    metrics.prekeysServed.inc({ one_time: taken.bundle.oneTimePrekey ? 'yes' : 'no' });
    if (taken.remaining <= SignalingLimits.prekeysLowThreshold) io.to(userRoom(owner)).emit(SignalingEvents.prekeysLow, { remaining: taken.remaining });
    return { ok: true, ...z.encode(prekeyBundleSchema, taken.bundle) };
  }));

  return handlers;
}
