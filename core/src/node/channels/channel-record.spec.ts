import { describe, expect, it } from 'vitest';
import { isCryptoError } from '../../common/crypto/crypto-error.ts';
import { decodeChannelRecord, encodeChannelRecord, MAX_ACK_IDS, MAX_CHANNEL_NAME_BYTES, checkChannelName } from './channel-record.ts';

const id = Uint8Array.from({ length: 16 }, (_, i) => i);

function malformed(bytes: Uint8Array): string {
  try {
    decodeChannelRecord(bytes);
  } catch (error) {
    if (isCryptoError(error)) return error.code;
    throw error;
  }
  throw new Error('decoded');
}

describe('channel records', () => {
  it('round-trips data and ack records', () => {
    const data = new TextEncoder().encode('hello');
    expect(decodeChannelRecord(encodeChannelRecord({ kind: 'data', messageId: id, channel: 'messaging/text', data }))).toEqual({ kind: 'data', messageId: id, channel: 'messaging/text', data });
    expect(decodeChannelRecord(encodeChannelRecord({ kind: 'data', messageId: id, channel: 'ü/x', data: new Uint8Array(0) }))).toEqual({ kind: 'data', messageId: id, channel: 'ü/x', data: new Uint8Array(0) });
    expect(decodeChannelRecord(encodeChannelRecord({ kind: 'ack', messageId: id }))).toEqual({ kind: 'ack', messageId: id });
  });

  it('round-trips cumulative acks and bounds their size', () => {
    const ids = Array.from({ length: 3 }, (_, n) => Uint8Array.from({ length: 16 }, (_, i) => i + n));
    expect(decodeChannelRecord(encodeChannelRecord({ kind: 'acks', messageIds: ids }))).toEqual({ kind: 'acks', messageIds: ids });
    // Stored acks (the recipient plugin's store step ran in the receiving commit) are their own kind.
    const stored = encodeChannelRecord({ kind: 'acks', messageIds: ids, stored: true });
    expect(stored[1]).toBe(4);
    expect(decodeChannelRecord(stored)).toEqual({ kind: 'acks', messageIds: ids, stored: true });
    const full = Array.from({ length: MAX_ACK_IDS }, () => id);
    expect(decodeChannelRecord(encodeChannelRecord({ kind: 'acks', messageIds: full }))).toMatchObject({ kind: 'acks' });
    expect(() => encodeChannelRecord({ kind: 'acks', messageIds: [] })).toThrow(RangeError);
    expect(() => encodeChannelRecord({ kind: 'acks', messageIds: [...full, id] })).toThrow(RangeError);
    expect(() => encodeChannelRecord({ kind: 'acks', messageIds: [id.subarray(1)] })).toThrow(TypeError);
    // From a peer: zero ids, a count over the bound, a count the bytes do not hold, trailing bytes.
    expect(malformed(Uint8Array.of(1, 3, 0, 0))).toBe('crypto/malformed');
    expect(malformed(Uint8Array.of(1, 3, 0xff, 0xff, ...id))).toBe('crypto/malformed');
    expect(malformed(Uint8Array.of(1, 3, 0, 2, ...id))).toBe('crypto/malformed');
    expect(malformed(Uint8Array.of(1, 3, 0, 1, ...id, 0))).toBe('crypto/malformed');
  });

  it('rejects malformed bytes from a peer', () => {
    const good = encodeChannelRecord({ kind: 'data', messageId: id, channel: 'a/b', data: Uint8Array.of(1) });
    expect(malformed(new Uint8Array(0))).toBe('crypto/malformed');
    expect(malformed(good.subarray(0, 10))).toBe('crypto/malformed');
    expect(malformed(Uint8Array.of(9, ...good.subarray(1)))).toBe('crypto/unsupported-version');
    expect(malformed(Uint8Array.of(1, 7, ...id))).toBe('crypto/malformed'); // unknown kind
    const ack = encodeChannelRecord({ kind: 'ack', messageId: id });
    expect(malformed(Uint8Array.of(...ack, 0))).toBe('crypto/malformed'); // trailing bytes
    const noName = Uint8Array.from(good);
    noName[18] = 0;
    expect(malformed(noName)).toBe('crypto/malformed');
    const longName = Uint8Array.from(good);
    longName[18] = 200;
    expect(malformed(longName)).toBe('crypto/malformed');
    const badUtf8 = Uint8Array.from(good);
    badUtf8[19] = 0xff;
    expect(malformed(badUtf8)).toBe('crypto/malformed');
    const control = Uint8Array.from(good);
    control[19] = 0x0a;
    expect(malformed(control)).toBe('crypto/malformed');
  });

  it('refuses bad arguments as programmer errors', () => {
    expect(() => encodeChannelRecord({ kind: 'ack', messageId: new Uint8Array(3) })).toThrow(TypeError);
    expect(() => encodeChannelRecord({ kind: 'data', messageId: id, channel: '', data: new Uint8Array(0) })).toThrow(TypeError);
    expect(() => encodeChannelRecord({ kind: 'data', messageId: id, channel: 'x', data: 'no' as never })).toThrow(TypeError);
    expect(() => checkChannelName('f', 'x'.repeat(MAX_CHANNEL_NAME_BYTES + 1))).toThrow(/at most/);
    expect(() => checkChannelName('f', 'a\nb')).toThrow(/control/);
    expect(() => checkChannelName('f', 42)).toThrow(TypeError);
  });
});
