import { bytesToHex, concatBytes as nobleConcat, hexToBytes } from '@noble/hashes/utils.js';

/** Concatenates byte arrays into a fresh Uint8Array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return nobleConcat(...parts);
}

/**
 * Byte equality. NOT constant-time: use it for public values only (keys, ids, headers), never
 * to compare secrets or MACs (the AEADs do their own tag check).
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

/** @throws Error when `hex` is not an even-length hex string. */
export function fromHex(hex: string): Uint8Array {
  return hexToBytes(hex);
}

/**
 * Returns a plain Uint8Array view of the same memory when given a subclass (Node's Buffer):
 * noble 2 rejects subclasses in places, and vitest's deep equality treats them as different.
 */
export function asUint8Array(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// @scure/base is a dependency of the SDK, not of core; atob/btoa exist in every runtime we target.
/** base64url without padding (RFC 4648 §5). */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @throws TypeError when `text` is not unpadded base64url. */
export function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new TypeError('fromBase64Url: expected unpadded base64url');
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function writeU32BE(target: Uint8Array, offset: number, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`writeU32BE: ${value} is not a u32`);
  target[offset] = value >>> 24;
  target[offset + 1] = (value >>> 16) & 0xff;
  target[offset + 2] = (value >>> 8) & 0xff;
  target[offset + 3] = value & 0xff;
}

export function readU32BE(source: Uint8Array, offset: number): number {
  if (offset < 0 || offset + 4 > source.length) throw new RangeError('readU32BE: out of bounds');
  return ((source[offset]! << 24) | (source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!) >>> 0;
}

/** u32 as 4 big-endian bytes. */
export function u32BE(value: number): Uint8Array {
  const out = new Uint8Array(4);
  writeU32BE(out, 0, value);
  return out;
}

/** Writes a non-negative safe integer as 8 big-endian bytes (times in ms fit comfortably). */
export function writeU64BE(target: Uint8Array, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`writeU64BE: ${value} is not a non-negative safe integer`);
  writeU32BE(target, offset, Math.floor(value / 0x1_0000_0000));
  writeU32BE(target, offset + 4, value >>> 0);
}

/** @throws RangeError when the value does not fit a safe integer. */
export function readU64BE(source: Uint8Array, offset: number): number {
  const value = readU32BE(source, offset) * 0x1_0000_0000 + readU32BE(source, offset + 4);
  if (!Number.isSafeInteger(value)) throw new RangeError('readU64BE: value exceeds Number.MAX_SAFE_INTEGER');
  return value;
}

export function u64BE(value: number): Uint8Array {
  const out = new Uint8Array(8);
  writeU64BE(out, 0, value);
  return out;
}

const encoder = new TextEncoder();
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
