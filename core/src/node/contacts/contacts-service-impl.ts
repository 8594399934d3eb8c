import { AppError, Emitter, isUserId, parseUserId, userIdFromPublicKey } from '@discordopus/sdk';
import type { Contact, ContactsService, Event, Presence, UserId } from '@discordopus/sdk';
import type { Kysely } from 'kysely';
import { CONTACTS_TABLE } from './contacts-migrations.ts';

const MAX_NAME = 64;

/** What happened when a peer's identity key was seen in a session. */
export type IdentityKeyOutcome = 'first-seen' | 'same' | 'changed';

interface ContactRow {
  user_id: string;
  name: string | null;
  verified: number;
  identity_key: Uint8Array | null;
  pending_identity_key: Uint8Array | null;
  added_at: number;
}

/**
 * The contact list, persisted in `kernel_contacts`. Plugins see it through the SDK's
 * {@link ContactsService} (read side); the user's actions (add, rename, verify...) and the
 * session layer (identity keys) and the signaling client (presence) use the methods beyond it.
 */
export class ContactsServiceImpl implements ContactsService {
  private readonly changeEmitter = new Emitter<Contact>();
  private readonly removeEmitter = new Emitter<UserId>();
  private readonly presenceEmitter = new Emitter<{ userId: UserId; presence: Presence }>();
  private readonly presences = new Map<UserId, Presence>();
  /**
   * Contacts read so far, by user ID: the session and channel layers look a peer up several
   * times per message. Every write here goes through {@link changed} or {@link remove}, which
   * keep it current; only contacts are kept (a stranger's lookups are not remembered).
   */
  private readonly cache = new Map<UserId, Contact>();
  /**
   * Every contact's name (folded as the column's `COLLATE NOCASE` folds: ASCII only) to its
   * user ID, loaded on the first {@link resolve} and kept current by {@link changed} and
   * {@link remove}: the app resolves the typed name on every send (a `select` each before).
   */
  private names: Map<string, UserId> | undefined;
  /** Bumped by every write, so that a name load overtaken by a write is not kept. */
  private namesGeneration = 0;

  readonly onDidChange: Event<Contact> = this.changeEmitter.event;
  readonly onDidRemove: Event<UserId> = this.removeEmitter.event;
  readonly onDidChangePresence: Event<{ userId: UserId; presence: Presence }> = this.presenceEmitter.event;

  constructor(
    private readonly db: Kysely<any>,
    private readonly self: UserId,
    private readonly now: () => number = Date.now,
  ) {}

  async list(): Promise<Contact[]> {
    const rows = await this.db.selectFrom(CONTACTS_TABLE).selectAll().orderBy('added_at').orderBy('user_id').execute() as ContactRow[];
    return rows.map(toContact);
  }

  async get(userId: UserId): Promise<Contact | undefined> {
    let contact = this.cache.get(userId);
    if (!contact) {
      const row = await this.db.selectFrom(CONTACTS_TABLE).selectAll().where('user_id', '=', userId).executeTakeFirst() as ContactRow | undefined;
      contact = row && toContact(row);
      if (!contact) return undefined;
      this.cache.set(userId, contact);
    }
    // A copy: plugins get this object, and must not be able to change the kernel's view.
    return contact.identityKey ? { ...contact, identityKey: contact.identityKey.slice() } : { ...contact };
  }

  async resolve(userIdOrName: string): Promise<Contact> {
    if (typeof userIdOrName !== 'string') throw new TypeError('ContactsService.resolve: expected a string');
    const text = userIdOrName.trim();
    const named = text === '' ? undefined : (await this.nameIndex()).get(foldName(text));
    if (named) {
      const contact = await this.get(named);
      if (contact) return contact;
    }
    if (looksLikeUserId(text)) {
      const userId = parseUserId(text);
      const contact = await this.get(userId);
      if (contact) return contact;
      throw new AppError('contacts/not-found', `${userId} is not in your contacts. Add it first with "contacts add ${userId}".`);
    }
    throw new AppError('contacts/not-found', `No contact is named "${text}". List your contacts to see their names, or use a user ID.`);
  }

