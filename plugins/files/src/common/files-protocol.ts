import { z } from 'zod';

/*
 * What two files plugins say to each other. Control records travel as UTF-8 JSON in the
 * kernel's end-to-end encrypted channel `files/c` (authenticated, ratchet-encrypted); the file
 * key lives only there. Bulk data travels on a peer stream `files/x` as binary frames whose
 * payloads are sealed per chunk (see chunk-cipher.ts). Everything is validated where it arrives.
 */

/** Control channel name (the kernel prefixes it with `files/`). */
export const FILES_CHANNEL = 'c';
/** Stream name for chunk data (one stream per transfer session, identified by its first frame). */
export const FILES_STREAM = 'x';

/** Largest encoded control record accepted from a peer, in bytes. */
export const MAX_CONTROL_BYTES = 8 * 1024;
/** Longest file name an offer may carry (UTF-16 code units, before sanitising). */
export const MAX_OFFERED_NAME_LENGTH = 1024;
/** Chunk sizes a sender may pick. */
export const MIN_CHUNK_BYTES = 1024;
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `expected ${bytes} bytes as hex`);
export const transferIdSchema = hex(16);

export const offerRecordSchema = z.strictObject({
  t: z.literal('offer'),
  id: transferIdSchema,
  name: z.string().min(1).max(MAX_OFFERED_NAME_LENGTH),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  mime: z.string().max(255),
  /** SHA-256 of the whole file. */
  sha256: hex(32),
  /** A fresh random 32-byte key for this file only. */
  key: hex(32),
  chunkSize: z.number().int().min(MIN_CHUNK_BYTES).max(MAX_CHUNK_BYTES),
});

/** The receiver accepts (first time) or asks to resume: send chunks from index `from`. */
export const acceptRecordSchema = z.strictObject({
  t: z.literal('accept'),
  id: transferIdSchema,
  from: z.number().int().min(0).max(2 ** 32 - 1),
});

export const declineRecordSchema = z.strictObject({ t: z.literal('decline'), id: transferIdSchema });
export const cancelRecordSchema = z.strictObject({ t: z.literal('cancel'), id: transferIdSchema });
/** Sender to receiver after a restart or reconnect: "tell me where to continue". */
export const resumeRecordSchema = z.strictObject({ t: z.literal('resume'), id: transferIdSchema });
/** The receiver checked the whole-file hash and moved the file into place. */
export const verifiedRecordSchema = z.strictObject({ t: z.literal('verified'), id: transferIdSchema });
/** The receiver gave up (hash mismatch, rejected chunk): the sender stops and reports it. */
export const failedRecordSchema = z.strictObject({
  t: z.literal('failed'),
  id: transferIdSchema,
  code: z.string().regex(/^files\/[a-z-]{1,40}$/),
});

export const controlRecordSchema = z.discriminatedUnion('t', [
  offerRecordSchema, acceptRecordSchema, declineRecordSchema, cancelRecordSchema, resumeRecordSchema, verifiedRecordSchema,
  failedRecordSchema,
]);

