/*
 * Framing on the single 'kernel' data channel. Every data-channel message is one frame:
 *
 *   byte 0   kind: 0 = keepalive (the whole frame), 1 = records
 *   then, for kind 1, one or more records:
 *     byte 0       flags: bit 0 set = the message continues in a later record
 *     byte 1       n = length of the logical channel name in UTF-8 (1..255)
 *     2..2+n       channel name
 *     4 bytes      payload length L (big-endian)
 *     L bytes      payload slice
 *
 * One data channel carries all logical channels: on werift they share one SCTP association and
 * one thread anyway, so more data channels buy no throughput, and one negotiated channel (id 0)
 * opens with the association, without a DCEP round trip.
 *
 * Several small messages share a frame: werift handles each queued data-channel message with
 * promise chains whose cost grows with the number queued (a burst of 1,200 tiny sends took
 * minutes), so the link keeps werift's queue short and batches what waits meanwhile.
 * Messages larger than a frame are split into records; records of different logical channels
 * interleave (round robin in the sender), so a big transfer on one channel does not hold up
 * chat on another. Within a channel messages never interleave, so per-channel reassembly needs
 * no message ids.
 */

export const FRAME_KEEPALIVE = 0;
export const FRAME_RECORDS = 1;
const FLAG_MORE = 1;

/**
 * Largest frame we send. Both ends are PeerLinks advertising max-message-size 262,144 (as
 * Chromium does; werift's default would be 65,536), and 128 KiB leaves room for a 64 KiB file
 * chunk plus headers and small messages in one frame.
 */
export const MAX_FRAME_BYTES = 128 * 1024;
/** Bytes a record adds around its payload, besides the channel name. */
export const RECORD_OVERHEAD = 6;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of a logical channel name; throws for names a record cannot carry. */
export function encodeChannelName(channel: string): Uint8Array {
  if (typeof channel !== 'string') throw new TypeError('PeerLink.send: channel must be a string');
  const bytes = encoder.encode(channel);
  if (bytes.length < 1 || bytes.length > 255) {
    throw new RangeError(`PeerLink.send: channel name must be 1..255 UTF-8 bytes, got ${bytes.length}`);
  }
  return bytes;
}

export const KEEPALIVE_FRAME: Uint8Array = Uint8Array.of(FRAME_KEEPALIVE);

/** One record to put in a frame. */
export interface FrameRecord {
  name: Uint8Array;
  payload: Uint8Array;
  more: boolean;
}

/** Size of a record in a frame. */
export function recordSize(nameLength: number, payloadLength: number): number {
  return RECORD_OVERHEAD + nameLength + payloadLength;
}

/** Builds one frame from records (one copy of each payload). */
export function encodeFrame(records: readonly FrameRecord[]): Buffer {
  let size = 1;
  for (const r of records) size += recordSize(r.name.length, r.payload.length);
  const frame = Buffer.allocUnsafe(size);
  frame[0] = FRAME_RECORDS;
  let at = 1;
  for (const r of records) {
    frame[at] = r.more ? FLAG_MORE : 0;
    frame[at + 1] = r.name.length;
    frame.set(r.name, at + 2);
    at += 2 + r.name.length;
    frame.writeUInt32BE(r.payload.length, at);
    frame.set(r.payload, at + 4);
    at += 4 + r.payload.length;
  }
  return frame;
}

export interface DecodedRecord {
  channel: string;
  more: boolean;
  payload: Uint8Array;
}

export type DecodedFrame = { kind: 'keepalive' } | { kind: 'records'; records: DecodedRecord[] };

/** Parses one frame; `undefined` when it is malformed (the caller reports it). */
export function decodeFrame(frame: Uint8Array): DecodedFrame | undefined {
  if (frame.length < 1) return undefined;
  if (frame[0] === FRAME_KEEPALIVE) return frame.length === 1 ? { kind: 'keepalive' } : undefined;
  if (frame[0] !== FRAME_RECORDS || frame.length === 1) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const records: DecodedRecord[] = [];
  let at = 1;
  while (at < frame.length) {
    if (at + 2 > frame.length) return undefined;
    const flags = frame[at]!;
    const nameLength = frame[at + 1]!;
    if ((flags & ~FLAG_MORE) !== 0 || nameLength === 0) return undefined;
    const nameEnd = at + 2 + nameLength;
    if (nameEnd + 4 > frame.length) return undefined;
    const payloadLength = view.getUint32(nameEnd);
    const end = nameEnd + 4 + payloadLength;
    if (end > frame.length) return undefined;
    let channel: string;
    try {
      channel = decoder.decode(frame.subarray(at + 2, nameEnd));
    } catch {
      return undefined;
    }
    records.push({ channel, more: (flags & FLAG_MORE) !== 0, payload: frame.subarray(nameEnd + 4, end) });
    at = end;
  }
  return { kind: 'records', records };
}

/**
 * Joins frames back into messages, per logical channel. A message that grows past `maxBytes`
 * is dropped whole (reported once through the result) so a peer cannot exhaust our memory.
 */
export class FrameReassembler {
  private readonly partial = new Map<string, { parts: Uint8Array[]; size: number; dropped: boolean }>();

  constructor(private readonly maxBytes: number) {}

  /** Feeds one data frame; returns a complete message, an oversize report, or nothing yet. */
  push(channel: string, payload: Uint8Array, more: boolean): { message: Uint8Array } | { tooLarge: number } | undefined {
    let entry = this.partial.get(channel);
    if (!entry && !more) {
      if (payload.length > this.maxBytes) return { tooLarge: payload.length };
      // Copy: the frame buffer belongs to werift.
      return { message: new Uint8Array(payload) };
    }
    if (!entry) {
      entry = { parts: [], size: 0, dropped: false };
      this.partial.set(channel, entry);
    }
    let report: { tooLarge: number } | undefined;
    if (!entry.dropped) {
      entry.size += payload.length;
      if (entry.size > this.maxBytes) {
        entry.dropped = true;
        entry.parts = [];
        report = { tooLarge: entry.size };
      } else {
        entry.parts.push(new Uint8Array(payload));
      }
    }
    if (more) return report;
    this.partial.delete(channel);
    if (entry.dropped) return report;
    const message = new Uint8Array(entry.size);
    let offset = 0;
    for (const part of entry.parts) {
      message.set(part, offset);
      offset += part.length;
    }
    return { message };
  }

  /** Forgets half-received messages (the session they belonged to ended). */
  reset(): void {
    this.partial.clear();
  }
}