  /**
   * Adds a contact by user ID (as typed: checked with its checksum) with an optional unique name.
   * @throws AppError `identity/invalid-user-id`, `contacts/self`, `contacts/already-exists`,
   *   `contacts/name-taken`, `contacts/invalid-name`
   */
  async add(userIdText: string, options: { name?: string; verified?: boolean; identityKey?: Uint8Array; addedAt?: number } = {}): Promise<Contact> {
    const userId = parseUserId(userIdText);
    if (userId === this.self) throw new AppError('contacts/self', 'That is your own user ID; add the ID of the person you want to talk to.');
    const name = options.name === undefined ? null : normalizeContactName(options.name);
    if (options.identityKey) checkIdentityKey(userId, options.identityKey);
    if (await this.get(userId)) {
      throw new AppError('contacts/already-exists', `${userId} is already in your contacts.`);
    }
    if (name !== null) await this.assertNameFree(name);
    await this.db.insertInto(CONTACTS_TABLE).values({
      user_id: userId, name, verified: options.verified ? 1 : 0, added_at: options.addedAt ?? this.now(),
      identity_key: options.identityKey ? Buffer.from(options.identityKey) : null, pending_identity_key: null,
    }).execute();
    return this.changed(userId);
  }

  /** Sets or clears (`null`) a contact's name. */
  async rename(userIdOrName: string, name: string | null): Promise<Contact> {
    const contact = await this.resolve(userIdOrName);
    const normalized = name === null ? null : normalizeContactName(name);
    if (normalized !== null && normalized.toLowerCase() !== contact.name.toLowerCase()) await this.assertNameFree(normalized);
    await this.db.updateTable(CONTACTS_TABLE).set({ name: normalized }).where('user_id', '=', contact.userId).execute();
    return this.changed(contact.userId);
  }

  async remove(userIdOrName: string): Promise<Contact> {
    const contact = await this.resolve(userIdOrName);
    this.cache.delete(contact.userId);
    this.forgetNames();
    await this.db.deleteFrom(CONTACTS_TABLE).where('user_id', '=', contact.userId).execute();
    this.presences.delete(contact.userId);
    this.removeEmitter.fire(contact.userId);
    return contact;
  }

  /**
   * Marks a contact verified, after the user compared safety numbers out of band.
   * @throws AppError `contacts/identity-changed` while a changed key waits to be accepted.
   */
  async verify(userIdOrName: string, verified = true): Promise<Contact> {
    const contact = await this.resolve(userIdOrName);
    if (contact.identityChanged && verified) {
      throw new AppError('contacts/identity-changed', `The identity key of ${contact.userId} changed. Accept the new key, compare safety numbers again, then verify.`);
    }
    await this.db.updateTable(CONTACTS_TABLE).set({ verified: verified ? 1 : 0 }).where('user_id', '=', contact.userId).execute();
    return this.changed(contact.userId);
  }

  /**
   * Records the identity key a peer presented in a session. The first key is stored; a
   * different one later flags the contact (`identityChanged`) until the user accepts it.
   * @throws AppError `contacts/not-found`, `contacts/identity-key-mismatch` when the key does not
   *   hash to the user ID (someone else presenting that ID).
   */
  async learnIdentityKey(userId: UserId, identityKey: Uint8Array): Promise<IdentityKeyOutcome> {
    checkIdentityKey(userId, identityKey);
    const row = await this.row(userId);
    if (!row.identity_key) {
      await this.db.updateTable(CONTACTS_TABLE).set({ identity_key: Buffer.from(identityKey) }).where('user_id', '=', userId).execute();
      await this.changed(userId);
      return 'first-seen';
    }
    if (Buffer.from(row.identity_key).equals(Buffer.from(identityKey))) return 'same';
    await this.db.updateTable(CONTACTS_TABLE).set({ pending_identity_key: Buffer.from(identityKey), verified: 0 }).where('user_id', '=', userId).execute();
    await this.changed(userId);
    return 'changed';
  }

