import { isAppError } from '@discordopus/sdk';

/** Stable exit codes of the `discordopus` CLI (table in docs/cli.md). */
export const ExitCode = {
  Ok: 0,
  /** Anything not listed below, including unexpected errors. */
  Generic: 1,
  /** Bad command line or input: unknown command, bad argument, invalid user ID, no passphrase source. */
  Usage: 2,
  WrongPassphrase: 3,
  /** No such profile, contact, file or key. */
  NotFound: 4,
  /** Signaling server or peers not reachable. */
  Network: 5,
  /** Something already exists: profile, contact, name, file, daemon socket. */
  Conflict: 6,
  /** Damaged or tampered data: backup file, profile database. */
  Damaged: 7,
} as const;

const USAGE = new Set(['cli/usage', 'cli/no-passphrase', 'cli/passphrase-mismatch', 'backup/weak-passphrase', 'contacts/self', 'storage/empty-passphrase']);
const NOT_FOUND = new Set(['storage/no-profile', 'identity/no-identity', 'contacts/identity-unknown', 'contacts/no-identity-change']);
const CONFLICT = new Set(['daemon/socket-in-use', 'contacts/name-taken', 'contacts/identity-changed']);

/** Maps an error to the CLI's exit code; errors that are not AppErrors are generic failures. */
export function exitCodeFor(error: unknown): number {
  if (!isAppError(error)) return ExitCode.Generic;
  const code = error.code;
  const [namespace = ''] = code.split('/');
  if (code.endsWith('/wrong-passphrase')) return ExitCode.WrongPassphrase;
  if (USAGE.has(code) || /\/invalid-/.test(code)) return ExitCode.Usage;
  if (NOT_FOUND.has(code) || code.endsWith('/not-found')) return ExitCode.NotFound;
  if (['channels', 'signaling', 'network'].includes(namespace)) return ExitCode.Network;
  if (CONFLICT.has(code) || code.endsWith('-exists')) return ExitCode.Conflict;
  if (code === 'backup/tampered' || code === 'backup/malformed' || code.startsWith('storage/corrupt') || code === 'identity/corrupt') return ExitCode.Damaged;
  return ExitCode.Generic;
}
