import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { isAppError } from '@discordopus/sdk';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { openProfileDatabase } from './profile-database.ts';
import type { ProfileDatabase } from './profile-database.ts';
import { appliedMigrations, runMigrations } from './migrations.ts';
import type { Migration } from './migrations.ts';
import { TEST_KDF, tempDir } from './storage-test-support.ts';

let dir: string;
let profile: ProfileDatabase;
let db: Kysely<any>;
beforeEach(async () => {
  dir = tempDir('migrations');
  profile = await openProfileDatabase({ dir, passphrase: 'pw', crypto: new NodeCryptoProvider(), kdf: TEST_KDF, create: true });
  db = profile.db;
});
afterEach(async () => {
  await profile.close();
  rmSync(dir, { recursive: true, force: true });
});

function step(id: string, log: string[], table?: string): Migration {
  return {
    id,
    async up(d) {
      log.push(id);
      if (table) await d.schema.createTable(table).addColumn('x', 'integer').execute();
    },
  };
}

async function tables(): Promise<string[]> {
  const rows = await db.selectFrom('sqlite_master').select('name').where('type', '=', 'table').orderBy('name').execute();
  return rows.map((r) => r.name as string);
}

describe('runMigrations', () => {
  it('runs pending steps in id order, each once per owner', async () => {
    const log: string[] = [];
    const list = [step('0010-a', log, 'demo_a'), step('0020-b', log, 'demo_b')];
    expect(await runMigrations(db, 'demo', list)).toEqual({ applied: ['0010-a', '0020-b'] });
    expect(await runMigrations(db, 'demo', list)).toEqual({ applied: [] });
    expect(await runMigrations(db, 'demo', [...list, step('0030-c', log)])).toEqual({ applied: ['0030-c'] });
    expect(log).toEqual(['0010-a', '0020-b', '0030-c']);
    // Another owner with the same ids is tracked separately.
    expect(await runMigrations(db, 'other', [step('0010-a', log)])).toEqual({ applied: ['0010-a'] });
    expect(await appliedMigrations(db, 'demo')).toEqual(['0010-a', '0020-b', '0030-c']);
    const row = await db.selectFrom('kernel_migrations').selectAll().where('owner', '=', 'demo').where('id', '=', '0010-a').executeTakeFirstOrThrow();
    expect(typeof row.applied_at).toBe('number');
  });

  it('ignores recorded ids that are no longer listed', async () => {
    const log: string[] = [];
    await runMigrations(db, 'demo', [step('0010-a', log), step('0020-b', log)]);
    expect(await runMigrations(db, 'demo', [step('0020-b', log), step('0030-c', log)])).toEqual({ applied: ['0030-c'] });
    expect(log).toEqual(['0010-a', '0020-b', '0030-c']);
  });

  it('rolls back every pending step when one fails and names the owner and step', async () => {
    const log: string[] = [];
    await runMigrations(db, 'demo', [step('0010-a', log, 'demo_a')]);
    const failing: Migration = { id: '0030-boom', up: async () => { throw new Error('column x is missing'); } };
    const list = [step('0010-a', log, 'demo_a'), step('0020-b', log, 'demo_b'), failing, step('0040-d', log, 'demo_d')];
    const error = await runMigrations(db, 'demo', list).then(() => undefined, (e: unknown) => e);
    expect(isAppError(error, 'storage/migration-failed')).toBe(true);
    expect((error as Error).message).toMatch(/^Migration demo\/0030-boom failed: column x is missing\. None of the 3 pending/);
    expect((error as { details?: unknown }).details).toEqual({ owner: 'demo', migration: '0030-boom' });
    expect(await tables()).not.toContain('demo_b');
    expect(await appliedMigrations(db, 'demo')).toEqual(['0010-a']);
    expect(log).toEqual(['0010-a', '0020-b']);
  });

  it('reports an SQL error inside a step with its reason', async () => {
    const dup = (id: string): Migration => ({ id, up: (d) => d.schema.createTable('demo_same').addColumn('x', 'integer').execute() });
    const error = await runMigrations(db, 'demo', [dup('0010-a'), dup('0020-b')]).then(() => undefined, (e: unknown) => e);
    expect(isAppError(error, 'storage/migration-failed')).toBe(true);
    expect((error as Error).message).toMatch(/Migration demo\/0020-b failed: .*already exists/);
    expect(await tables()).not.toContain('demo_same');
  });

  it('hands steps a handle limited to the owner prefix when given tablePrefix', async () => {
    const ok: Migration = { id: '0010-ok', up: (d) => d.schema.createTable('demo_items').addColumn('x', 'integer').execute() };
    expect(await runMigrations(db, 'demo', [ok], { tablePrefix: 'demo_' })).toEqual({ applied: ['0010-ok'] });
    const sneaky: Migration = { id: '0020-sneaky', up: async (d) => { await d.deleteFrom('kernel_migrations').execute(); } };
    const error = await runMigrations(db, 'demo', [ok, sneaky], { tablePrefix: 'demo_' }).then(() => undefined, (e: unknown) => e);
    expect((error as Error).message).toMatch(/Migration demo\/0020-sneaky failed: Access to table "kernel_migrations" is not allowed/);
    expect(await appliedMigrations(db, 'demo')).toEqual(['0010-ok']);
  });

  it('refuses malformed lists as programmer errors', async () => {
    const noop = (id: string): Migration => ({ id, up: async () => {} });
    await expect(runMigrations(db, 'demo', [noop('0020'), noop('0010')])).rejects.toThrow(RangeError);
    await expect(runMigrations(db, 'demo', [noop('0010'), noop('0010')])).rejects.toThrow(/unique and sorted/);
    await expect(runMigrations(db, 'demo', [{ id: '', up: async () => {} }])).rejects.toThrow(TypeError);
    await expect(runMigrations(db, 'demo', [{ id: 'x' } as unknown as Migration])).rejects.toThrow(TypeError);
    await expect(runMigrations(db, '', [])).rejects.toThrow(TypeError);
    expect(await appliedMigrations(db, 'demo')).toEqual([]);
  });
});
