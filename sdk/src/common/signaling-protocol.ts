import { concatBytes } from '@noble/hashes/utils.js';
import { base64urlnopad } from '@scure/base';
import { z } from 'zod';
import { isUserId, type UserId } from './user-id.ts';

/*
 * The wire protocol between DiscordOpus clients and the signaling server (socket.io, WebSocket
 * transport). The server is treated as hostile: it sees who talks to whom and when, never what.
 *
 * All binary fields (envelope payloads, keys, signatures, nonces) travel as unpadded base64url
 * strings, not as socket.io binary attachments. socket.io sends every attachment as a WebSocket
 * frame of its own after a text frame, and its parser refuses more than 10 per packet (a prekey
 * upload carries up to 200 keys). Measured on this stack with 200-byte envelopes, a bare relay
 * moved 1.7-3x more envelopes per second as base64url text than as attachments, despite the
 * +33% size. The server checks a payload's form and size but relays the text unchanged, never
 * decoding it. The schemas below are zod codecs: `schema.parse(wire)` gives Uint8Array fields,
 * `z.encode(schema, value)` the wire form; `*WireSchema` variants validate without decoding.
 *
 * Every client-to-server event carries an acknowledgement callback; the server answers with a
 * {@link SignalingResult}. Errors the server raises outside an acknowledgement (auth timeout,
 * unknown event without callback, shutdown) arrive as {@link SignalingEvents.error}.
 *
 * Protocol 2 (announced in the challenge) lets a client send a burst of envelopes without an
 * acknowledgement each: every envelope but the burst's last carries a `seq` and no callback; the
 * server reports only the outcomes worth telling (offline recipient, refusal) as
 * {@link SignalingEvents.envelopeResult} with that `seq`, and answers the last one, which carries
 * the callback, after all earlier ones of the connection. So an acknowledgement also means
 * "every earlier envelope without a result was delivered". Protocol 1 clients are unaffected.
 */

/** Event names, both directions. */
export const SignalingEvents = {
  /** server → client, on connect: `AuthChallenge`. */
  challenge: 'auth:challenge',
  /** client → server: `AuthResponse`; ack `SignalingResult<AuthOk>`. */
  auth: 'auth',
  /** client → server: `PresenceSubscribe`; ack `SignalingResult<PresenceSnapshot>`. */
  subscribe: 'presence:subscribe',
  /** server → client: `PresenceUpdate`. */
  presence: 'presence',
  /** client → server: `EnvelopeSend`; ack `SignalingResult<EnvelopeSent>`. server → client: `EnvelopeDelivery`. */
  envelope: 'envelope',
  /** server → client (protocol 2): `EnvelopeResult`, the outcome of an envelope sent with a `seq` and no acknowledgement, unless delivered. */
  envelopeResult: 'envelope:result',
  /** client → server: `PrekeyUpload`; ack `SignalingResult<PrekeyCount>`. */
  uploadPrekeys: 'prekeys:upload',
  /** client → server: `PrekeyFetch`; ack `SignalingResult<PrekeyBundle>`. */
  fetchPrekeys: 'prekeys:fetch',
  /** server → client: `PrekeyCount`, when the owner's one-time prekeys run low. */
  prekeysLow: 'prekeys:low',
  /** server → client: `SignalingErrorMessage`. */
  error: 'server:error',
  /** server → client: `ShutdownNotice`, then the server disconnects; reconnect (maybe elsewhere). */
  shutdown: 'server:shutdown',
} as const;

export type SignalingEventName = (typeof SignalingEvents)[keyof typeof SignalingEvents];

/** Stable error codes the server sends on the wire. Clients raise them as `AppError(code, …)`. */
export const SignalingErrorCodes = {
  authTimeout: 'signaling/auth-timeout',
  authRequired: 'signaling/auth-required',
  badSignature: 'signaling/bad-signature',
  wrongOrigin: 'signaling/wrong-origin',
  alreadyAuthenticated: 'signaling/already-authenticated',
  tooManyPending: 'signaling/too-many-pending',
  invalidMessage: 'signaling/invalid-message',
  unknownEvent: 'signaling/unknown-event',
  rateLimited: 'signaling/rate-limited',
  payloadTooLarge: 'signaling/payload-too-large',
  tooManySubscriptions: 'signaling/too-many-subscriptions',
  badBundleSignature: 'signaling/bad-bundle-signature',
  noBundle: 'signaling/no-bundle',
  tooManyPrekeys: 'signaling/too-many-prekeys',
  shuttingDown: 'signaling/shutting-down',
  internal: 'signaling/internal',
  /** Client side: the server could not be reached. */
  unreachable: 'signaling/unreachable',
  /** Client side: a request was made while not authenticated to a server. */
  notConnected: 'signaling/not-connected',
  /** Client side: the server did not answer a request in time. */
  timeout: 'signaling/timeout',
  /** Client side: the server handed out a bundle that fails verification (wrong identity or signature). */
  forgedBundle: 'signaling/forged-bundle',
  /** Client side: the server sent a message that does not match the protocol. */
  protocolViolation: 'signaling/protocol-violation',
} as const;