export type OfferRecord = z.infer<typeof offerRecordSchema>;
export type ControlRecord = z.infer<typeof controlRecordSchema>;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeControl(record: ControlRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Why a peer's bytes were refused, for the log (never contains content or keys). */
export class ProtocolRejected extends Error {
  override readonly name = 'ProtocolRejected';
  constructor(readonly reason: string, detail: string) {
    super(detail);
  }
}

/** @throws ProtocolRejected */
export function decodeControl(bytes: Uint8Array): ControlRecord {
  if (bytes.length > MAX_CONTROL_BYTES) throw new ProtocolRejected('oversized', `${bytes.length} bytes, at most ${MAX_CONTROL_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new ProtocolRejected('malformed', 'not UTF-8 JSON');
  }
  const parsed = controlRecordSchema.safeParse(value);
  if (!parsed.success) {
    // Paths and codes only: zod's messages could echo the key.
    const issue = parsed.error.issues[0];
    throw new ProtocolRejected('invalid', issue ? `${issue.path.join('.') || '(record)'} ${issue.code}` : 'invalid');
  }
  return parsed.data;
}

// ---- stream frames ----

export const FrameType = { Start: 1, Chunk: 2, Ack: 3 } as const;

/** Bytes a chunk frame adds to the sealed chunk: type (1) + index (4). */
export const CHUNK_FRAME_HEADER = 5;
export const START_FRAME_BYTES = 1 + 16 + 16 + 4;

/**
 * First frame of a stream session, sender to receiver: which transfer, a fresh salt for this
 * session's chunk subkey (so a resumed session never reuses a nonce), the first chunk index.
 */
export interface StartFrame {
  type: typeof FrameType.Start;
  transferId: string;
  salt: Uint8Array;
  from: number;
}
/** A sealed chunk (ciphertext + tag). `index` is advisory: the receiver opens with the index it expects. */
export interface ChunkFrame {
  type: typeof FrameType.Chunk;
  index: number;
  sealed: Uint8Array;
}
/** Receiver to sender: every chunk below `next` is verified and written. */
export interface AckFrame {
  type: typeof FrameType.Ack;
  next: number;
}
export type Frame = StartFrame | ChunkFrame | AckFrame;

export function hexToBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += b.toString(16).padStart(2, '0');
  return text;
}

export function encodeStart(transferId: string, salt: Uint8Array, from: number): Uint8Array {
  if (salt.length !== 16) throw new RangeError('encodeStart: expected a 16-byte salt');
  const out = new Uint8Array(START_FRAME_BYTES);
  out[0] = FrameType.Start;
  out.set(hexToBytes(transferId), 1);
  out.set(salt, 17);
  new DataView(out.buffer).setUint32(33, from);
  return out;
}

/** The frame header for a sealed chunk; the caller writes header and sealed bytes as one frame. */
export function encodeChunkHeader(index: number): Uint8Array {
  const out = new Uint8Array(CHUNK_FRAME_HEADER);
  out[0] = FrameType.Chunk;
  new DataView(out.buffer).setUint32(1, index);
  return out;
}

export function encodeAck(next: number): Uint8Array {
  const out = new Uint8Array(5);
  out[0] = FrameType.Ack;
  new DataView(out.buffer).setUint32(1, next);
  return out;
}

/** @throws ProtocolRejected */
export function decodeFrame(bytes: Uint8Array): Frame {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes[0]) {
    case FrameType.Start:
      if (bytes.length !== START_FRAME_BYTES) throw new ProtocolRejected('bad-frame', `start frame of ${bytes.length} bytes`);
      return { type: FrameType.Start, transferId: bytesToHex(bytes.subarray(1, 17)), salt: bytes.slice(17, 33), from: view.getUint32(33) };
    case FrameType.Chunk:
      if (bytes.length < CHUNK_FRAME_HEADER) throw new ProtocolRejected('bad-frame', `chunk frame of ${bytes.length} bytes`);
      return { type: FrameType.Chunk, index: view.getUint32(1), sealed: bytes.subarray(CHUNK_FRAME_HEADER) };
    case FrameType.Ack:
      if (bytes.length !== 5) throw new ProtocolRejected('bad-frame', `ack frame of ${bytes.length} bytes`);
      return { type: FrameType.Ack, next: view.getUint32(1) };
    default:
      throw new ProtocolRejected('bad-frame', `unknown frame type ${bytes[0] ?? '(empty)'}`);
  }
}

/** Number of chunks of a file: a 0-byte file still has one (empty, final) chunk, so completion is authenticated. */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/** Plaintext length of chunk `index`. */
export function chunkLength(size: number, chunkSize: number, index: number): number {
  const count = chunkCount(size, chunkSize);
  if (index < 0 || index >= count) throw new RangeError(`chunkLength: index ${index} outside 0..${count - 1}`);
  return index === count - 1 ? size - index * chunkSize : chunkSize;
}

/** A fresh transfer id (16 random bytes, hex). */
export function newTransferId(): string {
  return bytesToHex(globalThis.crypto.getRandomValues(new Uint8Array(16)));
}
