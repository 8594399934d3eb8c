import { AppError } from '@discordopus/sdk';

/** The stable codes a {@link CryptoError} carries. */
export type CryptoErrorCode =
  | 'crypto/auth-failed'
  | 'crypto/invalid-public-key'
  | 'crypto/invalid-signature'
  | 'crypto/replay'
  | 'crypto/malformed'
  | 'crypto/too-many-skipped'
  | 'crypto/unsupported-version'
  | 'crypto/unknown-sender-key'
  | 'crypto/unknown-prekey'
  | 'crypto/expired';

/**
 * A cryptographic check failed on data that came from outside (a peer, the server, a file):
 * the data is dropped and the state it would have changed stays as it was.
 */
export class CryptoError extends AppError {
  declare readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(code, message, options);
  }
}

/** True when `error` is a {@link CryptoError}, optionally with the given code. */
export function isCryptoError(error: unknown, code?: CryptoErrorCode): error is CryptoError {
  return error instanceof CryptoError && (code === undefined || error.code === code);
}