export type SignalingErrorCode = (typeof SignalingErrorCodes)[keyof typeof SignalingErrorCodes];

/** Protocol limits. A server may be configured lower, never higher than the client accepts. */
export const SignalingLimits = {
  /** Largest envelope payload, bytes. */
  maxPayloadBytes: 64 * 1024,
  /** Most user IDs one connection may watch. */
  maxSubscriptions: 1000,
  /** Most one-time prekeys in one upload. */
  maxPrekeysPerUpload: 200,
  /** Most one-time prekeys stored per user. */
  maxStoredPrekeys: 1000,
  /** The owner is told its count when a fetch leaves this many or fewer. */
  prekeysLowThreshold: 10,
  nonceBytes: 32,
  /** Longest server origin in a challenge or auth response. */
  maxOriginLength: 512,
} as const;

/**
 * Protocol version the server announces in its challenge. 2 adds envelopes without an
 * acknowledgement each (`seq`, {@link SignalingEvents.envelopeResult}); a client uses them only
 * when the server announces 2 or more.
 */
export const SIGNALING_PROTOCOL_VERSION = 2;

const encoder = new TextEncoder();
const AUTH_DOMAIN = encoder.encode('DiscordOpus/signaling-auth/v1');
// The one definition of the signed-prekey bytes: core X3DH signs them, the server verifies them.
const SIGNED_PREKEY_DOMAIN = encoder.encode('DiscordOpus signed prekey v1');

function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/**
 * The bytes a client signs with its Ed25519 identity key to answer a challenge:
 * `"DiscordOpus/signaling-auth/v1" ‖ u32be(len(origin)) ‖ origin (UTF-8) ‖ nonce`.
 * Binding the origin means a signature a malicious server relays from another server's
 * challenge is useless there: the real server only accepts its own origins.
 *
 * @throws TypeError when `nonce` is not a Uint8Array. @throws RangeError when it is not 32 bytes.
 */
export function authChallengeMessage(nonce: Uint8Array, origin: string): Uint8Array {
  if (!(nonce instanceof Uint8Array)) throw new TypeError('authChallengeMessage: nonce must be a Uint8Array');
  if (nonce.length !== SignalingLimits.nonceBytes) throw new RangeError(`authChallengeMessage: nonce must be ${SignalingLimits.nonceBytes} bytes`);
  const originBytes = encoder.encode(origin);
  return concatBytes(AUTH_DOMAIN, u32be(originBytes.length), originBytes, nonce);
}

/**
 * The bytes the identity key signs (Ed25519) to vouch for a signed prekey:
 * `"DiscordOpus signed prekey v1" ‖ u32be(keyId) ‖ publicKey (32-byte X25519)`, the same bytes
 * core's X3DH signs.
 * Binding the key id stops a server from presenting an old signed prekey under a new id.
 *
 * @throws RangeError when `keyId` is not a uint32 or `publicKey` is not 32 bytes.
 */
export function signedPrekeyMessage(keyId: number, publicKey: Uint8Array): Uint8Array {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffffffff) throw new RangeError('signedPrekeyMessage: keyId must be a uint32');
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new RangeError('signedPrekeyMessage: publicKey must be 32 bytes');
  return concatBytes(SIGNED_PREKEY_DOMAIN, u32be(keyId), publicKey);
}

/** Normalises a URL to the origin a client signs (`wss://host:port`, no path). */
export function signalingOrigin(url: string): string {
  const parsed = new URL(url);
  const scheme = parsed.protocol === 'https:' || parsed.protocol === 'wss:' ? 'wss:' : 'ws:';
  return `${scheme}//${parsed.host}`;
}

