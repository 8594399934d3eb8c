import {
  type CipherGCMTypes,
  type KeyObject,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomBytes,
  scrypt,
  sign,
  verify,
} from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import type { AeadAlgorithm, CryptoProvider, KeyPair, ScryptParams } from '../../common/crypto/crypto-provider.ts';
import { CryptoError } from '../../common/crypto/crypto-error.ts';
import { asUint8Array } from '../../common/crypto/bytes.ts';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, HKDF_SHA256_MAX, aeadArg, hkdfInfoArg, bytesArg, lengthArg, scryptArg, scryptMemory } from '../../common/crypto/provider-checks.ts';

// Raw keys become KeyObjects through JWK: OpenSSL 3's DER decoder framework is 5-10x slower
// here (measured: ~1.8 ms for a PKCS#8 X25519 key against ~0.2 ms for JWK). For a private JWK,
// node derives the public half from `d` and does not read `x` beyond checking it is a string,
// so a placeholder spares a base-point multiplication (the differential tests would catch a
// change: every derived public key is compared with noble's).
type OkpCurve = 'Ed25519' | 'X25519';
const PLACEHOLDER_X = 'AA';
const b64 = (raw: Uint8Array): string => Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url');
const unb64 = (text: string | undefined): Uint8Array => owned(Buffer.from(text ?? '', 'base64url'));

function privateKeyObject(crv: OkpCurve, raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv, d: b64(raw), x: PLACEHOLDER_X }, format: 'jwk' });
}

function publicKeyObject(crv: OkpCurve, raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: b64(raw) }, format: 'jwk' });
}

/**
 * Small LRU of KeyObjects keyed by the raw key bytes. Creating a KeyObject (DER parse inside
 * OpenSSL) costs more than the signature or DH it is used for, and the protocols reuse the same
 * keys (identity, signed prekey, ratchet keys, sender signing keys) many times. Keys are held
 * only as long as the provider lives, i.e. as long as the process holds them anyway.
 */
class KeyObjectCache {
  private readonly map = new Map<string, KeyObject>();
  constructor(
    private readonly capacity: number,
    private readonly make: (raw: Uint8Array) => KeyObject,
  ) {}

  get(raw: Uint8Array): KeyObject {
    const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
    const key = this.map.get(id);
    if (key) {
      this.map.delete(id);
      this.map.set(id, key);
      return key;
    }
    const made = this.make(raw);
    if (this.map.size >= this.capacity) this.map.delete(this.map.keys().next().value!);
    this.map.set(id, made);
    return made;
  }
}

/**
 * A plain Uint8Array that owns its whole ArrayBuffer. Small Buffers from Buffer.concat or
 * Buffer.from are slices of a shared 8 KiB pool: a view would carry the neighbouring bytes
 * (possibly other keys) along wherever `.buffer` goes (structured clone, IPC, transfer).
 */
function owned(buf: Uint8Array): Uint8Array {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return asUint8Array(buf);
  return new Uint8Array(buf);
}

