import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { gcm } from '@noble/ciphers/aes.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { randomBytes } from '@noble/hashes/utils.js';
import type { AeadAlgorithm, CryptoProvider, KeyPair, ScryptParams } from './crypto-provider.ts';
import { CryptoError } from './crypto-error.ts';
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, HKDF_SHA256_MAX, aeadArg, hkdfInfoArg, bytesArg, lengthArg, scryptArg, scryptMemory } from './provider-checks.ts';

const EMPTY = new Uint8Array(0);

/** Portable backend on @noble/* (renderer, workers, any JS runtime). */
export class NobleCryptoProvider implements CryptoProvider {
  readonly name = 'noble' as const;

  randomBytes(length: number): Uint8Array {
    return randomBytes(lengthArg('randomBytes', 'length', length, 1 << 16));
  }

  sha256(data: Uint8Array): Uint8Array {
    return sha256(bytesArg('sha256', 'data', data));
  }

  sha512(data: Uint8Array): Uint8Array {
    return sha512(bytesArg('sha512', 'data', data));
  }

  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return hmac(sha256, bytesArg('hmacSha256', 'key', key), bytesArg('hmacSha256', 'data', data));
  }

  hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array {
    return hmac(sha512, bytesArg('hmacSha512', 'key', key), bytesArg('hmacSha512', 'data', data));
  }

  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    const fn = 'hkdfSha256';
    return hkdf(sha256, bytesArg(fn, 'ikm', ikm), bytesArg(fn, 'salt', salt), hkdfInfoArg(fn, info), lengthArg(fn, 'length', length, HKDF_SHA256_MAX));
  }

  ed25519GenerateKeyPair(): KeyPair {
    const secretKey = ed25519.utils.randomSecretKey();
    return { publicKey: ed25519.getPublicKey(secretKey), secretKey };
  }

  ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
    return ed25519.getPublicKey(bytesArg('ed25519PublicKey', 'secretKey', secretKey, 32));
  }

  ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
    return ed25519.sign(bytesArg('ed25519Sign', 'message', message), bytesArg('ed25519Sign', 'secretKey', secretKey, 32));
  }

  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    const fn = 'ed25519Verify';
    bytesArg(fn, 'publicKey', publicKey);
    bytesArg(fn, 'signature', signature);
    const msg = bytesArg(fn, 'message', message);
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      // zip215: false = RFC 8032 / RFC 8032-strict encodings, as OpenSSL checks them.
      return ed25519.verify(signature, msg, publicKey, { zip215: false });
    } catch {
      return false;
    }
  }

  ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array {
    try {
      return ed25519.utils.toMontgomery(bytesArg('ed25519PublicToX25519', 'publicKey', publicKey, 32));
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      throw new CryptoError('crypto/invalid-public-key', 'The Ed25519 public key is not a valid curve point; it cannot be used.', { cause: error });
    }
  }

  ed25519SecretToX25519(secretKey: Uint8Array): Uint8Array {
    // slice: noble may return a view into the SHA-512 output, whose other half is secret too.
    return ed25519.utils.toMontgomerySecret(bytesArg('ed25519SecretToX25519', 'secretKey', secretKey, 32)).slice();
  }

  x25519GenerateKeyPair(): KeyPair {
    const secretKey = x25519.utils.randomSecretKey();
    return { publicKey: x25519.getPublicKey(secretKey), secretKey };
  }

  x25519PublicKey(secretKey: Uint8Array): Uint8Array {
    return x25519.getPublicKey(bytesArg('x25519PublicKey', 'secretKey', secretKey, 32));
  }

  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    const sk = bytesArg('x25519', 'secretKey', secretKey, 32);
    const pk = bytesArg('x25519', 'publicKey', publicKey, 32);
    try {
      return x25519.getSharedSecret(sk, pk);
    } catch (error) {
      // noble rejects exactly the low-order points, i.e. those giving an all-zero secret.
      throw new CryptoError('crypto/invalid-public-key', 'The peer sent an invalid X25519 public key (small order); the key exchange was refused.', { cause: error });
    }
  }

  aeadSeal(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData?: Uint8Array): Uint8Array {
    const fn = 'aeadSeal';
    const cipher = this.cipher(fn, algorithm, key, nonce, associatedData);
    return cipher.encrypt(bytesArg(fn, 'plaintext', plaintext));
  }

  aeadOpen(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData?: Uint8Array): Uint8Array {
    const fn = 'aeadOpen';
    const cipher = this.cipher(fn, algorithm, key, nonce, associatedData);
    const input = bytesArg(fn, 'sealed', sealed);
    if (input.length < AEAD_TAG_BYTES) throw new CryptoError('crypto/auth-failed', 'The encrypted data is shorter than its authentication tag; it was rejected.');
    try {
      return cipher.decrypt(input);
    } catch (error) {
      throw new CryptoError('crypto/auth-failed', 'The encrypted data failed authentication (tampered, truncated or wrong key); it was rejected.', { cause: error });
    }
  }

  private cipher(fn: string, algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, associatedData: Uint8Array | undefined) {
    const alg = aeadArg(fn, algorithm);
    const k = bytesArg(fn, 'key', key, AEAD_KEY_BYTES);
    const n = bytesArg(fn, 'nonce', nonce, AEAD_NONCE_BYTES);
    const ad = associatedData === undefined ? EMPTY : bytesArg(fn, 'associatedData', associatedData);
    return alg === 'chacha20-poly1305' ? chacha20poly1305(k, n, ad) : gcm(k, n, ad);
  }

  async scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams, onProgress?: (fraction: number) => void): Promise<Uint8Array> {
    const p = scryptArg('scrypt', params);
    return scryptAsync(bytesArg('scrypt', 'password', password), bytesArg('scrypt', 'salt', salt), {
      ...p,
      maxmem: scryptMemory(p),
      ...(onProgress ? { onProgress } : {}),
    });
  }
}
