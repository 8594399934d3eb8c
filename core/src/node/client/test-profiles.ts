import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** scrypt cost for profiles made in tests: real scrypt, small enough for a loaded 2-core machine. */
export const TEST_PROFILE_KDF = { N: 2 ** 12, r: 8, p: 1 } as const;

/** A fresh temp folder (under os.tmpdir()) and its cleanup, for specs that need real profiles. */
export function tempDir(prefix = 'discordopus-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Peer-link options for every client a test or benchmark creates: links stay on (the default)
 * but offer and connect over 127.0.0.1 only, so tests never dial other addresses.
 */
export const TEST_PEER_LINKS = { loopbackOnly: true } as const;
