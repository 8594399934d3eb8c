import { createPublicKey, verify } from 'node:crypto';

/**
 * Ed25519 verification with node:crypto. Returns false (never throws) for a malformed key or
 * signature, so hostile input cannot turn into an exception path.
 */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}
