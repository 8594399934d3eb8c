import { ByteReader, ByteWriter } from '../../common/crypto/byte-codec.ts';
import { CryptoError } from '../../common/crypto/crypto-error.ts';

/*
 * What travels inside a ratchet message between two kernels:
 *
 *   data: u8 version (1) ‖ u8 kind (1) ‖ messageId[16] ‖ u8 len ‖ channel (UTF-8) ‖ data
 *   ack:  u8 version (1) ‖ u8 kind (2) ‖ messageId[16]
 *
 * The ack tells the sender's kernel that the record was committed to the recipient's inbox.
 */

export const CHANNEL_RECORD_VERSION = 1;
export const MESSAGE_ID_BYTES = 16;
/** Longest channel name in UTF-8 bytes (plugin id prefix included). */
export const MAX_CHANNEL_NAME_BYTES = 128;
/** Largest record header: version, kind, id, name length and name. */
export const CHANNEL_RECORD_OVERHEAD = 2 + MESSAGE_ID_BYTES + 1 + MAX_CHANNEL_NAME_BYTES;

const KIND_DATA = 1;
const KIND_ACK = 2;

export type ChannelRecord =
  | { readonly kind: 'data'; readonly messageId: Uint8Array; readonly channel: string; readonly data: Uint8Array }
  | { readonly kind: 'ack'; readonly messageId: Uint8Array };

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
