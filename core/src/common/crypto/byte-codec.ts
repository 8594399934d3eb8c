import { CryptoError } from './crypto-error.ts';

/**
 * Growable writer for the compact binary encodings of the protocols (headers, bundles, state).
 * Length-prefixed fields keep the formats self-delimiting.
 */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + extra));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): this {
    this.ensure(1);
    this.view.setUint8(this.pos, value);
    this.pos += 1;
    return this;
  }

  u16(value: number): this {
    this.ensure(2);
    this.view.setUint16(this.pos, value);
    this.pos += 2;
    return this;
  }

  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`ByteWriter.u32: ${value} is not a u32`);
    this.ensure(4);
    this.view.setUint32(this.pos, value);
    this.pos += 4;
    return this;
  }

  /** A non-negative safe integer as 8 bytes (timestamps). */
  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`ByteWriter.u64: ${value} is not a non-negative safe integer`);
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt(value));
    this.pos += 8;
    return this;
  }

  /** Raw bytes of a length both sides know. */
  fixed(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** Bytes with a u32 length prefix. */
  varBytes(bytes: Uint8Array): this {
    return this.u32(bytes.length).fixed(bytes);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/**
 * Reader over untrusted bytes: every read is bounds-checked and failures are `crypto/malformed`,
 * so a truncated or padded message is rejected, never a crash.
 */
export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.bytes.length) throw new CryptoError('crypto/malformed', `The ${this.what} is truncated; it was dropped. Ask the sender to send it again.`);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CryptoError('crypto/malformed', `The ${this.what} holds an out-of-range number; it was dropped.`);
    return Number(v);
  }

  /** A copy, so the result does not pin or alias the input buffer. */
  fixed(length: number): Uint8Array {
    this.need(length);
    const out = this.bytes.slice(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  varBytes(maxLength = 1 << 26): Uint8Array {
    const length = this.u32();
    if (length > maxLength) throw new CryptoError('crypto/malformed', `The ${this.what} holds a field of ${length} bytes (limit ${maxLength}); it was dropped.`);
    return this.fixed(length);
  }

  /** The bytes not read yet, as a view (zero copy). */
  rest(): Uint8Array {
    const out = this.bytes.subarray(this.pos);
    this.pos = this.bytes.length;
    return out;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** @throws CryptoError `crypto/malformed` when bytes are left over. */
  end(): void {
    if (this.pos !== this.bytes.length) throw new CryptoError('crypto/malformed', `The ${this.what} has ${this.bytes.length - this.pos} unexpected trailing bytes; it was dropped.`);
  }
}
