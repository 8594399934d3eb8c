import path from 'node:path';
import { isAppError, nextEvent, userIdFromPublicKey } from '@discordopus/sdk';
import type { UserId } from '@discordopus/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { openProfileDatabase } from '../storage/profile-database.ts';
import type { ProfileDatabase } from '../storage/profile-database.ts';
import { TEST_PROFILE_KDF, tempDir } from '../client/test-profiles.ts';
import { contactsMigrations } from './contacts-migrations.ts';
import { ContactsServiceImpl } from './contacts-service-impl.ts';

const crypto = new NodeCryptoProvider();
const temp = tempDir();
let profile: ProfileDatabase;
let contacts: ContactsServiceImpl;
const self = newUser().userId;

function newUser(): { userId: UserId; publicKey: Uint8Array } {
  const { publicKey } = crypto.ed25519GenerateKeyPair();
  return { userId: userIdFromPublicKey(publicKey), publicKey };
}

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error.code;
}

beforeAll(async () => {
  profile = await openProfileDatabase({
    dir: path.join(temp.dir, 'p'), passphrase: 'test passphrase', crypto, create: true, kdf: TEST_PROFILE_KDF,
    migrations: [{ owner: 'kernel', migrations: contactsMigrations }],
  });
  contacts = new ContactsServiceImpl(profile.db, self);
});

afterAll(async () => {
  contacts.dispose();
  await profile.close();
  temp.cleanup();
});

