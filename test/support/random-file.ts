import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

const BLOCK = 1024 * 1024;

/**
 * Writes `size` random bytes to `file` (created or truncated) one MiB at a time, so even a
 * gigabyte costs one MiB of memory, and returns their SHA-256 in hex. For the files tests and
 * benchmark: random data cannot compress, and the hash is what the receiver must reproduce.
 */
export function writeRandomFile(file: string, size: number): string {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`writeRandomFile: expected a size in bytes >= 0, got ${size}`);
  const hash = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    for (let at = 0; at < size; at += BLOCK) {
      const block = randomBytes(Math.min(BLOCK, size - at));
      hash.update(block);
      writeSync(fd, block);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
