/**
 * Crash consistency of the encrypted profile database: a child process stores Double Ratchet
 * steps (new state + produced message in one transaction) and is killed with SIGKILL at random
 * points, many times; after each run the profile must reopen, and at the end the stored state and
 * messages must agree: message count == chain counter, no gaps or duplicates, and every stored
 * message decrypts exactly once, in order, on the receiving side (no message key used twice).
 *
 * STORAGE_CRASH_ITERATIONS=200 npx vitest run test/storage-crash.test.ts for a longer soak.
 *
 * The child is bundled once with esbuild (tsx's own) into a temp file and started with plain
 * node: under `node --import tsx` each start spends ~2 s of CPU loading kysely's 600 modules
 * through tsx's hooks, which alone would blow the time budget. STORAGE_CRASH_TSX=1 runs the
 * TypeScript child through `node --import tsx` instead.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { isAppError } from '@discordopus/sdk';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import { openProfileDatabase } from '../core/src/node/storage/profile-database.ts';
import { TEST_KDF, tempDir } from '../core/src/node/storage/storage-test-support.ts';
import {
  decodeRatchetHeader, deserializeRatchetState, initRatchetInitiator, initRatchetResponder, ratchetDecrypt, serializeRatchetState,
} from '../core/src/common/protocol/double-ratchet.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'storage-crash-child.ts');
const iterations = Number(process.env.STORAGE_CRASH_ITERATIONS ?? 20);
const crypto = new NodeCryptoProvider();
const dir = tempDir('crash');
const passphrase = 'crash test';
const bundleDir = tempDir('crash-child');
const bundle = path.join(bundleDir, 'storage-crash-child.mjs');
const useTsx = process.env.STORAGE_CRASH_TSX === '1';
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(bundleDir, { recursive: true, force: true });
});

beforeAll(async () => {
  if (useTsx) return;
  const native = createRequire(import.meta.url).resolve('better-sqlite3-multiple-ciphers');
  await build({
    entryPoints: [child], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'warning',
    // The native module must load from its own package folder (it finds its .node file from there).
    plugins: [{ name: 'native', setup: (b) => b.onResolve({ filter: /^better-sqlite3-multiple-ciphers$/ }, () => ({ path: native, external: true })) }],
  });
}, 120_000);

/** Runs the child until it has opened the profile, lets it write for `ms`, then SIGKILLs it. */
function runAndKill(ms: number): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const args = useTsx ? ['--import', 'tsx', child] : [bundle];
    const proc = spawn(process.execPath, [...args, dir, passphrase], { cwd: path.join(here, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let killed = false;
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      if (!killed && d.toString().includes('ready')) {
        killed = true;
        setTimeout(() => proc.kill('SIGKILL'), ms);
      }
    });
    proc.on('error', reject);
    proc.on('exit', (_code, signal) => resolve({ signal, stderr }));
  });
}

describe('encrypted storage under SIGKILL', () => {
  it(`keeps ratchet state and messages consistent over ${iterations} kills`, async () => {
    const bob = crypto.x25519GenerateKeyPair();
    const sharedSecret = crypto.randomBytes(32);
    const associatedData = crypto.randomBytes(64);
    let receiver = initRatchetResponder(crypto, { sharedSecret, associatedData, ourRatchetKeyPair: bob });
    const sender = initRatchetInitiator(crypto, { sharedSecret, associatedData, theirRatchetKey: bob.publicKey });

    const setup = await openProfileDatabase({ dir, passphrase, crypto, kdf: TEST_KDF, create: true });
    await setup.db.schema.createTable('kernel_sessions').addColumn('peer', 'text', (c) => c.primaryKey()).addColumn('state', 'blob', (c) => c.notNull()).execute();
    await setup.db.schema.createTable('kernel_outbox').addColumn('seq', 'integer', (c) => c.primaryKey()).addColumn('message', 'blob', (c) => c.notNull()).execute();
    await setup.db.insertInto('kernel_sessions').values({ peer: 'bob', state: serializeRatchetState(sender) }).execute();
    await setup.close();

    let killedBySignal = 0;
    for (let i = 0; i < iterations; i++) {
      // Kill points spread from "right after open" to "many commits in".
      const result = await runAndKill(Math.floor(Math.random() * 400));
      if (result.signal === 'SIGKILL') killedBySignal++;
      else throw new Error(`child exited on its own: ${result.stderr}`);
    }
    expect(killedBySignal).toBe(iterations);

    const profile = await openProfileDatabase({ dir, passphrase, crypto, kdf: TEST_KDF });
    try {
      const check = await sql<{ integrity_check: string }>`PRAGMA integrity_check`.execute(profile.db);
      expect(check.rows).toEqual([{ integrity_check: 'ok' }]);
      const stored = deserializeRatchetState((await profile.db.selectFrom('kernel_sessions').select('state').executeTakeFirstOrThrow()).state as Uint8Array);
      const messages = await profile.db.selectFrom('kernel_outbox').select(['seq', 'message']).orderBy('seq').execute();
      console.log(`storage crash: ${iterations} kills, ${messages.length} messages committed`);
      expect(messages.length).toBeGreaterThan(0);
      expect(messages.length).toBe(stored.sendCount);
      messages.forEach((m, i) => {
        expect(m.seq).toBe(i);
        expect(decodeRatchetHeader(m.message as Uint8Array).n).toBe(i);
      });
      const now = Date.now();
      for (const m of messages) {
        const out = ratchetDecrypt(crypto, receiver, m.message as Uint8Array, now);
        expect(new TextDecoder().decode(out.plaintext)).toBe(`message ${m.seq}`);
        receiver = out.state;
        // Each message key is used once: the same message cannot be decrypted twice.
        let replayError: unknown;
        try {
          ratchetDecrypt(crypto, receiver, m.message as Uint8Array, now);
        } catch (e) {
          replayError = e;
        }
        expect(isAppError(replayError, 'crypto/replay')).toBe(true);
      }
    } finally {
      await profile.close();
    }
  }, 180_000);
});
