import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { Logger } from '@discordopus/sdk';

export interface LoggerOptions {
  /** trace, debug, info (default), warn, error, fatal or silent. */
  level?: string;
  /** Where lines go: a stream with `write`, a file path, or a file descriptor. Default: stderr. */
  destination?: DestinationStream | string | number;
  /** Added to every line as `name`. */
  name?: string;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Field names whose values may hold key material or message content; matched on the lower-cased name. */
const SENSITIVE = /(secret|passphrase|password|plaintext|private|seed|mnemonic|token|salt|nonce|^key$|keys?$|^body$|^text$|^content$|^data$)/;
/** Public values whose names look sensitive. */
const PUBLIC = new Set(['publickey', 'identitykey', 'keyid', 'keycount']);
const MAX_DEPTH = 6;

export const REDACTED = '[redacted]';

/**
 * Copies `fields` with every value under a sensitive-looking name replaced by `[redacted]` and
 * every byte array replaced by its length, so neither key material nor plaintext reaches a log
 * even when a caller passes it by mistake.
 */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  return redactValue(fields, 0, new WeakSet()) as Record<string, unknown>;
}

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[nested]';
  seen.add(value);
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { type: value.name, message: value.message, ...(code === undefined ? {} : { code }) };
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value)) {
    const lower = name.toLowerCase();
    out[name] = SENSITIVE.test(lower) && !PUBLIC.has(lower) ? REDACTED : redactValue(item, depth + 1, seen);
  }
  return out;
}

class RedactingLogger implements Logger {
  constructor(private readonly pino: PinoLogger) {}

  debug(message: string, fields?: Record<string, unknown>): void {
    if (fields) this.pino.debug(redactFields(fields), message);
    else this.pino.debug(message);
  }

  info(message: string, fields?: Record<string, unknown>): void {
    if (fields) this.pino.info(redactFields(fields), message);
    else this.pino.info(message);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    if (fields) this.pino.warn(redactFields(fields), message);
    else this.pino.warn(message);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    if (fields) this.pino.error(redactFields(fields), message);
    else this.pino.error(message);
  }

  child(bindings: Record<string, unknown>): Logger {
    return new RedactingLogger(this.pino.child(redactFields(bindings)));
  }
}

/**
 * Creates the app's structured logger (pino, one JSON object per line) behind the SDK's
 * {@link Logger} interface. Fields named like keys, secrets or message content are redacted.
 * @throws RangeError for an unknown level.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (!LEVELS.includes(level)) throw new RangeError(`createLogger: unknown level "${level}" (use one of ${LEVELS.join(', ')})`);
  const { destination } = options;
  const stream: DestinationStream = destination === undefined
    ? pino.destination({ dest: 2, sync: true })
    : typeof destination === 'string' || typeof destination === 'number'
      ? pino.destination({ dest: destination, sync: true, mkdir: true })
      : destination;
  const base = pino({ level, ...(options.name === undefined ? {} : { name: options.name }) }, stream);
  return new RedactingLogger(base);
}
