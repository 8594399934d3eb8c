import { z } from 'zod';

/*
 * What two calls plugins say to each other, inside the kernel's end-to-end encrypted channel
 * `calls/c`. UTF-8 JSON with a type tag `t`, checked against its schema where it arrives. SDP
 * and ICE candidates travel only here, so the DTLS fingerprints they carry are authenticated
 * by the pairwise Double-Ratchet session: the signaling server cannot swap them.
 */

/** The plugin's one channel name (the kernel prefixes it with `calls/`). */
export const CALLS_CHANNEL = 'c';

/** Largest encoded record accepted from a peer, in bytes (an SDP is a few KiB). */
export const MAX_CALL_RECORD_BYTES = 32 * 1024;
const MAX_SDP = 24 * 1024;

/** A call id: 16 random bytes as 32 lower-case hex digits, chosen by the caller. */
export const callIdSchema = z.string().regex(/^[0-9a-f]{32}$/, 'expected 16 bytes as 32 hex digits');
const timestamp = z.number().int().min(0).max(8.64e15);
const sdp = z.string().min(10).max(MAX_SDP);

export const candidateSchema = z.strictObject({
  candidate: z.string().max(1024),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
});

export const callRecordSchema = z.discriminatedUnion('t', [
  /** Caller → callee: ring. Carries the caller's offer so that accepting costs one round trip. */
  z.strictObject({ t: z.literal('invite'), callId: callIdSchema, video: z.boolean(), at: timestamp, sdp }),
  /** Callee → caller: the invite arrived and the callee's client is ringing. */
  z.strictObject({ t: z.literal('ringing'), callId: callIdSchema }),
  z.strictObject({ t: z.literal('accept'), callId: callIdSchema, sdp, video: z.boolean() }),
  z.strictObject({ t: z.literal('decline'), callId: callIdSchema }),
  z.strictObject({ t: z.literal('busy'), callId: callIdSchema }),
  /** Caller → callee: gave up before an answer (or timed out): a missed call. */
  z.strictObject({ t: z.literal('cancel'), callId: callIdSchema }),
  z.strictObject({ t: z.literal('hangup'), callId: callIdSchema, reason: z.enum(['hangup', 'failed']).optional() }),
  z.strictObject({ t: z.literal('candidate'), callId: callIdSchema, candidate: candidateSchema }),
  /** Caller → callee during a call: a new offer (renegotiation, ICE restart); `seq` only grows. */
  z.strictObject({ t: z.literal('reoffer'), callId: callIdSchema, seq: z.number().int().min(1).max(1e9), sdp }),
  z.strictObject({ t: z.literal('reanswer'), callId: callIdSchema, seq: z.number().int().min(1).max(1e9), sdp }),
  /** Callee → caller: please make a new offer (the callee's engine needs a negotiation). */
  z.strictObject({ t: z.literal('negotiate'), callId: callIdSchema, iceRestart: z.boolean().optional() }),
  /** Either side: its own controls, for the UI. */
  z.strictObject({ t: z.literal('controls'), callId: callIdSchema, audioMuted: z.boolean(), camera: z.boolean(), screenSharing: z.boolean() }),
]);

export type CallRecord = z.infer<typeof callRecordSchema>;
export type CallRecordType = CallRecord['t'];

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeCallRecord(record: CallRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Why a peer's bytes were refused, for the log (never the content). */
export class CallRecordRejected extends Error {
  override readonly name = 'CallRecordRejected';
  constructor(readonly reason: 'oversized' | 'malformed' | 'invalid', detail: string) {
    super(detail);
  }
}

/** @throws CallRecordRejected */
export function decodeCallRecord(bytes: Uint8Array): CallRecord {
  if (bytes.length > MAX_CALL_RECORD_BYTES) throw new CallRecordRejected('oversized', `${bytes.length} bytes, at most ${MAX_CALL_RECORD_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new CallRecordRejected('malformed', 'not UTF-8 JSON');
  }
  const parsed = callRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CallRecordRejected('invalid', issue ? `${issue.path.join('.') || '(record)'} ${issue.code}` : 'invalid');
  }
  return parsed.data;
}

/** A fresh call id (16 random bytes, hex). */
export function newCallId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/**
 * The DTLS certificate fingerprint an SDP announces, as `"<algorithm> <HEX:PAIRS>"` (algorithm
 * lower-case, hex upper-case), or `undefined` when it has none or announces several different
 * ones (a bundled call has one DTLS transport, so two would be a trick).
 */
export function sdpFingerprint(sdpText: string): string | undefined {
  const found = new Set<string>();
  for (const match of sdpText.matchAll(/^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/gm)) {
    found.add(`${match[1]!.toLowerCase()} ${match[2]!.toUpperCase()}`);
  }
  return found.size === 1 ? [...found][0] : undefined;
}
