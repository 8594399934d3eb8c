import { ByteReader, ByteWriter } from '../../common/crypto/byte-codec.ts';
import { CryptoError } from '../../common/crypto/crypto-error.ts';

/*
 * What travels inside a ratchet message between two kernels:
 *
 *   data: u8 version (1) ‖ u8 kind (1) ‖ messageId[16] ‖ u8 len ‖ channel (UTF-8) ‖ data
 *   ack:  u8 version (1) ‖ u8 kind (2) ‖ messageId[16]
 *   acks: u8 version (1) ‖ u8 kind (3, or 4 when stored) ‖ u16 count (1..MAX_ACK_IDS) ‖ messageId[16] × count
 *
 * An ack tells the sender's kernel that the record was committed on the recipient's side: to the
 * kernel's inbox (kind 3), or by the recipient plugin's store step in the same commit (kind 4).
 * The recipient answers a whole receive batch with one `acks` record of each kind it needs.
 */

export const CHANNEL_RECORD_VERSION = 1;
export const MESSAGE_ID_BYTES = 16;
/** Longest channel name in UTF-8 bytes (plugin id prefix included). */
export const MAX_CHANNEL_NAME_BYTES = 128;
/** Largest record header: version, kind, id, name length and name. */
export const CHANNEL_RECORD_OVERHEAD = 2 + MESSAGE_ID_BYTES + 1 + MAX_CHANNEL_NAME_BYTES;

/** Most message ids one `acks` record carries (16 KiB of ids). */
export const MAX_ACK_IDS = 1024;

const KIND_DATA = 1;
const KIND_ACK = 2;
const KIND_ACKS = 3;
const KIND_STORED_ACKS = 4;

export type ChannelRecord =
  | { readonly kind: 'data'; readonly messageId: Uint8Array; readonly channel: string; readonly data: Uint8Array }
  | { readonly kind: 'ack'; readonly messageId: Uint8Array }
  | { readonly kind: 'acks'; readonly messageIds: readonly Uint8Array[]; readonly stored?: boolean };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** @throws TypeError for a malformed channel name or message id (programmer errors). */
export function checkChannelName(fn: string, channel: unknown): Uint8Array {
  if (typeof channel !== 'string' || channel.length === 0) throw new TypeError(`${fn}: expected a non-empty channel name`);
  const bytes = encoder.encode(channel);
  if (bytes.length > MAX_CHANNEL_NAME_BYTES) throw new TypeError(`${fn}: channel names are at most ${MAX_CHANNEL_NAME_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(channel)) throw new TypeError(`${fn}: channel names cannot contain control characters`);
  return bytes;
}

export function encodeChannelRecord(record: ChannelRecord): Uint8Array {
  if (record.kind === 'acks') {
    const count = record.messageIds.length;
    if (count < 1 || count > MAX_ACK_IDS) throw new RangeError(`encodeChannelRecord: an acks record holds 1 to ${MAX_ACK_IDS} ids`);
    const w = new ByteWriter(4 + count * MESSAGE_ID_BYTES).u8(CHANNEL_RECORD_VERSION).u8(record.stored ? KIND_STORED_ACKS : KIND_ACKS).u16(count);
    for (const id of record.messageIds) {
      if (!(id instanceof Uint8Array) || id.length !== MESSAGE_ID_BYTES) throw new TypeError(`encodeChannelRecord: messageId must be ${MESSAGE_ID_BYTES} bytes`);
      w.fixed(id);
    }
    return w.finish();
  }
  if (!(record.messageId instanceof Uint8Array) || record.messageId.length !== MESSAGE_ID_BYTES) {
    throw new TypeError(`encodeChannelRecord: messageId must be ${MESSAGE_ID_BYTES} bytes`);
  }
  if (record.kind === 'ack') return new ByteWriter(2 + MESSAGE_ID_BYTES).u8(CHANNEL_RECORD_VERSION).u8(KIND_ACK).fixed(record.messageId).finish();
  const name = checkChannelName('encodeChannelRecord', record.channel);
  if (!(record.data instanceof Uint8Array)) throw new TypeError('encodeChannelRecord: data must be a Uint8Array');
  return new ByteWriter(CHANNEL_RECORD_OVERHEAD + record.data.length)
    .u8(CHANNEL_RECORD_VERSION).u8(KIND_DATA).fixed(record.messageId).u8(name.length).fixed(name).fixed(record.data).finish();
}

/**
 * Parses a record from a peer (authenticated by the ratchet, but the peer's code is not ours).
 * @throws CryptoError `crypto/malformed`, `crypto/unsupported-version`
 */
export function decodeChannelRecord(bytes: Uint8Array): ChannelRecord {
  const r = new ByteReader(bytes, 'channel record');
  const version = r.u8();
  if (version !== CHANNEL_RECORD_VERSION) {
    throw new CryptoError('crypto/unsupported-version', `The peer sent a record of format version ${version}, which this version cannot read; one of you should update.`);
  }
  const kind = r.u8();
  if (kind === KIND_ACKS || kind === KIND_STORED_ACKS) {
    const count = r.u16();
    if (count < 1 || count > MAX_ACK_IDS) throw new CryptoError('crypto/malformed', `An acks record holds 1 to ${MAX_ACK_IDS} ids.`);
    const messageIds = Array.from({ length: count }, () => r.fixed(MESSAGE_ID_BYTES));
    r.end();
    return kind === KIND_STORED_ACKS ? { kind: 'acks', messageIds, stored: true } : { kind: 'acks', messageIds };
  }
  const messageId = r.fixed(MESSAGE_ID_BYTES);
  if (kind === KIND_ACK) {
    r.end();
    return { kind: 'ack', messageId };
  }
  if (kind !== KIND_DATA) throw new CryptoError('crypto/malformed', `Unknown record kind ${kind}.`);
  const nameLength = r.u8();
  if (nameLength === 0 || nameLength > MAX_CHANNEL_NAME_BYTES) throw new CryptoError('crypto/malformed', 'The record names no valid channel.');
  let channel: string;
  try {
    channel = decoder.decode(r.fixed(nameLength));
    checkChannelName('decodeChannelRecord', channel);
  } catch {
    throw new CryptoError('crypto/malformed', 'The record names no valid channel.');
  }
  return { kind: 'data', messageId, channel, data: r.fixed(r.remaining) };
}
