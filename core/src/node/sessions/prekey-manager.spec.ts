import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { openProfileDatabase } from '../storage/profile-database.ts';
import { createIdentity, identityMigrations } from '../identity/identity-store.ts';
import { runMigrations } from '../storage/migrations.ts';
import { TEST_PROFILE_KDF, tempDir } from '../client/test-profiles.ts';
import { DEFAULT_PREKEY_POLICY, PrekeyManager } from './prekey-manager.ts';
import { MemoryDirectory, silentLogger } from './session-test-support.ts';
import { PREKEYS_TABLE, SESSIONS_MIGRATION_OWNER, sessionMigrations } from './session-migrations.ts';

const crypto = new NodeCryptoProvider();
const temp = tempDir('discordopus-prekeys-');
const closers: (() => Promise<void>)[] = [];
const DAY = 24 * 3600_000;

afterAll(async () => {
  for (const close of closers) await close();
  temp.cleanup();
});

async function setup(name: string) {
  const profile = await openProfileDatabase({
    dir: path.join(temp.dir, name), passphrase: 'pw', crypto, create: true, kdf: TEST_PROFILE_KDF,
    migrations: [{ owner: 'kernel', migrations: identityMigrations }],
  });
  closers.push(() => profile.close());
  await runMigrations(profile.db, SESSIONS_MIGRATION_OWNER, sessionMigrations);
  const keyring = await createIdentity(profile.db, crypto, { displayName: name });
  const clock = { now: 1_800_000_000_000 };
  const memory = new MemoryDirectory();
  const manager = new PrekeyManager(profile.db, crypto, keyring, silentLogger, { ...DEFAULT_PREKEY_POLICY, oneTimePrekeyTarget: 10 }, () => clock.now);
  const directory = memory.for(keyring);
  const held = async (kind: 'signed' | 'one-time') =>
    (await profile.db.selectFrom(PREKEYS_TABLE).select('key_id').where('kind', '=', kind).orderBy('created_at').orderBy(sql`rowid`).execute()).map((r) => r.key_id as number);
  return { profile, keyring, clock, memory, manager, directory, held };
}

describe('PrekeyManager pruning', () => {
  it('keeps a superseded signed prekey for the grace period after its successor appeared, then deletes it', async () => {
    const { clock, manager, directory, held, profile } = await setup('signed');
    await manager.publish(directory);
    const [first] = await held('signed');
    // Offline for 60 days: the key is rotated late; the old one must still answer for 30 days from now.
    clock.now += 60 * DAY;
    await manager.publish(directory);
    expect(await held('signed')).toHaveLength(2);
    clock.now += 29 * DAY;
    await manager.publish(directory);
    expect(await held('signed')).toContain(first);
    clock.now += 2 * DAY;
    await manager.publish(directory);
    const now = await held('signed');
    expect(now).not.toContain(first);
    // The current key is never pruned, however old.
    expect(now.length).toBeGreaterThanOrEqual(1);
    expect(await manager.signedPrekey(profile.db, first!)).toBeUndefined();
  });

  it('deletes one-time prekeys the server handed out once the grace period passed, and never those it still holds', async () => {
    const { clock, manager, directory, held, keyring, memory } = await setup('one-time');
    await manager.publish(directory);
    const uploaded = await held('one-time');
    expect(uploaded).toHaveLength(10);
    // Three bundles are fetched (their one-time prekeys leave the server, oldest first); nobody writes.
    for (let i = 0; i < 3; i++) await directory.fetchPrekeyBundle(keyring.userId);
    clock.now += DAY;
    await manager.publish(directory); // tops the server up to 10 again and notes the three as handed out
    expect(await held('one-time')).toHaveLength(13);
    clock.now += 29 * DAY;
    await manager.publish(directory);
    expect(await held('one-time')).toHaveLength(13); // a first message may still be on its way
    clock.now += 2 * DAY;
    await manager.publish(directory);
    const after = await held('one-time');
    expect(after).toHaveLength(10);
    expect(after).not.toContain(uploaded[0]);
    expect(after).not.toContain(uploaded[2]);
    // What remains is exactly what the server can still hand out.
    expect(new Set(after)).toEqual(new Set(memory.entries.get(keyring.userId)!.oneTime.map((k) => k.keyId)));
    for (const keyId of after) expect(await manager.hasOneTimePrekey(keyId)).toBe(true);
  });
});
