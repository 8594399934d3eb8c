import path from 'node:path';
import { AppError, type Logger, type OneTimePrekey, type PrekeyBundle, type SignedPrekey, type UserId } from '@discordopus/sdk';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import { openProfileDatabase, type ProfileDatabase } from '../storage/profile-database.ts';
import { createIdentity, identityMigrations, loadIdentity } from '../identity/identity-store.ts';
import type { LocalIdentityKeyring } from '../identity/identity-keyring.ts';
import { ContactsServiceImpl } from '../contacts/contacts-service-impl.ts';
import { contactsMigrations } from '../contacts/contacts-migrations.ts';
import { TEST_PROFILE_KDF, tempDir } from '../client/test-profiles.ts';
import type { PrekeyDirectory } from './prekey-manager.ts';
import { SessionManager } from './session-manager.ts';
import type { FileSync } from '../storage/deferred-sync.ts';

/*
 * Test support for the session and channel specs: real encrypted profiles, real identities and
 * contact lists, and the prekey directory as the server keeps it, in memory.
 */

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger };

/** The prekey directory as the server keeps it, in memory: one-time prekeys handed out once. */
export class MemoryDirectory {
  readonly entries = new Map<UserId, { identityKey: Uint8Array; signed?: SignedPrekey; oneTime: OneTimePrekey[] }>();
  fetches = 0;

  for(owner: LocalIdentityKeyring): PrekeyDirectory {
    return {
      uploadPrekeys: async (signed, oneTime) => {
        const entry = this.entries.get(owner.userId) ?? { identityKey: owner.info.publicKey, oneTime: [] };
        if (signed) entry.signed = signed;
        entry.oneTime.push(...oneTime);
        this.entries.set(owner.userId, entry);
        return entry.oneTime.length;
      },
      fetchPrekeyBundle: async (userId) => {
        this.fetches++;
        const entry = this.entries.get(userId);
        if (!entry?.signed) throw new AppError('signaling/no-bundle', 'no bundle');
        const oneTimePrekey = entry.oneTime.shift();
        const bundle: PrekeyBundle = { userId, identityKey: entry.identityKey, signedPrekey: entry.signed };
        if (oneTimePrekey) bundle.oneTimePrekey = oneTimePrekey;
        return bundle;
      },
    };
  }
}

export interface Party {
  name: string;
  dir: string;
  profile: ProfileDatabase;
  keyring: LocalIdentityKeyring;
  contacts: ContactsServiceImpl;
  sessions: SessionManager;
}

/** Profiles in a temp folder sharing one directory; `cleanup()` closes and deletes them. */
export class SessionTestBed {
  readonly directory = new MemoryDirectory();
  private readonly temp = tempDir('discordopus-sessions-');
  private readonly parties: Party[] = [];
  private counter = 0;

  constructor(private readonly crypto: CryptoProvider) {}

  /** `fileSync`: receiving commits are deferred, made durable through it (see DeferredSync). */
  async open(dir: string, create: boolean, name: string, fileSync?: (walFile: string) => FileSync): Promise<Party> {
    const { crypto } = this;
    const profile = await openProfileDatabase({
      dir, passphrase: 'pw', crypto, create, kdf: TEST_PROFILE_KDF, migrations: [{ owner: 'kernel', migrations: [...identityMigrations, ...contactsMigrations] }],
      ...(fileSync ? { fileSync } : {}),
    });
    const keyring = (await loadIdentity(profile.db, crypto)) ?? (await createIdentity(profile.db, crypto, { displayName: name }));
    const contacts = new ContactsServiceImpl(profile.db, keyring.userId);
    const deferredSync = fileSync ? profile.deferredSync : undefined;
    const sessions = await SessionManager.open({
      db: profile.db, crypto, keyring, contacts, directory: this.directory.for(keyring), logger: silentLogger, prekeys: { oneTimePrekeyTarget: 5 },
      ...(deferredSync ? { deferredSync } : {}),
    });
    const party = { name, dir, profile, keyring, contacts, sessions };
    this.parties.push(party);
    return party;
  }

  /** Two fresh parties that are each other's contacts, prekeys published. */
  async pair(bobSync?: (walFile: string) => FileSync): Promise<[Party, Party]> {
    const n = this.counter++;
    const a = await this.open(path.join(this.temp.dir, `a${n}`), true, 'alice');
    const b = await this.open(path.join(this.temp.dir, `b${n}`), true, 'bob', bobSync);
    await a.contacts.add(b.keyring.userId);
    await b.contacts.add(a.keyring.userId);
    await a.sessions.publishPrekeys();
    await b.sessions.publishPrekeys();
    return [a, b];
  }

  async cleanup(): Promise<void> {
    for (const p of this.parties) await p.profile.close().catch(() => undefined);
    this.temp.cleanup();
  }
}
