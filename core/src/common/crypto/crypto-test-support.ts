import { CryptoError } from './crypto-error.ts';

/** For specs: the `CryptoError` code that `run` throws, or `'no error'`; other errors propagate. */
export function cryptoErrorCode(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof CryptoError) return error.code;
    throw error;
  }
  return 'no error';
}
