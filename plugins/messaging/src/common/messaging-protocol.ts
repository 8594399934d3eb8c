import { z } from 'zod';

/*
 * What two messaging plugins say to each other, inside the kernel's end-to-end encrypted
 * channel `messaging/m`. Every record is UTF-8 JSON with a type tag `t`, checked against its
 * schema where it arrives; anything else is dropped with a logged reason.
 */

/** The plugin's one channel name (the kernel prefixes it with `messaging/`). */
export const MESSAGING_CHANNEL = 'm';

/** Largest encoded record accepted from a peer, in bytes. */
export const MAX_RECORD_BYTES = 48 * 1024;
/** Longest message text, in UTF-16 code units (keeps every record under {@link MAX_RECORD_BYTES}). */
export const MAX_TEXT_LENGTH = 8_000;
/** Longest reaction (one emoji sequence, or a short word). */
export const MAX_REACTION_LENGTH = 32;
/** Most message ids one receipt or ack carries. */
export const MAX_IDS_PER_RECORD = 256;

/** A message or operation id: 16 random bytes as 32 lower-case hex digits. */
export const messageIdSchema = z.string().regex(/^[0-9a-f]{32}$/, 'expected 16 bytes as 32 hex digits');
const timestamp = z.number().int().min(0).max(8.64e15);

export const textRecordSchema = z.strictObject({
  t: z.literal('text'),
  id: messageIdSchema,
  /** The sender's per-conversation sequence number, 1, 2, 3, ... */
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** The sender's clock when the user sent it (shown, never used for order). */
  sentAt: timestamp,
  text: z.string().min(1).max(MAX_TEXT_LENGTH),
  replyTo: messageIdSchema.optional(),
});

export const receiptRecordSchema = z.strictObject({
  t: z.literal('receipt'),
  state: z.enum(['delivered', 'read']),
  ids: z.array(messageIdSchema).min(1).max(MAX_IDS_PER_RECORD),
  at: timestamp,
});

export const editRecordSchema = z.strictObject({
  t: z.literal('edit'),
  /** Id of this operation (for dedupe), not of the message. */
  id: messageIdSchema,
  target: messageIdSchema,
  text: z.string().min(1).max(MAX_TEXT_LENGTH),
  at: timestamp,
});

export const deleteRecordSchema = z.strictObject({
  t: z.literal('delete'),
  id: messageIdSchema,
  target: messageIdSchema,
  at: timestamp,
});

export const reactionRecordSchema = z.strictObject({
  t: z.literal('reaction'),
  id: messageIdSchema,
  target: messageIdSchema,
  emoji: z.string().min(1).max(MAX_REACTION_LENGTH),
  remove: z.boolean().optional(),
  at: timestamp,
});

/** Ephemeral: shown while fresh, never stored, never queued. */
export const typingRecordSchema = z.strictObject({
  t: z.literal('typing'),
  typing: z.boolean(),
});

/** Confirms that edits, deletes or reactions (by operation id) were applied by the peer. */
export const ackRecordSchema = z.strictObject({
  t: z.literal('ack'),
  ids: z.array(messageIdSchema).min(1).max(MAX_IDS_PER_RECORD),
});

/** Most records one batch carries (256 short texts fit the record limit; fewer, larger batches mean fewer commits). */
export const MAX_BATCH_RECORDS = 256;

/**
 * Several texts, receipts and acks in one channel message, in order: a backlog then costs one
 * ratchet step and one confirmation instead of one per message. Each inner record is handled
 * (and deduplicated) as if it came alone.
 */
export const batchRecordSchema = z.strictObject({
  t: z.literal('batch'),
  records: z.array(z.discriminatedUnion('t', [textRecordSchema, receiptRecordSchema, ackRecordSchema])).min(1).max(MAX_BATCH_RECORDS),
});

export const messagingRecordSchema = z.discriminatedUnion('t', [
  textRecordSchema, receiptRecordSchema, editRecordSchema, deleteRecordSchema, reactionRecordSchema, typingRecordSchema, ackRecordSchema,
  batchRecordSchema,
]);

export type TextRecord = z.infer<typeof textRecordSchema>;
export type ReceiptRecord = z.infer<typeof receiptRecordSchema>;
export type EditRecord = z.infer<typeof editRecordSchema>;
export type DeleteRecord = z.infer<typeof deleteRecordSchema>;
export type ReactionRecord = z.infer<typeof reactionRecordSchema>;
export type TypingRecord = z.infer<typeof typingRecordSchema>;
export type AckRecord = z.infer<typeof ackRecordSchema>;
export type BatchRecord = z.infer<typeof batchRecordSchema>;
export type MessagingRecord = z.infer<typeof messagingRecordSchema>;
export type RecordType = MessagingRecord['t'];

/** Record types a batch may carry. */
export const BATCHABLE_TYPES: ReadonlySet<RecordType> = new Set(['text', 'receipt', 'ack']);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeRecord(record: MessagingRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Why a peer's bytes were refused, for the log (never contains the content). */
export class RecordRejected extends Error {
  override readonly name = 'RecordRejected';
  constructor(readonly reason: 'oversized' | 'malformed' | 'unknown-type' | 'invalid', detail: string) {
    super(detail);
  }
}

/** @throws RecordRejected */
export function decodeRecord(bytes: Uint8Array): MessagingRecord {
  if (bytes.length > MAX_RECORD_BYTES) throw new RecordRejected('oversized', `${bytes.length} bytes, at most ${MAX_RECORD_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new RecordRejected('malformed', 'not UTF-8 JSON');
  }
  const type = value !== null && typeof value === 'object' ? (value as { t?: unknown }).t : undefined;
  if (typeof type !== 'string' || !messagingRecordSchema.options.some((o) => o.shape.t.value === type)) {
    throw new RecordRejected('unknown-type', `type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 32) : typeof type)}`);
  }
  const parsed = messagingRecordSchema.safeParse(value);
  if (!parsed.success) {
    // Paths and codes only: zod's messages could echo content.
    const issue = parsed.error.issues[0];
    throw new RecordRejected('invalid', `${type}: ${issue ? `${issue.path.join('.') || '(record)'} ${issue.code}` : 'invalid'}`);
  }
  return parsed.data;
}

/** A fresh message or operation id (16 random bytes, hex). */
export function newMessageId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}
