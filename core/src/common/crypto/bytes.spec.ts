import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asUint8Array, concatBytes, equalBytes, fromBase64Url, fromHex, readU32BE, readU64BE, toBase64Url, toHex, u32BE, u64BE, writeU32BE } from './bytes.ts';
import { ByteReader, ByteWriter } from './byte-codec.ts';
import { CryptoError, isCryptoError } from './crypto-error.ts';

describe('bytes', () => {
  it('hex and base64url round-trip (base64url matches Node)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(fromHex(toHex(b))).toEqual(b);
        const text = toBase64Url(b);
        expect(text).toBe(Buffer.from(b).toString('base64url'));
        expect(fromBase64Url(text)).toEqual(b);
      }),
    );
    expect(() => fromBase64Url('ab+c')).toThrow(TypeError);
    expect(() => fromBase64Url('abcde')).toThrow(TypeError);
    expect(() => fromHex('abc')).toThrow();
  });

  it('concat, equal, integers', () => {
    expect(concatBytes(Uint8Array.of(1), Uint8Array.of(2, 3))).toEqual(Uint8Array.of(1, 2, 3));
    expect(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(equalBytes(Uint8Array.of(1), Uint8Array.of(1, 0))).toBe(false);
    expect(u32BE(0x01020304)).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(readU32BE(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 0)).toBe(0xffffffff);
    expect(u64BE(2 ** 40 + 5)).toEqual(Uint8Array.of(0, 0, 1, 0, 0, 0, 0, 5));
    expect(readU64BE(u64BE(Number.MAX_SAFE_INTEGER), 0)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => readU64BE(new Uint8Array(8).fill(0xff), 0)).toThrow(RangeError);
    expect(() => u32BE(-1)).toThrow(RangeError);
    expect(() => u64BE(1.5)).toThrow(RangeError);
    expect(() => writeU32BE(new Uint8Array(4), 0, 2 ** 32)).toThrow(RangeError);
    expect(() => readU32BE(new Uint8Array(3), 0)).toThrow(RangeError);
    const buf = Buffer.from([1, 2]);
    expect(asUint8Array(buf).constructor).toBe(Uint8Array);
    expect(asUint8Array(buf)).toEqual(Uint8Array.of(1, 2));
  });

  it('ByteWriter/ByteReader round-trip; bad input is crypto/malformed', () => {
    const bytes = new ByteWriter(2).u8(7).u16(513).u32(70000).u64(2 ** 45).fixed(Uint8Array.of(9, 9)).varBytes(Uint8Array.of(1, 2, 3)).finish();
    const r = new ByteReader(bytes, 'test record');
    expect([r.u8(), r.u16(), r.u32(), r.u64()]).toEqual([7, 513, 70000, 2 ** 45]);
    expect(r.fixed(2)).toEqual(Uint8Array.of(9, 9));
    expect(r.varBytes()).toEqual(Uint8Array.of(1, 2, 3));
    r.end();
    const truncated = new ByteReader(bytes.subarray(0, 5), 'test record');
    truncated.u8();
    truncated.u16();
    expect(() => truncated.u32()).toThrow(CryptoError);
    const trailing = new ByteReader(Uint8Array.of(1, 2), 'test record');
    trailing.u8();
    expect(() => trailing.end()).toThrowError(expect.objectContaining({ code: 'crypto/malformed' }));
    const huge = new ByteReader(new ByteWriter().u32(1000).finish(), 'test record');
    expect(() => huge.varBytes(10)).toThrowError(expect.objectContaining({ code: 'crypto/malformed' }));
    expect(() => new ByteReader(new Uint8Array(8).fill(0xff), 'x').u64()).toThrow(CryptoError);
    expect(() => new ByteWriter().u32(-1)).toThrow(RangeError);
    expect(isCryptoError(new CryptoError('crypto/replay', 'x'), 'crypto/replay')).toBe(true);
    expect(isCryptoError(new Error('x'))).toBe(false);
  });
});
