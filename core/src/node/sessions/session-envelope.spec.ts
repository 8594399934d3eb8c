import { describe, expect, it } from 'vitest';
import { isCryptoError } from '../../common/crypto/crypto-error.ts';
import { decodeSessionEnvelope, decodeX3dhHeader, encodeSessionEnvelope, encodeX3dhHeader } from './session-envelope.ts';

const key = new Uint8Array(32).fill(7);
const eph = new Uint8Array(32).fill(9);
const message = Uint8Array.from({ length: 60 }, (_, i) => i);

function code(bytes: Uint8Array): string {
  try {
    decodeSessionEnvelope(bytes);
  } catch (error) {
    if (isCryptoError(error)) return error.code;
    throw error;
  }
  throw new Error('decoded');
}

describe('session envelopes', () => {
  it('round-trips prekey and plain messages', () => {
    for (const x3dh of [undefined, { signedPrekeyId: 5, oneTimePrekeyId: 0xffffffff, ephemeralKey: eph }, { signedPrekeyId: 0, oneTimePrekeyId: undefined, ephemeralKey: eph }]) {
      const decoded = decodeSessionEnvelope(encodeSessionEnvelope({ senderIdentityKey: key, x3dh, message }));
      expect(decoded).toEqual({ senderIdentityKey: key, x3dh, message });
    }
    const header = { signedPrekeyId: 1, oneTimePrekeyId: 2, ephemeralKey: eph };
    expect(decodeX3dhHeader(encodeX3dhHeader(header))).toEqual(header);
  });

  it('rejects malformed envelopes', () => {
    const good = encodeSessionEnvelope({ senderIdentityKey: key, x3dh: { signedPrekeyId: 1, oneTimePrekeyId: 2, ephemeralKey: eph }, message });
    expect(code(new Uint8Array(0))).toBe('crypto/malformed');
    expect(code(Uint8Array.of(2, ...good.subarray(1)))).toBe('crypto/unsupported-version');
    expect(code(Uint8Array.of(1, 3, ...good.subarray(2)))).toBe('crypto/malformed');
    expect(code(good.subarray(0, 40))).toBe('crypto/malformed');
    const badFlag = Uint8Array.from(good);
    badFlag[38] = 2;
    expect(code(badFlag)).toBe('crypto/malformed');
    expect(code(encodeSessionEnvelope({ senderIdentityKey: key, x3dh: undefined, message: new Uint8Array(0) }))).toBe('crypto/malformed');
    expect(() => decodeX3dhHeader(Uint8Array.of(1, 2, 3))).toThrow(/truncated/);
  });

  it('refuses bad arguments', () => {
    expect(() => encodeSessionEnvelope({ senderIdentityKey: new Uint8Array(31), x3dh: undefined, message })).toThrow(RangeError);
    expect(() => encodeSessionEnvelope({ senderIdentityKey: key, x3dh: undefined, message: 'x' as never })).toThrow(TypeError);
    expect(() => encodeSessionEnvelope({ senderIdentityKey: key, x3dh: { signedPrekeyId: 1, oneTimePrekeyId: undefined, ephemeralKey: new Uint8Array(3) }, message })).toThrow(RangeError);
    expect(() => decodeSessionEnvelope('x' as never)).toThrow(TypeError);
  });
});