  /** Accepts a changed identity key: it becomes the contact's key, and the contact is unverified. */
  async acceptIdentityChange(userIdOrName: string): Promise<Contact> {
    const contact = await this.resolve(userIdOrName);
    const row = await this.row(contact.userId);
    if (!row.pending_identity_key) {
      throw new AppError('contacts/no-identity-change', `The identity key of ${contact.userId} has not changed; there is nothing to accept.`);
    }
    await this.db.updateTable(CONTACTS_TABLE)
      .set({ identity_key: row.pending_identity_key, pending_identity_key: null, verified: 0 })
      .where('user_id', '=', contact.userId).execute();
    return this.changed(contact.userId);
  }

  presence(userId: UserId): Presence {
    return this.presences.get(userId) ?? 'unknown';
  }

  /** Fed by the signaling client. */
  setPresence(userId: UserId, presence: Presence): void {
    if (!isUserId(userId)) throw new TypeError('ContactsService.setPresence: expected a user ID');
    if (this.presence(userId) === presence) return;
    this.presences.set(userId, presence);
    this.presenceEmitter.fire({ userId, presence });
  }

  dispose(): void {
    this.changeEmitter.dispose();
    this.removeEmitter.dispose();
    this.presenceEmitter.dispose();
  }

  private async row(userId: UserId): Promise<ContactRow> {
    const row = await this.db.selectFrom(CONTACTS_TABLE).selectAll().where('user_id', '=', userId).executeTakeFirst() as ContactRow | undefined;
    if (!row) throw new AppError('contacts/not-found', `${userId} is not in your contacts. Add it first with "contacts add ${userId}".`);
    return row;
  }

  private async assertNameFree(name: string): Promise<void> {
    const taken = await this.db.selectFrom(CONTACTS_TABLE).select('user_id').where('name', '=', name).executeTakeFirst();
    if (taken) throw new AppError('contacts/name-taken', `The name "${name}" is already used by ${taken.user_id}; choose another name.`);
  }

  /** Dropped, not patched: reloaded from the table at the next resolve. */
  private forgetNames(): void {
    this.names = undefined;
    this.namesGeneration++;
  }

  private async nameIndex(): Promise<Map<string, UserId>> {
    if (this.names) return this.names;
    const generation = this.namesGeneration;
    const rows = await this.db.selectFrom(CONTACTS_TABLE).select(['user_id', 'name']).where('name', 'is not', null).execute() as Pick<ContactRow, 'user_id' | 'name'>[];
    const names = new Map(rows.map((row) => [foldName(row.name!), row.user_id as UserId]));
    if (generation === this.namesGeneration) this.names = names;
    return names;
  }

  private async changed(userId: UserId): Promise<Contact> {
    this.cache.delete(userId);
    this.forgetNames();
    const contact = toContact(await this.row(userId));
    this.cache.set(userId, contact);
    this.changeEmitter.fire(contact);
    return contact;
  }
}

/** Checks a contact name typed by a person; it must not be mistakable for a user ID. */
export function normalizeContactName(name: string): string {
  if (typeof name !== 'string') throw new TypeError('normalizeContactName: expected a string');
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_NAME) {
    throw new AppError('contacts/invalid-name', `A contact name has 1 to ${MAX_NAME} characters; "${trimmed}" has ${trimmed.length}.`);
  }
  if (/\p{Cc}/u.test(trimmed)) throw new AppError('contacts/invalid-name', 'A contact name cannot contain control characters.');
  if (looksLikeUserId(trimmed)) {
    throw new AppError('contacts/invalid-name', `A contact name cannot start with "do1", so it is never confused with a user ID.`);
  }
  return trimmed;
}

function looksLikeUserId(text: string): boolean {
  return text.toLowerCase().startsWith('do1');
}

function checkIdentityKey(userId: UserId, key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new RangeError('ContactsService: expected a 32-byte identity key');
  if (userIdFromPublicKey(key) !== userId) {
    throw new AppError('contacts/identity-key-mismatch', `The identity key presented for ${userId} does not belong to that user ID; someone may be impersonating them.`);
  }
}

/** A name as SQLite's NOCASE collation compares it: ASCII letters folded, nothing else. */
function foldName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function toContact(row: ContactRow): Contact {
  return {
    userId: row.user_id as UserId,
    name: row.name ?? '',
    verified: row.verified === 1,
    ...(row.identity_key ? { identityKey: new Uint8Array(row.identity_key) } : {}),
    identityChanged: row.pending_identity_key !== null,
    addedAt: row.added_at,
  };
}