describe('ContactsServiceImpl', () => {
  it('adds by user ID (typed in upper case with spaces), lists, gets, resolves by ID and by name', async () => {
    const bob = newUser();
    const changed = nextEvent(contacts.onDidChange, (c) => c.userId === bob.userId);
    const added = await contacts.add(`  ${bob.userId.toUpperCase()} `, { name: 'Bob' });
    expect(added).toMatchObject({ userId: bob.userId, name: 'Bob', verified: false, identityChanged: false });
    expect(added.identityKey).toBeUndefined();
    expect((await changed).name).toBe('Bob');
    expect(await contacts.get(bob.userId)).toEqual(added);
    expect(await contacts.resolve(bob.userId)).toEqual(added);
    expect(await contacts.resolve('bob')).toEqual(added);
    expect((await contacts.list()).map((c) => c.userId)).toContain(bob.userId);
  });

  it('answers get from memory, kept current by every change, and hands out copies', async () => {
    const kim = newUser();
    await contacts.add(kim.userId, { name: 'kim' });
    expect((await contacts.get(kim.userId))?.verified).toBe(false);
    await contacts.verify('kim');
    await contacts.rename('kim', 'kimberly');
    expect(await contacts.get(kim.userId)).toMatchObject({ verified: true, name: 'kimberly' });
    await contacts.learnIdentityKey(kim.userId, kim.publicKey);
    const copy = (await contacts.get(kim.userId))!;
    copy.identityKey!.fill(0);
    (copy as { verified: boolean }).verified = false;
    expect(await contacts.get(kim.userId)).toMatchObject({ verified: true, identityKey: kim.publicKey });
    await contacts.remove('kimberly');
    expect(await contacts.get(kim.userId)).toBeUndefined();
  });

  it('rejects a mistyped user ID with the checksum message', async () => {
    const id = newUser().userId;
    const typo = id.slice(0, 10) + (id[10] === 'q' ? 'p' : 'q') + id.slice(11);
    await expect(contacts.add(typo)).rejects.toThrow(/Checksum mismatch/);
    expect(await code(contacts.add(typo))).toBe('identity/invalid-user-id');
    expect(await code(contacts.add('hello'))).toBe('identity/invalid-user-id');
    expect(await code(contacts.resolve(typo))).toBe('identity/invalid-user-id');
  });

  it('refuses yourself, duplicates, taken names (ignoring case) and bad names', async () => {
    const carol = newUser();
    await contacts.add(carol.userId, { name: 'Carol' });
    expect(await code(contacts.add(self))).toBe('contacts/self');
    expect(await code(contacts.add(carol.userId))).toBe('contacts/already-exists');
    expect(await code(contacts.add(newUser().userId, { name: 'CAROL' }))).toBe('contacts/name-taken');
    expect(await code(contacts.add(newUser().userId, { name: '   ' }))).toBe('contacts/invalid-name');
    expect(await code(contacts.add(newUser().userId, { name: 'x'.repeat(65) }))).toBe('contacts/invalid-name');
    expect(await code(contacts.add(newUser().userId, { name: 'do1alias' }))).toBe('contacts/invalid-name');
    expect(await code(contacts.add(newUser().userId, { name: 'tab\there' }))).toBe('contacts/invalid-name');
  });

  it('allows several contacts without a name', async () => {
    const a = await contacts.add(newUser().userId);
    const b = await contacts.add(newUser().userId);
    expect([a.name, b.name]).toEqual(['', '']);
    expect(await code(contacts.resolve(''))).toBe('contacts/not-found');
  });

  it('says what to do for unknown names and IDs', async () => {
    await expect(contacts.resolve('nobody')).rejects.toThrow(/No contact is named "nobody"/);
    const stranger = newUser().userId;
    await expect(contacts.resolve(stranger)).rejects.toThrow(/contacts add/);
    expect(await code(contacts.verify('nobody'))).toBe('contacts/not-found');
  });

  it('renames, clears the name and removes', async () => {
    const dave = newUser();
    await contacts.add(dave.userId, { name: 'dave' });
    expect((await contacts.rename('dave', 'Dave')).name).toBe('Dave');
    expect((await contacts.rename('Dave', 'David')).name).toBe('David');
    expect(await code(contacts.rename('David', 'Carol'))).toBe('contacts/name-taken');
    expect((await contacts.rename(dave.userId, null)).name).toBe('');
    const removed = nextEvent(contacts.onDidRemove);
    await contacts.remove(dave.userId);
    expect(await removed).toBe(dave.userId);
    expect(await contacts.get(dave.userId)).toBeUndefined();
  });

  it('resolves names from memory, folding case as the table does (ASCII only), kept current by every change', async () => {
    const eve = newUser();
    const emil = newUser();
    await contacts.add(eve.userId, { name: 'Évé Lynn' });
    expect((await contacts.resolve('ÉVé LYNN')).userId).toBe(eve.userId);
    // NOCASE folds ASCII letters only: "É" and "é" differ for the table, so for the index too.
    await expect(contacts.resolve('évé lynn')).rejects.toThrow(/No contact is named/);
    await contacts.add(emil.userId, { name: 'emil' });
    expect((await contacts.resolve('EMIL')).userId).toBe(emil.userId);
    await contacts.rename('emil', 'milo');
    await expect(contacts.resolve('emil')).rejects.toThrow(/No contact is named "emil"/);
    expect((await contacts.resolve('Milo')).userId).toBe(emil.userId);
    await contacts.remove('milo');
    await expect(contacts.resolve('milo')).rejects.toThrow(/No contact is named/);
    await contacts.add(emil.userId, { name: 'milo' });
    expect((await contacts.resolve('milo')).userId).toBe(emil.userId);
    // Renamed while a resolve loads the names: the load must not bring the old name back.
    const pending = contacts.resolve('milo');
    const renamed = contacts.rename(emil.userId, 'emil');
    expect((await pending).userId).toBe(emil.userId);
    await renamed;
    await expect(contacts.resolve('milo')).rejects.toThrow(/No contact is named "milo"/);
    expect((await contacts.resolve('emil')).name).toBe('emil');
    await contacts.remove(eve.userId);
    await contacts.remove(emil.userId);
  });

  it('verifies', async () => {
    const erin = newUser();
    await contacts.add(erin.userId, { name: 'erin' });
    expect((await contacts.verify('erin')).verified).toBe(true);
    expect((await contacts.verify('erin', false)).verified).toBe(false);
  });

  it('learns the identity key on first sight, then compares', async () => {
    const frank = newUser();
    await contacts.add(frank.userId);
    expect(await contacts.learnIdentityKey(frank.userId, frank.publicKey)).toBe('first-seen');
    expect((await contacts.get(frank.userId))!.identityKey).toEqual(frank.publicKey);
    expect(await contacts.learnIdentityKey(frank.userId, frank.publicKey)).toBe('same');
  });

  it('refuses a key that does not belong to the user ID (impersonation)', async () => {
    const gina = newUser();
    await contacts.add(gina.userId);
    expect(await code(contacts.learnIdentityKey(gina.userId, newUser().publicKey))).toBe('contacts/identity-key-mismatch');
    expect(await code(contacts.add(newUser().userId, { identityKey: gina.publicKey }))).toBe('contacts/identity-key-mismatch');
    await expect(contacts.learnIdentityKey(gina.userId, new Uint8Array(3))).rejects.toThrow(RangeError);
    expect(await code(contacts.learnIdentityKey(newUser().userId, newUser().publicKey))).toBe('contacts/identity-key-mismatch');
  });

  it('flags a changed identity key, blocks verify, and accepts it', async () => {
    const hank = newUser();
    await contacts.add(hank.userId, { name: 'hank', verified: true });
    // The user ID is a hash of the key, so a change can only come from a stored key that went
    // stale (e.g. an old profile copy): simulate that stored state directly.
    const stale = newUser().publicKey;
    await profile.db.updateTable('kernel_contacts').set({ identity_key: Buffer.from(stale) }).where('user_id', '=', hank.userId).execute();
    const flagged = nextEvent(contacts.onDidChange, (c) => c.userId === hank.userId && c.identityChanged);
    expect(await contacts.learnIdentityKey(hank.userId, hank.publicKey)).toBe('changed');
    const contact = await flagged;
    expect(contact).toMatchObject({ identityChanged: true, verified: false, identityKey: stale });
    expect(await code(contacts.verify('hank'))).toBe('contacts/identity-changed');
    const accepted = await contacts.acceptIdentityChange('hank');
    expect(accepted).toMatchObject({ identityChanged: false, verified: false, identityKey: hank.publicKey });
    expect(await code(contacts.acceptIdentityChange('hank'))).toBe('contacts/no-identity-change');
    expect((await contacts.verify('hank')).verified).toBe(true);
  });

  it('reports presence as unknown until told, and fires changes once', async () => {
    const ivy = newUser();
    expect(contacts.presence(ivy.userId)).toBe('unknown');
    const seen: string[] = [];
    const sub = contacts.onDidChangePresence((p) => seen.push(p.presence));
    contacts.setPresence(ivy.userId, 'online');
    contacts.setPresence(ivy.userId, 'online');
    contacts.setPresence(ivy.userId, 'offline');
    sub.dispose();
    expect(seen).toEqual(['online', 'offline']);
    expect(contacts.presence(ivy.userId)).toBe('offline');
    expect(() => contacts.setPresence('nope' as UserId, 'online')).toThrow(TypeError);
  });

  it('persists across reopening the profile', async () => {
    const before = await contacts.list();
    contacts.dispose();
    await profile.close();
    profile = await openProfileDatabase({ dir: path.join(temp.dir, 'p'), passphrase: 'test passphrase', crypto });
    contacts = new ContactsServiceImpl(profile.db, self);
    expect(await contacts.list()).toEqual(before);
  });
});