/** Fixed-size bytes as unpadded base64url on the wire, Uint8Array once parsed. */
const bytes = (length: number, what: string) =>
  z.codec(
    z.string().length(Math.ceil((length * 4) / 3)).regex(/^[A-Za-z0-9_-]+$/, `${what} must be base64url`),
    z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length === length, `${what} must be ${length} bytes`),
    {
      decode: (text, ctx) => {
        try {
          return base64urlnopad.decode(text);
        } catch {
          ctx.issues.push({ code: 'custom', message: `${what} must be base64url of ${length} bytes`, input: text });
          return z.NEVER;
        }
      },
      encode: (value) => base64urlnopad.encode(value),
    },
  );
/** Characters of unpadded base64url for `bytes` bytes. */
export const base64urlLength = (bytes: number): number => Math.ceil((bytes * 4) / 3);
/** Bytes encoded by `length` characters of unpadded base64url. */
export const base64urlByteLength = (length: number): number => Math.floor((length * 3) / 4);

/** An envelope payload on the wire: unpadded base64url of at most `maxPayloadBytes` bytes. */
export const payloadWireSchema = z
  .string()
  .max(base64urlLength(SignalingLimits.maxPayloadBytes), `payload must be at most ${SignalingLimits.maxPayloadBytes} bytes`)
  .regex(/^[A-Za-z0-9_-]*$/, 'payload must be base64url')
  .refine((text) => text.length % 4 !== 1, 'payload must be base64url');

const payloadCodec = z.codec(payloadWireSchema, z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length <= SignalingLimits.maxPayloadBytes), {
  decode: (text) => base64urlnopad.decode(text),
  encode: (value) => base64urlnopad.encode(value),
});

/** A well-formed user ID (checksum included). */
export const userIdSchema = z.custom<UserId>((v) => typeof v === 'string' && v.length <= 64 && isUserId(v), 'expected a user ID');
const keyId = z.number().int().min(0).max(0xffffffff);

export const authChallengeSchema = z.strictObject({
  nonce: bytes(SignalingLimits.nonceBytes, 'nonce'),
  /** The server's own idea of its origin; informative, the client signs the origin it dialled. */
  origin: z.string().max(SignalingLimits.maxOriginLength).optional(),
  protocol: z.number().int(),
});
export type AuthChallenge = z.infer<typeof authChallengeSchema>;

export const authResponseSchema = z.strictObject({
  /** Ed25519 identity public key. */
  publicKey: bytes(32, 'publicKey'),
  /** Signature over {@link authChallengeMessage}(nonce, origin). */
  signature: bytes(64, 'signature'),
  /** The origin the client believes it connected to; must be one of the server's. */
  origin: z.string().min(1).max(SignalingLimits.maxOriginLength),
});
export type AuthResponse = z.infer<typeof authResponseSchema>;

export const authOkSchema = z.strictObject({ userId: userIdSchema });
export type AuthOk = z.infer<typeof authOkSchema>;

export const presenceSubscribeSchema = z.strictObject({
  /** Replaces the connection's watch list. */
  userIds: z.array(userIdSchema).max(SignalingLimits.maxSubscriptions),
});
export type PresenceSubscribe = z.infer<typeof presenceSubscribeSchema>;

export const presenceSnapshotSchema = z.strictObject({ online: z.array(userIdSchema) });
export type PresenceSnapshot = z.infer<typeof presenceSnapshotSchema>;

export const presenceUpdateSchema = z.strictObject({ userId: userIdSchema, online: z.boolean() });
export type PresenceUpdate = z.infer<typeof presenceUpdateSchema>;

/** Protocol 2: the client's number for an envelope sent without an acknowledgement (uint32, wraps). */
export const envelopeSeqSchema = z.number().int().min(0).max(0xffffffff);

export const envelopeSendSchema = z.strictObject({
  to: userIdSchema,
  /** Opaque to the server (end-to-end encrypted by the client). */
  payload: payloadCodec,
  /** Protocol 2: set on envelopes sent without an acknowledgement; their outcome comes as `envelope:result`. */
  seq: envelopeSeqSchema.optional(),
});
/** `envelope` as the server checks it: the payload stays text. */
export const envelopeSendWireSchema = z.strictObject({ to: userIdSchema, payload: payloadWireSchema, seq: envelopeSeqSchema.optional() });
export type EnvelopeSend = z.infer<typeof envelopeSendSchema>;

