/**
 * The cryptographic primitives DiscordOpus uses, behind one interface with two backends:
 * `NodeCryptoProvider` (node:crypto, the fast path in Node and Electron main) and
 * `NobleCryptoProvider` (@noble/*, portable: renderer, workers). Both must give identical
 * output for identical input; differential tests check it. Nothing here is hand-written
 * cryptography: each method wraps a library call.
 *
 * Conventions: all byte strings are Uint8Array; keys are raw (32-byte X25519 / Ed25519 keys,
 * Ed25519 secret keys are the 32-byte seed). Methods throw TypeError / RangeError for wrong
 * argument types or lengths, and `CryptoError` for failed authentication or invalid keys.
 */
export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export type AeadAlgorithm = 'chacha20-poly1305' | 'aes-256-gcm';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
  dkLen: number;
}

export interface CryptoProvider {
  readonly name: 'node' | 'noble';

  randomBytes(length: number): Uint8Array;

  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HMAC-SHA512 (64 bytes): one call where a KDF needs two 32-byte keys (the ratchet's chain step). */
  hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** RFC 5869 HKDF with SHA-256. `info` at most 1024 bytes, `length` at most 255·32 (RangeError). */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;

  ed25519GenerateKeyPair(): KeyPair;
  ed25519PublicKey(secretKey: Uint8Array): Uint8Array;
  ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** Returns false (never throws) for a bad signature or a malformed public key. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** The X25519 twin of an Ed25519 public key (birational map). */
  ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array;
  /** The X25519 twin of an Ed25519 secret key (seed). */
  ed25519SecretToX25519(secretKey: Uint8Array): Uint8Array;

  x25519GenerateKeyPair(): KeyPair;
  x25519PublicKey(secretKey: Uint8Array): Uint8Array;
  /**
   * X25519 shared secret. @throws CryptoError `crypto/invalid-public-key` for small-order or
   * otherwise invalid public keys (an all-zero shared secret).
   */
  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;

  /** AEAD seal: returns ciphertext ‖ 16-byte tag. Nonce is 12 bytes, key 32 bytes. */
  aeadSeal(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData?: Uint8Array): Uint8Array;
  /** AEAD open. @throws CryptoError `crypto/auth-failed` when the tag does not verify. */
  aeadOpen(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData?: Uint8Array): Uint8Array;

  /**
   * scrypt (memory-hard KDF). `onProgress` receives 0..1: noble reports as it goes, node:crypto
   * (thread pool, no progress) reports 0 at the start and 1 at the end.
   */
  scrypt(password: Uint8Array, salt: Uint8Array, params: ScryptParams, onProgress?: (fraction: number) => void): Promise<Uint8Array>;
}
