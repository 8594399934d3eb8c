import type { AeadAlgorithm, ScryptParams } from './crypto-provider.ts';
import { asUint8Array } from './bytes.ts';

// Argument checks shared by both backends so they reject exactly the same inputs the same way.

export function bytesArg(fn: string, name: string, value: unknown, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${fn}: ${name} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) throw new RangeError(`${fn}: ${name} must be ${length} bytes, got ${value.length}`);
  return asUint8Array(value);
}

export function lengthArg(fn: string, name: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${fn}: ${name} must be an integer`);
  if (value < 0 || value > max) throw new RangeError(`${fn}: ${name} must be in 0..${max}, got ${value}`);
  return value;
}

export function aeadArg(fn: string, algorithm: unknown): AeadAlgorithm {
  if (algorithm !== 'chacha20-poly1305' && algorithm !== 'aes-256-gcm') throw new TypeError(`${fn}: unknown AEAD algorithm ${String(algorithm)}`);
  return algorithm;
}

/** HKDF-SHA256 can expand to at most 255 blocks of 32 bytes. */
export const HKDF_SHA256_MAX = 255 * 32;
/** node:crypto's hkdf refuses longer info; both backends refuse it so they stay interchangeable. */
export const HKDF_INFO_MAX = 1024;

export function hkdfInfoArg(fn: string, info: unknown): Uint8Array {
  const bytes = bytesArg(fn, 'info', info);
  if (bytes.length > HKDF_INFO_MAX) throw new RangeError(`${fn}: info must be at most ${HKDF_INFO_MAX} bytes, got ${bytes.length}`);
  return bytes;
}
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

export function scryptArg(fn: string, params: ScryptParams): ScryptParams {
  const { N, r, p, dkLen } = params ?? ({} as ScryptParams);
  for (const [name, v] of Object.entries({ N, r, p, dkLen })) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`${fn}: ${name} must be a positive integer`);
  }
  if (N < 2 || (N & (N - 1)) !== 0) throw new RangeError(`${fn}: N must be a power of two >= 2`);
  if (dkLen > 1024) throw new RangeError(`${fn}: dkLen must be at most 1024`);
  return { N, r, p, dkLen };
}

/** Memory scrypt needs (128·N·r·p for V and B), with headroom, for node's `maxmem`. */
export function scryptMemory(params: ScryptParams): number {
  return 128 * params.N * params.r + 128 * params.r * params.p + 1024 * 1024;
}