export const envelopeSentSchema = z.strictObject({
  /** `offline`: no live connection of the recipient; nothing was stored. */
  status: z.enum(['delivered', 'offline']),
});
export type EnvelopeSent = z.infer<typeof envelopeSentSchema>;

export const envelopeDeliverySchema = z.strictObject({
  /** Authenticated sender, as bound by the server at auth. */
  from: userIdSchema,
  payload: payloadCodec,
});
/** A delivered envelope with its payload still as text (decode with your platform's fastest base64url). */
export const envelopeDeliveryWireSchema = z.strictObject({ from: userIdSchema, payload: payloadWireSchema });
export type EnvelopeDelivery = z.infer<typeof envelopeDeliverySchema>;

export const signedPrekeySchema = z.strictObject({
  keyId,
  /** X25519 public key. */
  publicKey: bytes(32, 'publicKey'),
  /** Ed25519 signature by the identity key over {@link signedPrekeyMessage}(keyId, publicKey). */
  signature: bytes(64, 'signature'),
});
export type SignedPrekey = z.infer<typeof signedPrekeySchema>;

export const oneTimePrekeySchema = z.strictObject({ keyId, publicKey: bytes(32, 'publicKey') });
export type OneTimePrekey = z.infer<typeof oneTimePrekeySchema>;

export const prekeyUploadSchema = z.strictObject({
  /** Replaces the stored signed prekey; required on the first upload. */
  signedPrekey: signedPrekeySchema.optional(),
  /** Appended to the stored one-time prekeys. */
  oneTimePrekeys: z.array(oneTimePrekeySchema).max(SignalingLimits.maxPrekeysPerUpload),
});
export type PrekeyUpload = z.infer<typeof prekeyUploadSchema>;

export const prekeyCountSchema = z.strictObject({ remaining: z.number().int().min(0) });
export type PrekeyCount = z.infer<typeof prekeyCountSchema>;

export const prekeyFetchSchema = z.strictObject({ userId: userIdSchema });
export type PrekeyFetch = z.infer<typeof prekeyFetchSchema>;

export const prekeyBundleSchema = z.strictObject({
  userId: userIdSchema,
  /** Ed25519 identity key; its user ID must equal `userId` (check it, the server is hostile). */
  identityKey: bytes(32, 'identityKey'),
  signedPrekey: signedPrekeySchema,
  /** Absent when the owner's one-time prekeys are used up. */
  oneTimePrekey: oneTimePrekeySchema.optional(),
});
export type PrekeyBundle = z.infer<typeof prekeyBundleSchema>;

export const signalingErrorSchema = z.strictObject({ code: z.string().max(100), message: z.string().max(1000) });
export type SignalingErrorMessage = z.infer<typeof signalingErrorSchema>;

/**
 * Protocol 2, server → client: what became of the envelope numbered `seq` (sent without an
 * acknowledgement). Sent for an offline recipient (`ok: true, status: 'offline'`) or a refusal
 * (`ok: false`); a delivered envelope gets none.
 */
export const envelopeResultSchema = z.union([
  z.strictObject({ seq: envelopeSeqSchema, ok: z.literal(true), status: z.literal('offline') }),
  z.strictObject({ seq: envelopeSeqSchema, ok: z.literal(false), error: signalingErrorSchema }),
]);
export type EnvelopeResult = z.infer<typeof envelopeResultSchema>;

export const shutdownNoticeSchema = z.strictObject({ reconnectAfterMs: z.number().int().min(0) });
export type ShutdownNotice = z.infer<typeof shutdownNoticeSchema>;

/** Wire form (what goes into `socket.emit`) of a message whose parsed form is `T`. */
export type Wire<S extends z.ZodType> = z.input<S>;

/** What every acknowledgement carries. */
export type SignalingResult<T> = ({ ok: true } & T) | { ok: false; error: SignalingErrorMessage };

/** Schemas of the client → server events that expect an acknowledgement, by event name. */
export const clientEventSchemas = {
  [SignalingEvents.auth]: authResponseSchema,
  [SignalingEvents.subscribe]: presenceSubscribeSchema,
  [SignalingEvents.envelope]: envelopeSendSchema,
  [SignalingEvents.uploadPrekeys]: prekeyUploadSchema,
  [SignalingEvents.fetchPrekeys]: prekeyFetchSchema,
} as const;

export type ClientEventName = keyof typeof clientEventSchemas;
