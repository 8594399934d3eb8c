import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { ScryptKdfParams } from './profile-header.ts';
import type { FileSync } from './deferred-sync.ts';

/*
 * Helpers shared by the storage specs, test/storage-crash.test.ts and bench/store.bench.ts.
 * Not exported from the package.
 */

/** Cheap scrypt cost so tests do not spend 128 MiB and half a second per open. */
export const TEST_KDF: ScryptKdfParams = { N: 2 ** 10, r: 8, p: 1 };

export function tempDir(label: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `discordopus-${label}-`));
}

/** SHA-256 of every file in `dir` (name → hex), to prove a failed open changed nothing. */
export function hashFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[name] = createHash('sha256').update(readFileSync(path.join(dir, name))).digest('hex');
  return out;
}

/** Mounts a tmpfs of `size` (e.g. '512k') on a fresh folder; undefined where mounting is not allowed. */
export function tryMountTmpfs(size: string, label: string): { dir: string; remountReadOnly(): void; unmount(): void } | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const dir = tempDir(label);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    dir,
    remountReadOnly: () => execFileSync('mount', ['-o', 'remount,ro', dir], { stdio: 'ignore' }),
    unmount() {
      execFileSync('umount', [dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A sync the test lets finish (or fail) when it wants, wrapped around the real one. */
export class HeldSync implements FileSync {
  readonly started: { finish(error?: Error): void }[] = [];
  /** Syncs on the calling thread (commits that are not deferred) are counted, not held. */
  syncsNow = 0;
  /** Thrown by the next sync on the calling thread. */
  failNow: Error | undefined;
  private released = false;
  constructor(private readonly real: FileSync) {}
  sync(): Promise<void> {
    if (this.released) return this.real.sync();
    let finished = false;
    return new Promise<void>((resolve, reject) => this.started.push({
      finish: (error) => {
        if (finished) return;
        finished = true;
        if (error) reject(error);
        else this.real.sync().then(resolve, reject);
      },
    }));
  }
  syncNow(): void {
    this.syncsNow++;
    const failure = this.failNow;
    this.failNow = undefined;
    if (failure) throw failure;
    this.real.syncNow();
  }
  /** Finishes the syncs held so far, and holds none from now on (until {@link hold}). */
  release(): void {
    this.released = true;
    for (const sync of this.started) sync.finish();
  }
  /** Holds the syncs started from now on again. */
  hold(): void {
    this.released = false;
  }
  close(): void {
    this.real.close();
  }
}
