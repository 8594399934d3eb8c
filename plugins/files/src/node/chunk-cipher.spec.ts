import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_FRAME_HEADER, decodeFrame, FrameType } from '../common/files-protocol.ts';
import { ChunkCipher, TAG_BYTES } from './chunk-cipher.ts';

const ID = 'ab'.repeat(16);
const sealed = (frame: Uint8Array) => {
  const f = decodeFrame(frame);
  if (f.type !== FrameType.Chunk) throw new Error('not a chunk');
  return f.sealed;
};

describe('ChunkCipher', () => {
  const key = randomBytes(32);
  const data = randomBytes(1000);

  it('round-trips a chunk; the frame is header, ciphertext and tag', () => {
    const tx = new ChunkCipher(key, ID);
    const rx = new ChunkCipher(key, ID, tx.salt);
    const frame = tx.sealFrame(7, false, data);
    expect(frame.length).toBe(CHUNK_FRAME_HEADER + data.length + TAG_BYTES);
    expect(Buffer.from(frame.subarray(CHUNK_FRAME_HEADER, CHUNK_FRAME_HEADER + data.length)).equals(data)).toBe(false);
    expect(rx.open(7, false, sealed(frame))).toEqual(data);
    expect(rx.open(0, true, sealed(tx.sealFrame(0, true, new Uint8Array(0))))).toEqual(Buffer.alloc(0));
  });

  it('binds the index, the final flag, the transfer id, the key and the session salt', () => {
    const tx = new ChunkCipher(key, ID);
    const s = sealed(tx.sealFrame(3, false, data));
    expect(new ChunkCipher(key, ID, tx.salt).open(4, false, s)).toBeUndefined();
    expect(new ChunkCipher(key, ID, tx.salt).open(3, true, s)).toBeUndefined();
    expect(new ChunkCipher(key, 'cd'.repeat(16), tx.salt).open(3, false, s)).toBeUndefined();
    expect(new ChunkCipher(randomBytes(32), ID, tx.salt).open(3, false, s)).toBeUndefined();
    expect(new ChunkCipher(key, ID).open(3, false, s)).toBeUndefined();
  });

  it('rejects any flipped bit and a sealed chunk shorter than a tag', () => {
    const tx = new ChunkCipher(key, ID);
    const rx = new ChunkCipher(key, ID, tx.salt);
    const s = Buffer.from(sealed(tx.sealFrame(1, false, data)));
    for (const at of [0, 500, s.length - 1]) {
      const bad = Buffer.from(s);
      bad[at]! ^= 0x80;
      expect(rx.open(1, false, bad)).toBeUndefined();
    }
    expect(rx.open(1, false, s.subarray(0, TAG_BYTES - 1))).toBeUndefined();
  });

  it('a new session never repeats ciphertext for the same chunk (fresh salt)', () => {
    const a = new ChunkCipher(key, ID).sealFrame(0, false, data);
    const b = new ChunkCipher(key, ID).sealFrame(0, false, data);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it('refuses a key or salt of the wrong size (programmer error)', () => {
    expect(() => new ChunkCipher(randomBytes(16), ID)).toThrow(RangeError);
    expect(() => new ChunkCipher(key, ID, randomBytes(8))).toThrow(RangeError);
  });
});