/** Public half of a private KeyObject, raw (one JWK export, no scalar multiplication). */
function rawPublic(privateKey: KeyObject): Uint8Array {
  return unb64(privateKey.export({ format: 'jwk' }).x);
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

/** Fast backend on node:crypto (Node and Electron main). */
export class NodeCryptoProvider implements CryptoProvider {
  readonly name = 'node' as const;

  private readonly edPrivate = new KeyObjectCache(256, (raw) => privateKeyObject('Ed25519', raw));
  private readonly edPublic = new KeyObjectCache(1024, (raw) => publicKeyObject('Ed25519', raw));
  private readonly xPrivate = new KeyObjectCache(256, (raw) => privateKeyObject('X25519', raw));
  private readonly xPublic = new KeyObjectCache(1024, (raw) => publicKeyObject('X25519', raw));

  // Identity keys are converted on every handshake; the conversion (noble, bigint point
  // decompression) costs about two X25519 operations. Public input only.
  private readonly montgomery = new Map<string, Uint8Array>();
  private readonly montgomerySecret = new Map<string, Uint8Array>();

  /**
   * A new key pair: 32 random bytes are a complete Ed25519 or X25519 private key (RFC 8032 and
   * 7748 hash or clamp them when used). Not `generateKeyPairSync`: in Node 20, exporting a key it
   * just generated deadlocks the thread when a GC collects the generation job during the export
   * (the job's destructor takes the key's mutex, which the export holds). It hung a test run
   * here; a loop of generate-and-export under allocation hangs after ~170,000 pairs, and this way
   * ran 600,000 without.
   */
  private generate(privateCache: KeyObjectCache): KeyPair {
    const secretKey = owned(randomBytes(32));
    // Generated keys are used right away (a DH step, a signature): the cache keeps the KeyObject.
    const publicKey = rawPublic(privateCache.get(secretKey));
    return { publicKey, secretKey };
  }

  randomBytes(length: number): Uint8Array {
    return owned(randomBytes(lengthArg('randomBytes', 'length', length, 1 << 16)));
  }

  sha256(data: Uint8Array): Uint8Array {
    return owned(createHash('sha256').update(bytesArg('sha256', 'data', data)).digest());
  }

  sha512(data: Uint8Array): Uint8Array {
    return owned(createHash('sha512').update(bytesArg('sha512', 'data', data)).digest());
  }

  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return owned(createHmac('sha256', bytesArg('hmacSha256', 'key', key)).update(bytesArg('hmacSha256', 'data', data)).digest());
  }

  hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array {
    return owned(createHmac('sha512', bytesArg('hmacSha512', 'key', key)).update(bytesArg('hmacSha512', 'data', data)).digest());
  }

  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    const fn = 'hkdfSha256';
    const ikmBytes = bytesArg(fn, 'ikm', ikm);
    const saltBytes = bytesArg(fn, 'salt', salt);
    const infoBytes = hkdfInfoArg(fn, info);
    const len = lengthArg(fn, 'length', length, HKDF_SHA256_MAX);
    if (len === 0) return new Uint8Array(0);
    return new Uint8Array(hkdfSync('sha256', ikmBytes, saltBytes, infoBytes, len));
  }

  ed25519GenerateKeyPair(): KeyPair {
    return this.generate(this.edPrivate);
  }

  ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
    return rawPublic(this.edPrivate.get(bytesArg('ed25519PublicKey', 'secretKey', secretKey, 32)));
  }

  ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
    const key = this.edPrivate.get(bytesArg('ed25519Sign', 'secretKey', secretKey, 32));
    return owned(sign(null, bytesArg('ed25519Sign', 'message', message), key));
  }

  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    const fn = 'ed25519Verify';
    const pk = bytesArg(fn, 'publicKey', publicKey);
    const sig = bytesArg(fn, 'signature', signature);
    const msg = bytesArg(fn, 'message', message);
    if (pk.length !== 32 || sig.length !== 64) return false;
    try {
      return verify(null, msg, this.edPublic.get(pk), sig);
    } catch {
      return false;
    }
  }

  ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array {
    const pk = bytesArg('ed25519PublicToX25519', 'publicKey', publicKey, 32);
    const id = Buffer.from(pk.buffer, pk.byteOffset, pk.byteLength).toString('latin1');
    const known = this.montgomery.get(id);
    // Copies out, so a caller that writes into the result cannot poison the cache.
    if (known) return known.slice();
    try {
      const converted = ed25519.utils.toMontgomery(pk);
      if (this.montgomery.size >= 1024) this.montgomery.delete(this.montgomery.keys().next().value!);
      this.montgomery.set(id, converted.slice());
      return converted;
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      throw new CryptoError('crypto/invalid-public-key', 'The Ed25519 public key is not a valid curve point; it cannot be used.', { cause: error });
    }
  }

  ed25519SecretToX25519(secretKey: Uint8Array): Uint8Array {
    const sk = bytesArg('ed25519SecretToX25519', 'secretKey', secretKey, 32);
    // Identity secrets are converted on every handshake (a SHA-512 in JS, ~2/3 of an X25519 here).
    const id = Buffer.from(sk.buffer, sk.byteOffset, sk.byteLength).toString('latin1');
    const known = this.montgomerySecret.get(id);
    if (known) return known.slice();
    const converted = ed25519.utils.toMontgomerySecret(sk).slice();
    if (this.montgomerySecret.size >= 64) this.montgomerySecret.delete(this.montgomerySecret.keys().next().value!);
    this.montgomerySecret.set(id, converted.slice());
    return converted;
  }

  x25519GenerateKeyPair(): KeyPair {
    return this.generate(this.xPrivate);
  }

  x25519PublicKey(secretKey: Uint8Array): Uint8Array {
    return rawPublic(this.xPrivate.get(bytesArg('x25519PublicKey', 'secretKey', secretKey, 32)));
  }

  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    const sk = bytesArg('x25519', 'secretKey', secretKey, 32);
    const pk = bytesArg('x25519', 'publicKey', publicKey, 32);
    let shared: Uint8Array;
    try {
      shared = owned(diffieHellman({ privateKey: this.xPrivate.get(sk), publicKey: this.xPublic.get(pk) }));
    } catch (error) {
      // OpenSSL refuses to return an all-zero secret (small-order point).
      throw new CryptoError('crypto/invalid-public-key', 'The peer sent an invalid X25519 public key (small order); the key exchange was refused.', { cause: error });
    }
    if (isAllZero(shared)) throw new CryptoError('crypto/invalid-public-key', 'The peer sent an invalid X25519 public key (small order); the key exchange was refused.');
    return shared;
  }

  aeadSeal(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData?: Uint8Array): Uint8Array {
    const fn = 'aeadSeal';
    const alg = aeadArg(fn, algorithm);
    const k = bytesArg(fn, 'key', key, AEAD_KEY_BYTES);
    const n = bytesArg(fn, 'nonce', nonce, AEAD_NONCE_BYTES);
    const pt = bytesArg(fn, 'plaintext', plaintext);
    // The cast only picks an overload; both algorithms take the same options.
    const cipher = createCipheriv(alg as CipherGCMTypes, k, n, { authTagLength: AEAD_TAG_BYTES });
    if (associatedData !== undefined) cipher.setAAD(bytesArg(fn, 'associatedData', associatedData), { plaintextLength: pt.length });
    const body = cipher.update(pt);
    // Stream ciphers emit everything from update(); final() only computes the tag. One copy into
    // an owned array instead of Buffer.concat (a pooled slice) plus a second copy out of the pool.
    const tail = cipher.final();
    const out = new Uint8Array(pt.length + AEAD_TAG_BYTES);
    out.set(body);
    if (tail.length > 0) out.set(tail, body.length);
    out.set(cipher.getAuthTag(), pt.length);
    return out;
  }

  aeadOpen(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData?: Uint8Array): Uint8Array {
    const fn = 'aeadOpen';
    const alg = aeadArg(fn, algorithm);
    const k = bytesArg(fn, 'key', key, AEAD_KEY_BYTES);
    const n = bytesArg(fn, 'nonce', nonce, AEAD_NONCE_BYTES);
    const input = bytesArg(fn, 'sealed', sealed);
    const ad = associatedData === undefined ? undefined : bytesArg(fn, 'associatedData', associatedData);
    if (input.length < AEAD_TAG_BYTES) throw new CryptoError('crypto/auth-failed', 'The encrypted data is shorter than its authentication tag; it was rejected.');
    const ctLength = input.length - AEAD_TAG_BYTES;
    try {
      const decipher = createDecipheriv(alg as CipherGCMTypes, k, n, { authTagLength: AEAD_TAG_BYTES });
      decipher.setAuthTag(input.subarray(ctLength));
      if (ad !== undefined) decipher.setAAD(ad, { plaintextLength: ctLength });
      const body = decipher.update(input.subarray(0, ctLength));
      const tail = decipher.final();
      return owned(tail.length === 0 ? body : Buffer.concat([body, tail]));
    } catch (error) {
      throw new CryptoError('crypto/auth-failed', 'The encrypted data failed authentication (tampered, truncated or wrong key); it was rejected.', { cause: error });
    }
  }

  async scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams, onProgress?: (fraction: number) => void): Promise<Uint8Array> {
    const p = scryptArg('scrypt', params);
    const pw = bytesArg('scrypt', 'password', password);
    const s = bytesArg('scrypt', 'salt', salt);
    // node:crypto runs scrypt on the thread pool without progress reports: 0 at start, 1 at end.
    onProgress?.(0);
    return new Promise((resolve, reject) => {
      scrypt(pw, s, p.dkLen, { N: p.N, r: p.r, p: p.p, maxmem: scryptMemory(p) }, (error, key) => {
        if (error) return reject(error);
        onProgress?.(1);
        resolve(owned(key));
      });
    });
  }
}
