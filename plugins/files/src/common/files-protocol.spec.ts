import { describe, expect, it } from 'vitest';
import {
  FrameType, MAX_CONTROL_BYTES, ProtocolRejected, START_FRAME_BYTES, chunkCount, chunkLength, decodeControl, decodeFrame, encodeAck,
  encodeChunkHeader, encodeControl, encodeStart, newTransferId,
} from './files-protocol.ts';

const enc = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const ID = newTransferId();
const offer = { t: 'offer', id: ID, name: 'a.txt', size: 10, mime: 'text/plain', sha256: '0'.repeat(64), key: '1'.repeat(64), chunkSize: 65_515 } as const;

describe('control records', () => {
  it('round-trips every record type', () => {
    for (const record of [
      offer, { t: 'accept', id: ID, from: 3 }, { t: 'decline', id: ID }, { t: 'cancel', id: ID }, { t: 'resume', id: ID },
      { t: 'verified', id: ID }, { t: 'failed', id: ID, code: 'files/hash-mismatch' },
    ] as const) {
      expect(decodeControl(encodeControl(record))).toEqual(record);
    }
  });

  it.each([
    ['oversized', 'x'.repeat(MAX_CONTROL_BYTES + 1)],
    ['malformed', 'not json'],
    ['malformed', new Uint8Array([0xff, 0xfe])],
    ['invalid', { t: 'nope', id: ID }],
    ['invalid', { ...offer, id: 'short' }],
    ['invalid', { ...offer, size: -1 }],
    ['invalid', { ...offer, size: 1.5 }],
    ['invalid', { ...offer, chunkSize: 10 }],
    ['invalid', { ...offer, key: 'zz'.repeat(32) }],
    ['invalid', { ...offer, name: '' }],
    ['invalid', { ...offer, extra: 1 }],
    ['invalid', { t: 'accept', id: ID, from: -1 }],
    ['invalid', { t: 'failed', id: ID, code: 'other/thing' }],
  ])('refuses %s input %#', (reason, value) => {
    const bytes = value instanceof Uint8Array ? value : enc(value);
    expect(() => decodeControl(bytes)).toThrow(ProtocolRejected);
    try {
      decodeControl(bytes);
    } catch (error) {
      expect((error as ProtocolRejected).reason).toBe(reason);
      // Never echoes the content (the key could be in it).
      expect((error as Error).message).not.toContain('1111');
    }
  });
});

describe('stream frames', () => {
  it('round-trips start, chunk and ack frames', () => {
    const salt = new Uint8Array(16).fill(9);
    expect(decodeFrame(encodeStart(ID, salt, 42))).toEqual({ type: FrameType.Start, transferId: ID, salt, from: 42 });
    const chunk = new Uint8Array([...encodeChunkHeader(5), 1, 2, 3]);
    expect(decodeFrame(chunk)).toMatchObject({ type: FrameType.Chunk, index: 5, sealed: new Uint8Array([1, 2, 3]) });
    expect(decodeFrame(encodeAck(2 ** 32 - 1))).toEqual({ type: FrameType.Ack, next: 2 ** 32 - 1 });
  });

  it.each([
    new Uint8Array(0), new Uint8Array([9]), new Uint8Array([FrameType.Start, 1, 2]), new Uint8Array(START_FRAME_BYTES + 1).fill(FrameType.Start),
    new Uint8Array([FrameType.Chunk, 0]), new Uint8Array([FrameType.Ack, 0, 0]),
  ])('refuses a malformed frame %#', (bytes) => {
    expect(() => decodeFrame(bytes)).toThrow(ProtocolRejected);
  });

  it('refuses a salt of the wrong size (programmer error)', () => {
    expect(() => encodeStart(ID, new Uint8Array(8), 0)).toThrow(RangeError);
  });
});

describe('chunk arithmetic', () => {
  it('a 0-byte file has one empty final chunk; lengths add up', () => {
    expect(chunkCount(0, 100)).toBe(1);
    expect(chunkLength(0, 100, 0)).toBe(0);
    expect(chunkCount(100, 100)).toBe(1);
    expect(chunkCount(101, 100)).toBe(2);
    expect(chunkLength(101, 100, 1)).toBe(1);
    expect(() => chunkLength(101, 100, 2)).toThrow(RangeError);
  });
});
