import { describe, expect, it } from 'vitest';
import {
  MAX_BATCH_RECORDS, MAX_IDS_PER_RECORD, MAX_RECORD_BYTES, MAX_TEXT_LENGTH, RecordRejected, decodeRecord, encodeRecord, newMessageId, type MessagingRecord,
} from './messaging-protocol.ts';

const id = (n: number) => n.toString(16).padStart(32, '0');
const enc = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const reason = (bytes: Uint8Array) => {
  try {
    decodeRecord(bytes);
  } catch (error) {
    if (error instanceof RecordRejected) return error.reason;
    throw error;
  }
  return 'accepted';
};

describe('messaging protocol', () => {
  const valid: MessagingRecord[] = [
    { t: 'text', id: id(1), seq: 1, sentAt: 1_700_000_000_000, text: 'hi' },
    { t: 'text', id: id(2), seq: 2, sentAt: 1, text: 'reply', replyTo: id(1) },
    { t: 'receipt', state: 'delivered', ids: [id(1)], at: 5 },
    { t: 'receipt', state: 'read', ids: [id(1), id(2)], at: 5 },
    { t: 'edit', id: id(3), target: id(1), text: 'hello', at: 6 },
    { t: 'delete', id: id(4), target: id(1), at: 7 },
    { t: 'reaction', id: id(5), target: id(1), emoji: '🎉', at: 8 },
    { t: 'reaction', id: id(6), target: id(1), emoji: '🎉', remove: true, at: 9 },
    { t: 'typing', typing: true },
    { t: 'ack', ids: [id(3)] },
    { t: 'batch', records: [{ t: 'text', id: id(7), seq: 3, sentAt: 1, text: 'a' }, { t: 'receipt', state: 'read', ids: [id(1)], at: 2 }, { t: 'ack', ids: [id(4)] }] },
  ];

  it('round-trips every record type', () => {
    for (const record of valid) expect(decodeRecord(encodeRecord(record))).toEqual(record);
  });

  it('refuses bytes that are not a record, with the reason', () => {
    expect(reason(new Uint8Array([0xc3, 0x28]))).toBe('malformed');
    expect(reason(new TextEncoder().encode('{"t":'))).toBe('malformed');
    expect(reason(new Uint8Array(MAX_RECORD_BYTES + 1))).toBe('oversized');
    expect(reason(enc(null))).toBe('unknown-type');
    expect(reason(enc([1, 2]))).toBe('unknown-type');
    expect(reason(enc({ t: 'file', id: id(1) }))).toBe('unknown-type');
    expect(reason(enc({ t: 'toString' }))).toBe('unknown-type');
  });

  it('refuses records that break their schema', () => {
    const text = { t: 'text', id: id(1), seq: 1, sentAt: 1, text: 'hi' };
    expect(reason(enc({ ...text, seq: 0 }))).toBe('invalid');
    expect(reason(enc({ ...text, seq: 1.5 }))).toBe('invalid');
    expect(reason(enc({ ...text, id: 'ABC' }))).toBe('invalid');
    expect(reason(enc({ ...text, text: '' }))).toBe('invalid');
    expect(reason(enc({ ...text, text: 'x'.repeat(MAX_TEXT_LENGTH + 1) }))).toBe('invalid');
    expect(reason(enc({ ...text, sentAt: -1 }))).toBe('invalid');
    expect(reason(enc({ ...text, extra: 1 }))).toBe('invalid');
    expect(reason(enc({ t: 'receipt', state: 'seen', ids: [id(1)], at: 1 }))).toBe('invalid');
    expect(reason(enc({ t: 'receipt', state: 'read', ids: [], at: 1 }))).toBe('invalid');
    expect(reason(enc({ t: 'receipt', state: 'read', ids: Array.from({ length: MAX_IDS_PER_RECORD + 1 }, (_, i) => id(i)), at: 1 }))).toBe('invalid');
    expect(reason(enc({ t: 'reaction', id: id(1), target: id(2), emoji: 'x'.repeat(33), at: 1 }))).toBe('invalid');
    expect(reason(enc({ t: 'typing', typing: 'yes' }))).toBe('invalid');
    // Batches carry texts, receipts and acks only, at most MAX_BATCH_RECORDS, never nested.
    const inner = { t: 'text', id: id(1), seq: 1, sentAt: 1, text: 'hi' };
    expect(reason(enc({ t: 'batch', records: [] }))).toBe('invalid');
    expect(reason(enc({ t: 'batch', records: [inner, { t: 'typing', typing: true }] }))).toBe('invalid');
    expect(reason(enc({ t: 'batch', records: [inner, { t: 'edit', id: id(2), target: id(1), text: 'x', at: 1 }] }))).toBe('invalid');
    expect(reason(enc({ t: 'batch', records: [{ t: 'batch', records: [inner] }] }))).toBe('invalid');
    expect(reason(enc({ t: 'batch', records: Array.from({ length: MAX_BATCH_RECORDS + 1 }, (_, i) => ({ ...inner, id: id(i) })) }))).toBe('invalid');
  });

  it('never echoes content in the reason', () => {
    try {
      decodeRecord(enc({ t: 'text', id: id(1), seq: 1, sentAt: 1, text: 'secret words', bogus: 'secret words' }));
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('secret');
    }
  });

  it('makes random 16-byte ids', () => {
    const ids = new Set(Array.from({ length: 100 }, newMessageId));
    expect(ids.size).toBe(100);
    for (const value of ids) expect(value).toMatch(/^[0-9a-f]{32}$/);
  });
});
