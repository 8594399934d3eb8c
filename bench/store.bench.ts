/**
 * Messages stored per second, each in one transaction with its ratchet state (a ~1.5 KB
 * serialized state blob updated per message, plus the message row), through kysely as the
 * kernel does it. Encrypted (profile database, default cipher and synchronous=FULL) against an
 * unencrypted SQLite file with the same pragmas, measured in the same run, interleaved in rounds
 * so that load from other processes hits both alike. Extra lines: other ciphers, synchronous=NORMAL.
 *
 * Summary: encrypted_per_s, plain_per_s, ratio (encrypted / plain; target >= 0.7; the median
 * of per-round ratios), cpu_ratio (plain / encrypted CPU time per message: the cipher's cost
 * without fsync waits and load swings), and the same for synchronous=NORMAL.
 * Args: [rounds=6] [slice ms=500].
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { Kysely, SqliteDialect } from 'kysely';
import type { BenchOutput } from './run.ts';
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import { openProfileDatabase } from '../core/src/node/storage/profile-database.ts';
import type { ProfileCipher } from '../core/src/node/storage/profile-header.ts';
import { errorMappingDatabase } from '../core/src/node/storage/sqlite-errors.ts';
import { TEST_KDF, tempDir } from '../core/src/node/storage/storage-test-support.ts';

type Sync = 'full' | 'normal';
interface Target { name: string; cipher: ProfileCipher | 'plain'; sync: Sync; db: Kysely<any>; close(): Promise<void>; seq: number }

const crypto = new NodeCryptoProvider();
const STATE_BYTES = 1536;
const BODY_BYTES = 220;

async function openTarget(root: string, cipher: ProfileCipher | 'plain', sync: Sync): Promise<Target> {
  const name = `${cipher}-${sync}`;
  const dir = path.join(root, name);
  let db: Kysely<any>;
  let close: () => Promise<void>;
  if (cipher === 'plain') {
    rmSync(dir, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'plain.db');
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.pragma(`synchronous = ${sync.toUpperCase()}`);
    raw.pragma('foreign_keys = ON');
    db = new Kysely<any>({ dialect: new SqliteDialect({ database: errorMappingDatabase(raw, file) }) });
    close = () => db.destroy();
  } else {
    const profile = await openProfileDatabase({ dir, passphrase: 'bench', crypto, create: true, kdf: TEST_KDF, cipher, synchronous: sync });
    db = profile.db;
    close = () => profile.close();
  }
  await db.schema.createTable('kernel_sessions').addColumn('peer', 'text', (c) => c.primaryKey()).addColumn('state', 'blob', (c) => c.notNull()).execute();
  await db.schema
    .createTable('kernel_messages')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('peer', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('body', 'blob', (c) => c.notNull())
    .addColumn('sent_at', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('kernel_messages_peer_seq').on('kernel_messages').columns(['peer', 'seq']).unique().execute();
  await db.insertInto('kernel_sessions').values({ peer: 'alice', state: crypto.randomBytes(STATE_BYTES) }).execute();
  return { name, cipher, sync, db, close, seq: 0 };
}

async function storeOne(t: Target, state: Uint8Array, body: Uint8Array): Promise<void> {
  const seq = t.seq++;
  await t.db.transaction().execute(async (trx) => {
    await trx.updateTable('kernel_sessions').set({ state }).where('peer', '=', 'alice').execute();
    await trx.insertInto('kernel_messages').values({ peer: 'alice', seq, body, sent_at: Date.now() }).execute();
  });
}

interface Slice { perS: number; cpuUsPerMsg: number }

/** Stores messages for `ms` milliseconds: messages per second (wall clock) and CPU µs per message. */
async function run(t: Target, ms: number): Promise<Slice> {
  // Fresh-looking bytes per message, as a ratchet produces; generated outside the timed loop.
  const states = Array.from({ length: 64 }, () => crypto.randomBytes(STATE_BYTES));
  const bodies = Array.from({ length: 64 }, () => crypto.randomBytes(BODY_BYTES));
  let n = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  let elapsed = 0;
  while ((elapsed = performance.now() - start) < ms) {
    await storeOne(t, states[n % 64]!, bodies[n % 64]!);
    n++;
  }
  const used = process.cpuUsage(cpu);
  return { perS: (n / elapsed) * 1000, cpuUsPerMsg: (used.user + used.system) / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export default async function storeBench(out: BenchOutput): Promise<void> {
  const root = tempDir('store-bench');
  const rounds = Number(out.args[0] ?? 6);
  const sliceMs = Number(out.args[1] ?? 500);
  const configs: Array<[ProfileCipher | 'plain', Sync]> = [
    ['plain', 'full'], ['sqlcipher', 'full'], ['chacha20', 'full'], ['aes256cbc', 'full'],
    ['plain', 'normal'], ['sqlcipher', 'normal'], ['chacha20', 'normal'], ['aes256cbc', 'normal'],
  ];
  const targets: Target[] = [];
  try {
    for (const [cipher, sync] of configs) targets.push(await openTarget(root, cipher, sync));
    for (const t of targets) await run(t, 150); // warm up caches and the JIT
    const slices = new Map<string, Slice[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) slices.get(t.name)!.push(await run(t, sliceMs));
    }
    // The machine is shared: compare each slice with the plain slice of the same round (taken
    // seconds apart) and report the median of those ratios, which load swings affect least.
    const stats = (name: string) => {
      const own = slices.get(name)!;
      const plain = slices.get(`plain-${name.split('-')[1]}`)!;
      return {
        perS: median(own.map((x) => x.perS)),
        ratio: median(own.map((x, i) => x.perS / plain[i]!.perS)),
        cpuUs: median(own.map((x) => x.cpuUsPerMsg)),
        cpuRatio: median(own.map((x, i) => plain[i]!.cpuUsPerMsg / x.cpuUsPerMsg)),
      };
    };
    for (const t of targets) {
      const s = stats(t.name);
      out.line({
        config: t.name, cipher: t.cipher, synchronous: t.sync, per_s: Math.round(s.perS), ratio_vs_plain: +s.ratio.toFixed(3),
        cpu_us_per_msg: Math.round(s.cpuUs), cpu_ratio_vs_plain: +s.cpuRatio.toFixed(3), rounds_per_s: slices.get(t.name)!.map((x) => Math.round(x.perS)),
      });
    }
    const enc = stats('sqlcipher-full');
    const normal = stats('sqlcipher-normal');
    out.summary({
      encrypted_per_s: Math.round(enc.perS),
      plain_per_s: Math.round(stats('plain-full').perS),
      ratio: +enc.ratio.toFixed(3),
      cipher: 'sqlcipher',
      synchronous: 'full',
      cpu_ratio: +enc.cpuRatio.toFixed(3),
      normal_encrypted_per_s: Math.round(normal.perS),
      normal_plain_per_s: Math.round(stats('plain-normal').perS),
      normal_ratio: +normal.ratio.toFixed(3),
      normal_cpu_ratio: +normal.cpuRatio.toFixed(3),
      state_bytes: STATE_BYTES,
      body_bytes: BODY_BYTES,
    });
  } finally {
    for (const t of targets) await t.close();
    rmSync(root, { recursive: true, force: true });
  }
}
