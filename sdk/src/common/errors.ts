/**
 * An error a user or a calling program can act on. `code` is stable and namespaced
 * (`'storage/wrong-passphrase'`, `'messaging/peer-unreachable'`); the message says what
 * happened and what to do. The CLI maps codes to exit codes, the UI to readable text and the
 * server to error codes on the wire.
 *
 * Programmer errors (wrong argument types, out-of-range values) are `TypeError` / `RangeError`
 * instead.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.details = options?.details;
  }
  readonly details: Record<string, unknown> | undefined;

  /** A plain object that survives JSON (for JSON-RPC and the renderer bridge). */
  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/** True when `error` is an {@link AppError}, optionally with the given code. */
export function isAppError(error: unknown, code?: string): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}
