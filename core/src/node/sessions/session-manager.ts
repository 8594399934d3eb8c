import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { AppError, Emitter, isAppError, preparedQuery, userIdFromPublicKey, type Contact, type Event, type Logger, type PrekeyBundle, type UserId } from '@discordopus/sdk';
import type { CryptoProvider } from '../../common/crypto/crypto-provider.ts';
import { equalBytes, toHex } from '../../common/crypto/bytes.ts';
import { isCryptoError } from '../../common/crypto/crypto-error.ts';
import {
  advanceSendingChain, canRatchetSend, deserializeRatchetState, hasRatchetReceived, initRatchetInitiator, initRatchetResponder, ratchetDecrypt, ratchetEncrypt,
  serializeRatchetState, type RatchetState,
} from '../../common/protocol/double-ratchet.ts';
import { x3dhInitiate, x3dhRespond, type X3dhInitiatorResult } from '../../common/protocol/x3dh.ts';
import type { IdentityKeyring } from '../identity/identity-keyring.ts';
import type { IdentityKeyOutcome } from '../contacts/contacts-service-impl.ts';
import { runMigrations } from '../storage/migrations.ts';
import { KeyedQueue } from './keyed-queue.ts';
import { DEFAULT_PREKEY_POLICY, PrekeyManager, type PrekeyDirectory, type PrekeyPolicy } from './prekey-manager.ts';
import { decodeSessionEnvelope, decodeX3dhHeader, encodeSessionEnvelope, encodeX3dhHeader, type SessionEnvelope, type X3dhHeader } from './session-envelope.ts';
import { INBOX_TABLE, RESETS_TABLE, SESSIONS_MIGRATION_OWNER, SESSIONS_TABLE, sessionMigrations } from './session-migrations.ts';
import { decodeSessionReset, encodeSessionReset, isSessionResetEnvelope } from './session-reset.ts';
import type { DeferredSync } from '../storage/deferred-sync.ts';

/** What the session layer needs of the contact list (ContactsServiceImpl provides it). */
export interface IdentityKeyBook {
  get(userId: UserId): Promise<Contact | undefined>;
  learnIdentityKey(userId: UserId, identityKey: Uint8Array): Promise<IdentityKeyOutcome>;
}

export interface SessionManagerOptions {
  db: Kysely<any>;
  crypto: CryptoProvider;
  keyring: IdentityKeyring;
  contacts: IdentityKeyBook;
  directory: PrekeyDirectory;
  logger: Logger;
  now?: () => number;
  prekeys?: Partial<PrekeyPolicy>;
  /**
   * The profile's deferred commits. Given, no commit of the session layer waits for the disk:
   * records received reach their consumers at once, and every ciphertext and reply it hands out
   * waits until this layer's own commits before it are durable (a plugin's deferred commit does
   * not hold up a ciphertext: its durability is the plugin's choice). Without it every commit
   * waits for the disk.
   */
  deferredSync?: DeferredSync;
}

/**
 * A decrypted record, stored in `kernel_inbox` under `inboxId` (unless the caller did not keep
 * it), or by its consumer's store step in the receiving commit (`stored` holds what that returned).
 */
export interface InboxEntry {
  readonly inboxId: number | undefined;
  readonly from: UserId;
  readonly plaintext: Uint8Array;
  readonly receivedAt: number;
  readonly stored?: { value: unknown };
}

/**
 * What the receiving commit does with a decrypted plaintext: `none` stores nothing (it needs no
 * crash safety: acks, kernel signals); `inbox` commits it to `kernel_inbox`; a store step writes
 * it the consumer's way inside the commit (if the step throws, only it is undone and the
 * plaintext goes to the inbox instead).
 */
export type ReceiveDisposition = 'none' | 'inbox' | { store(trx: Transaction<any>): Promise<unknown> };

interface SessionRow {
  peer: string;
  session_id: string;
  initiator: string;
  state: Uint8Array;
  x3dh_header: Uint8Array | null;
  created_at: number;
  used_at: number;
}

interface PendingEncrypt {
  plaintext: Uint8Array;
  transmit(payload: Uint8Array): unknown;
  resolve(value: { result: unknown }): void;
  reject(error: unknown): void;
}

interface PendingReceive {
  bytes: Uint8Array;
  disposition(plaintext: Uint8Array, receivedAt: number): ReceiveDisposition;
  resolve(entry: InboxEntry): void;
  reject(error: unknown): void;
}

/**
 * A peer's session as the manager holds it in memory (loaded once, kept in step with the
 * database): state decoded on first use; `dirty` when it moved past what is committed.
 */
interface WorkingSession {
  row: SessionRow;
  state: RatchetState | undefined;
  dirty: boolean;
  isNew: boolean;
  /** Where the stored sending chain stands (ahead of `state`'s: see {@link RESERVED_SENDING_KEYS}). */
  reserved?: Reservation | undefined;
}

/** A new state for one of a peer's sessions, to commit. */
interface SessionUpdate {
  session: WorkingSession;
  state: RatchetState;
}

/** The sending chain position a commit stored: the chain (our ratchet key), its count and key there. */
interface Reservation {
  readonly ratchetKey: Uint8Array;
  readonly sendCount: number;
  readonly sendChainKey: Uint8Array;
}

/**
 * Records a receive batch answers with (the kernel's acks): built from the batch's plaintexts
 * (and whether a store step stored each), encrypted and committed in the batch's own
 * transaction, handed to `transmit` right after the commit (still in the peer's queue, so in
 * ratchet order).
 */
export interface BatchResponder {
  reply(from: UserId, received: readonly { plaintext: Uint8Array; stored: boolean }[]): Uint8Array[];
  transmit(to: UserId, payload: Uint8Array): void;
  /**
   * Optional: true when replies to `to` can leave as they are over a direct link that is itself
   * authenticated and encrypted (DTLS, whose fingerprint came through this session). They then
   * take no ratchet step, and go to {@link transmitDirect} after the commit instead of being
   * sealed in the session: one-way traffic then never turns the ratchet (no X25519 per ack,
   * no ratchet state to commit on the side that receives them).
   */
  sendsDirect?(to: UserId): boolean;
  transmitDirect?(to: UserId, records: readonly Uint8Array[]): void;
}

/** A session reset request is accepted only if its time is this close to ours. */
const RESET_WINDOW_MS = 10 * 60_000;
/** At most one reset request sent per peer in this time (each undecryptable message would ask again). */
const RESET_REQUEST_INTERVAL_MS = 30_000;
/** At most one reset accepted per peer in this time, however many genuine requests arrive. */
const RESET_ACCEPT_INTERVAL_MS = 60_000;

/** Ratchet steps that only consumed acks wait at most this long for the next commit. */
const UNSAVED_FLUSH_MS = 1_000;

/**
 * Key reservation: every commit stores the sending chain this many keys ahead of the in-memory
 * state, so the sends that follow need no commit of their own until they reach that point. A
 * crash loses the in-memory position: the stored state then sends from the reserved end, so the
 * keys in between are skipped (the peer derives them as skipped keys, bounded by MAX_SKIP), never
 * reused.
 */
export const RESERVED_SENDING_KEYS = 64;
/**
 * A send that leaves fewer reserved keys than this renews the reservation with a commit in the
 * background, so a steady stream of sends never waits for one.
 */
export const RENEW_RESERVATION_BELOW = RESERVED_SENDING_KEYS / 2;

const updateSessionState = preparedQuery((db: Kysely<any>, state: Uint8Array, usedAt: number, peer: string, sessionId: string) =>
  db.updateTable(SESSIONS_TABLE).set({ state, used_at: usedAt }).where('peer', '=', peer).where('session_id', '=', sessionId));
/** A store step's savepoint: its writes are undone alone if it throws. */
const SAVEPOINT = CompiledQuery.raw('savepoint kernel_store_step');
const RELEASE = CompiledQuery.raw('release kernel_store_step');
const ROLLBACK_TO = CompiledQuery.raw('rollback to kernel_store_step');

/** Sessions per peer kept for decryption (both sides may start one at the same time). */
const MAX_SESSIONS_PER_PEER = 3;

/**
 * Pairwise end-to-end encryption: X3DH to start a session with a contact, the Double Ratchet
 * for every message. Every operation on one peer's sessions runs in that peer's queue, and each
 * ratchet step is committed before its result leaves this class; an incoming message's plaintext
 * is committed to `kernel_inbox` in the same transaction as the ratchet step, so a crash never
 * loses it nor lets it be decrypted twice.
 *
 * Errors: sending raises `channels/not-a-contact`, `channels/identity-changed`,
 * `channels/peer-unreachable`; receiving raises `sessions/*` or `crypto/*` codes, which the
 * caller logs and drops (the session is unchanged).
 */
export class SessionManager {
  private readonly queue = new KeyedQueue();
  private readonly pendingEncrypts = new Map<UserId, PendingEncrypt[]>();
  private readonly pendingReceives = new Map<UserId, PendingReceive[]>();
  /** Each peer's sessions, newest first, as last committed plus steps not yet committed (`dirty`). */
  private readonly cache = new Map<UserId, WorkingSession[]>();
  /** Peers whose cached sessions hold steps not committed yet (see {@link flushReceives}). */
  private readonly unsaved = new Set<UserId>();
  /** Handled inbox records, deleted with the next commit (see {@link removeFromInboxLater}). */
  private readonly handledInbox: number[] = [];
  private unsavedTimer: ReturnType<typeof setTimeout> | undefined;
  /** `deferredSync.commits` after this layer's last commit: what its outputs wait for (whenDurable). */
  private ownCommits = 0;
  private responder: BatchResponder | undefined;
  private closing = false;
  private readonly resetRequested = new Map<UserId, number>();
  private readonly resetEmitter = new Emitter<{ peer: UserId }>();
  /**
   * A contact told us (signed with its identity key) that it lost its session with us; our
   * sessions with it were deleted and the next message starts a new X3DH session.
   */
  readonly onDidResetSession: Event<{ peer: UserId }> = this.resetEmitter.event;
  private readonly now: () => number;
  readonly prekeys: PrekeyManager;

  private constructor(private readonly options: SessionManagerOptions) {
    this.now = options.now ?? Date.now;
    this.prekeys = new PrekeyManager(options.db, options.crypto, options.keyring, options.logger, { ...DEFAULT_PREKEY_POLICY, ...options.prekeys }, this.now);
  }

  /** Migrates the session tables and returns the manager. */
  static async open(options: SessionManagerOptions): Promise<SessionManager> {
    await runMigrations(options.db, SESSIONS_MIGRATION_OWNER, sessionMigrations);
    return new SessionManager(options);
  }

  private get self(): UserId {
    return this.options.keyring.userId;
  }

  /** Our own user ID. */
  get localUserId(): UserId {
    return this.options.keyring.userId;
  }

  /** Publishes our prekeys (see {@link PrekeyManager.publish}). */
  publishPrekeys(): Promise<{ remaining: number; uploaded: number }> {
    return this.queue.run('\0prekeys', () => this.prekeys.publish(this.options.directory));
  }

  /** Sets who answers receive batches (the secure channels' acks). */
  setResponder(responder: BatchResponder | undefined): void {
    this.responder = responder;
  }

  async hasSession(peer: UserId): Promise<boolean> {
    const row = await this.options.db.selectFrom(SESSIONS_TABLE).select('peer').where('peer', '=', peer).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Encrypts `plaintext` for `peer`, starting a session (prekey bundle + X3DH) when there is
   * none. Returns the envelope payload. The new ratchet state is committed before it returns.
   * @throws AppError `channels/not-a-contact`, `channels/identity-changed`, `channels/peer-unreachable`
   */
  async encrypt(peer: UserId, plaintext: Uint8Array): Promise<Uint8Array> {
    return (await this.encryptThen(peer, plaintext, (payload) => payload)).result;
  }

  /**
   * Like {@link encrypt}, and hands the payload to `transmit` while still holding the peer's
   * queue, so payloads leave in the order their ratchet steps were taken. `transmit` should only
   * start the sending (its result is not awaited here).
   */
  encryptThen<T>(peer: UserId, plaintext: Uint8Array, transmit: (payload: Uint8Array) => T): Promise<{ result: T }> {
    return new Promise<{ result: T }>((resolve, reject) => {
      const item: PendingEncrypt = { plaintext, transmit, resolve: resolve as PendingEncrypt['resolve'], reject };
      const batch = this.pendingEncrypts.get(peer);
      if (batch) return void batch.push(item);
      this.pendingEncrypts.set(peer, [item]);
      void this.queue.run(peer, () => this.flushEncrypts(peer));
    });
  }

  /**
   * Encrypts every send queued for `peer` since the last flush with ONE committed state write
   * (group commit): under load the cost of a commit is shared by the whole batch.
   */
  private async flushEncrypts(peer: UserId): Promise<void> {
    const items = this.pendingEncrypts.get(peer) ?? [];
    this.pendingEncrypts.delete(peer);
    let payloads: Uint8Array[];
    try {
      payloads = await this.encryptBatch(peer, items.map((i) => i.plaintext));
      // A ratchet step stored by a deferred commit must be on disk before its output leaves.
      const durable = this.options.deferredSync?.whenDurable(this.ownCommits);
      if (durable) await durable;
    } catch (error) {
      for (const item of items) item.reject(error);
      return;
    }
    items.forEach((item, i) => {
      try {
        item.resolve({ result: item.transmit(payloads[i]!) });
      } catch (error) {
        item.reject(error);
      }
    });
  }

  private async encryptBatch(peer: UserId, plaintexts: Uint8Array[]): Promise<Uint8Array[]> {
    const contact = await this.options.contacts.get(peer);
    if (!contact) throw new AppError('channels/not-a-contact', `${peer} is not in your contacts; add them before sending.`);
    if (contact.identityChanged) throw identityChanged(peer);
    const work = await this.working(peer);
    let session = this.primaryOf(work, peer);
    let afterReset = false;
    if (!session) {
      afterReset = await this.skipsOneTimePrekey(peer);
      const started = await this.initiate(peer, contact, afterReset);
      const now = this.now();
      session = {
        row: { peer, session_id: started.id, initiator: this.self, state: new Uint8Array(0), x3dh_header: encodeX3dhHeader(started.x3dh), created_at: now, used_at: now },
        state: started.state, dirty: true, isNew: true,
      };
    }
    const { messages, state } = this.encryptOn(session, plaintexts);
    const x3dh = this.x3dhFor(session, state);
    const isNew = session.isNew;
    const senderIdentityKey = this.options.keyring.info.publicKey;
    if (!isNew && !afterReset && covers(session.reserved, state)) {
      // Every key used lies within what the last commit reserved: nothing to store. `dirty`
      // stays as it was (receive steps not committed yet still wait for the next commit) unless
      // the reservation runs low: then a commit right after this turn renews it.
      session.state = state;
      if (session.reserved!.sendCount - state.sendCount < RENEW_RESERVATION_BELOW) {
        session.dirty = true;
        this.markUnsaved(peer, true);
      }
      return messages.map((message) => encodeSessionEnvelope({ senderIdentityKey, x3dh, message }));
    }
    await this.commit(peer, work, [{ session, state }], async () => {
      if (isNew) work.unshift(session);
    }, async (trx) => {
      if (afterReset) await trx.updateTable(RESETS_TABLE).set({ skip_one_time: 0 }).where('peer', '=', peer).execute();
    });
    return messages.map((message) => encodeSessionEnvelope({ senderIdentityKey, x3dh, message }));
  }

  private encryptOn(session: WorkingSession, plaintexts: readonly Uint8Array[]): { messages: Uint8Array[]; state: RatchetState } {
    let state = session.state ??= deserializeRatchetState(new Uint8Array(session.row.state));
    const messages: Uint8Array[] = [];
    for (const plaintext of plaintexts) {
      const step = ratchetEncrypt(this.options.crypto, state, plaintext);
      state = step.state;
      messages.push(step.message);
    }
    return { messages, state };
  }

  /** The X3DH header to repeat on our messages until the peer answered our session. */
  private x3dhFor(session: WorkingSession, state: RatchetState): X3dhHeader | undefined {
    return session.row.x3dh_header && !hasRatchetReceived(state) ? decodeX3dhHeader(new Uint8Array(session.row.x3dh_header)) : undefined;
  }

  /**
   * Commits `updates` (new states for sessions of `peer`) together with every step of that peer
   * not committed yet, and whatever `extra` writes, in ONE transaction; then the in-memory
   * sessions take the new states. A failed commit drops the peer's cache (reloaded from the
   * database: the uncommitted steps are forgotten, as after a crash).
   *
   * Deferred when the profile allows it (`deferredSync`): nothing this class hands out leaves
   * before `whenDurable` (flushEncrypts, sendReplies), so no commit of it needs to block the
   * main thread on the disk.
   */
  private async commit<T>(
    peer: UserId, work: WorkingSession[], updates: SessionUpdate[] | ((extraResult: T | undefined) => SessionUpdate[]),
    after: () => Promise<void> | void, extra?: (trx: Transaction<any>) => Promise<T>,
  ): Promise<T | undefined> {
    const now = this.now();
    const writes = new Map<WorkingSession, RatchetState>();
    const handled = this.handledInbox.splice(0);
    const stored = new Map<WorkingSession, { state: RatchetState; reserved: Reservation | undefined }>();
    let result: T | undefined;
    try {
      const write = async (trx: Transaction<any>) => {
        const extraResult = extra ? await extra(trx) : undefined;
        for (const w of work) if (w.dirty) writes.set(w, w.state!);
        for (const u of typeof updates === 'function' ? updates(extraResult) : updates) writes.set(u.session, u.state);
        for (const [w, state] of writes) stored.set(w, this.reserve(w, state));
        for (const [w, s] of stored) await this.writeSession(trx, peer, w, s.state, now);
        await this.deleteHandled(trx, handled);
        return extraResult;
      };
      const { deferredSync } = this.options;
      if (deferredSync) {
        result = await deferredSync.transaction(this.options.db, write);
        // Counts this commit (and at most others made since, which only makes the wait longer).
        this.ownCommits = deferredSync.commits;
      } else {
        result = await this.options.db.transaction().execute(write);
      }
    } catch (error) {
      this.handledInbox.unshift(...handled);
      this.forget(peer);
      throw error;
    }
    for (const [w, state] of writes) {
      w.state = state;
      w.reserved = stored.get(w)!.reserved;
      w.dirty = false;
      w.isNew = false;
      w.row.used_at = now;
      if (w.row.x3dh_header && hasRatchetReceived(state)) w.row.x3dh_header = null;
    }
    await after();
    this.unsaved.delete(peer);
    return result;
  }

  /**
   * What to store for `state`: its sending chain at the reserved position (the last
   * reservation while {@link RENEW_RESERVATION_BELOW} keys or more remain in it, else
   * {@link RESERVED_SENDING_KEYS} keys ahead).
   */
  private reserve(w: WorkingSession, state: RatchetState): { state: RatchetState; reserved: Reservation | undefined } {
    if (state.sendChainKey === undefined) return { state, reserved: undefined };
    const current = covers(w.reserved, state) ? w.reserved : undefined;
    let reserved: Reservation;
    if (current && current.sendCount - state.sendCount >= RENEW_RESERVATION_BELOW) {
      reserved = current;
    } else {
      // A renewal goes on from where the last reservation ended: the keys up to there are derived
      // already (one chain step per key sent, not two).
      const from = current ? { ...state, sendChainKey: current.sendChainKey, sendCount: current.sendCount } : state;
      const ahead = advanceSendingChain(this.options.crypto, from, state.sendCount + RESERVED_SENDING_KEYS - from.sendCount);
      reserved = { ratchetKey: state.dhSelf.publicKey, sendCount: ahead.sendCount, sendChainKey: ahead.sendChainKey! };
    }
    return { state: { ...state, sendChainKey: reserved.sendChainKey, sendCount: reserved.sendCount }, reserved };
  }

  private async writeSession(trx: Transaction<any>, peer: UserId, w: WorkingSession, state: RatchetState, now: number): Promise<void> {
    const serialized = serializeRatchetState(state);
    if (w.isNew) {
      const x3dh = w.row.x3dh_header && !hasRatchetReceived(state) ? w.row.x3dh_header : null;
      await trx.insertInto(SESSIONS_TABLE).values({ ...w.row, state: serialized, x3dh_header: x3dh, used_at: now }).execute();
      return;
    }
    if (w.row.x3dh_header && hasRatchetReceived(state)) {
      await trx.updateTable(SESSIONS_TABLE).set({ state: serialized, used_at: now, x3dh_header: null }).where('peer', '=', peer).where('session_id', '=', w.row.session_id).execute();
      return;
    }
    // Every commit runs this one: prepared (see preparedQuery).
    await updateSessionState(trx, serialized, now, peer, w.row.session_id);
  }

  /** The peer's sessions (newest first), from memory or loaded once. Call inside the peer's queue. */
  private async working(peer: UserId): Promise<WorkingSession[]> {
    let work = this.cache.get(peer);
    if (!work) {
      work = (await this.sessions(this.options.db, peer)).map((row) => ({ row, state: undefined, dirty: false, isNew: false }));
      this.cache.set(peer, work);
    }
    return work;
  }

  private forget(peer: UserId): void {
    this.cache.delete(peer);
    this.unsaved.delete(peer);
  }

  /** Commits steps that consumed only acks (kept in memory so far) and deletes handled inbox records; on a timer and at drain. */
  private async saveUnsaved(): Promise<void> {
    const handled = this.handledInbox.splice(0);
    await this.deleteHandled(this.options.db, handled).catch((error) => {
      this.handledInbox.unshift(...handled);
      this.options.logger.warn('sessions: could not delete handled inbox records', { code: isAppError(error) ? error.code : 'unknown' });
    });
    for (const peer of [...this.unsaved]) await this.savePeer(peer);
  }

  /** Commits the peer's steps held in memory, if any are left by the time its queue gets to it. */
  private savePeer(peer: UserId): Promise<void> {
    return this.queue.run(peer, async () => {
      const work = this.cache.get(peer);
      if (!work || !this.unsaved.has(peer)) return;
      await this.commit(peer, work, [], () => undefined).catch((error) => {
        this.options.logger.warn('sessions: could not save ratchet steps', { peer, code: isAppError(error) ? error.code : 'unknown' });
      });
    });
  }

  /**
   * Steps that stored nothing wait for the peer's next commit. `soon`: they started a sending
   * chain that is not committed yet, so the next send would have to commit first, on its own
   * critical path: commit right after this turn instead, while nothing waits for it.
   */
  private markUnsaved(peer: UserId, soon = false): void {
    this.unsaved.add(peer);
    if (soon && !this.closing) setImmediate(() => void this.savePeer(peer));
    this.scheduleSave();
  }

  private scheduleSave(): void {
    if (this.unsavedTimer || this.closing) return;
    this.unsavedTimer = setTimeout(() => {
      this.unsavedTimer = undefined;
      void this.saveUnsaved();
    }, UNSAVED_FLUSH_MS);
    this.unsavedTimer.unref?.();
  }

  /**
   * Decrypts an envelope that the server says `from` sent, and commits the ratchet step and the
   * plaintext (to `kernel_inbox`) in one transaction. Call {@link removeFromInbox} once handled.
   * `disposition` may decline to store a plaintext that needs no crash safety (an ack: one write
   * less), or give a store step that stores it the consumer's way in the same commit.
   * @throws AppError `sessions/forged-sender`, `sessions/not-a-contact`, `sessions/identity-changed`,
   *   `sessions/no-session`, `sessions/unknown-prekey`, CryptoError `crypto/*`
   */
  receive(from: UserId, payload: Uint8Array, disposition: (plaintext: Uint8Array, receivedAt: number) => ReceiveDisposition = () => 'inbox'): Promise<InboxEntry> {
    // A private copy: socket.io hands out Buffers that may share memory with other messages.
    const bytes = Uint8Array.from(payload);
    return new Promise<InboxEntry>((resolve, reject) => {
      const item: PendingReceive = { bytes, disposition, resolve, reject };
      const batch = this.pendingReceives.get(from);
      if (batch) return void batch.push(item);
      this.pendingReceives.set(from, [item]);
      void this.queue.run(from, () => this.flushReceives(from));
    });
  }

  /** Records left in the inbox (a crash between commit and handling), oldest first. */
  async inbox(): Promise<InboxEntry[]> {
    const rows = await this.options.db.selectFrom(INBOX_TABLE).selectAll().orderBy('id').execute();
    return rows.map((r) => ({ inboxId: Number(r.id), from: r.peer as UserId, plaintext: new Uint8Array(r.plaintext), receivedAt: r.received_at }));
  }

  /** Deletes handled records (one id, or many in one statement). */
  async removeFromInbox(inboxIds: number | undefined | readonly number[]): Promise<void> {
    const ids = inboxIds === undefined ? [] : typeof inboxIds === 'number' ? [inboxIds] : inboxIds;
    if (ids.length === 0) return;
    await this.options.db.deleteFrom(INBOX_TABLE).where('id', 'in', ids).execute();
  }

  /**
   * Deletes handled records with the next commit of any peer (or within a second, or at drain):
   * no commit of their own. A crash before that hands them out again at the next start, which
   * the handlers already tolerate (they dedupe by their own ids).
   */
  removeFromInboxLater(inboxIds: readonly number[]): void {
    if (inboxIds.length === 0) return;
    this.handledInbox.push(...inboxIds);
    this.scheduleSave();
  }

  private async deleteHandled(db: Kysely<any> | Transaction<any>, ids: readonly number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) await db.deleteFrom(INBOX_TABLE).where('id', 'in', ids.slice(i, i + 500)).execute();
  }

  /** Waits for queued operations to finish (before closing the database). */
  async drain(): Promise<void> {
    this.closing = true;
    await this.queue.drain();
    clearTimeout(this.unsavedTimer);
    this.unsavedTimer = undefined;
    await this.saveUnsaved();
    await this.queue.drain();
  }

  private async skipsOneTimePrekey(peer: UserId): Promise<boolean> {
    const row = await this.options.db.selectFrom(RESETS_TABLE).select('skip_one_time').where('peer', '=', peer).executeTakeFirst() as { skip_one_time: number } | undefined;
    return row?.skip_one_time === 1;
  }

  private async initiate(peer: UserId, contact: Contact, withoutOneTimePrekey = false): Promise<{ id: string; state: RatchetState; x3dh: X3dhHeader }> {
    let bundle: PrekeyBundle;
    try {
      bundle = await this.options.directory.fetchPrekeyBundle(peer);
    } catch (error) {
      if (isAppError(error, 'signaling/forged-bundle')) throw identityChanged(peer, 'the server presented an identity key or signed prekey that does not belong to this user ID (the server may be attacking you)');
      if (isAppError(error, 'signaling/no-bundle')) {
        throw new AppError('channels/peer-unreachable', `${peer} has not published prekeys yet; they must come online once before you can write to them.`, { cause: error });
      }
      const reason = isAppError(error) ? error.message : String(error);
      throw new AppError('channels/peer-unreachable', `Could not fetch the prekeys of ${peer}: ${reason}`, { cause: error });
    }
    // The signaling client verifies bundles; checked again here because a session rests on it:
    // the user ID here, the signed prekey's signature in x3dhInitiate.
    const { crypto } = this.options;
    const notTheirs = 'the server presented a prekey bundle that does not belong to this user ID';
    if (bundle.userId !== peer || userIdFromPublicKey(bundle.identityKey) !== peer) throw identityChanged(peer, notTheirs);
    let x3dh: X3dhInitiatorResult;
    try {
      x3dh = x3dhInitiate(crypto, this.options.keyring, {
        identityKey: bundle.identityKey,
        signedPrekey: { id: bundle.signedPrekey.keyId, publicKey: bundle.signedPrekey.publicKey, signature: bundle.signedPrekey.signature },
        oneTimePrekey: withoutOneTimePrekey ? undefined : bundle.oneTimePrekey && { id: bundle.oneTimePrekey.keyId, publicKey: bundle.oneTimePrekey.publicKey },
      });
    } catch (error) {
      if (isCryptoError(error, 'crypto/invalid-signature')) throw identityChanged(peer, notTheirs);
      throw error;
    }
    try {
      if (contact.identityKey && !equalBytes(contact.identityKey, bundle.identityKey)) {
        await this.options.contacts.learnIdentityKey(peer, bundle.identityKey);
        throw identityChanged(peer);
      }
      if (!contact.identityKey) await this.options.contacts.learnIdentityKey(peer, bundle.identityKey);
      const state = initRatchetInitiator(crypto, { sharedSecret: x3dh.sharedSecret, associatedData: x3dh.associatedData, theirRatchetKey: x3dh.theirRatchetKey });
      const { ephemeralKey, signedPrekeyId, oneTimePrekeyId } = x3dh.header;
      return { id: this.sessionId(this.options.keyring.publicKey, ephemeralKey), state, x3dh: { signedPrekeyId, oneTimePrekeyId, ephemeralKey } };
    } finally {
      x3dh.sharedSecret.fill(0);
    }
  }

  /**
   * Decrypts every envelope from `from` that arrived since the last flush against the peer's
   * in-memory sessions, then commits all new states, consumed one-time prekeys, inbox rows and
   * the responder's replies (acks, encrypted here unless they go over a direct link) in ONE
   * transaction (group commit). Each envelope fails or succeeds on its own; if the commit fails,
   * every envelope of the batch is dropped and the peer's sessions are reloaded as committed.
   *
   * A batch that stores nothing, starts no session and needs no reply (acks, kernel signals) is
   * not committed on its own: its steps ride on the peer's next commit (or a timer, or drain).
   * Losing them in a crash is harmless: the peer's later messages are still decrypted (their
   * keys are derived as skipped keys), and a replayed ack changes nothing.
   */
  private async flushReceives(from: UserId): Promise<void> {
    const items = this.pendingReceives.get(from) ?? [];
    this.pendingReceives.delete(from);
    let contact: Contact | undefined;
    let work: WorkingSession[];
    try {
      contact = await this.options.contacts.get(from);
      work = await this.working(from);
    } catch (error) {
      for (const item of items) item.reject(error);
      return;
    }
    const consumed = new Set<number>();
    const done: { item: PendingReceive; plaintext: Uint8Array; senderIdentityKey: Uint8Array }[] = [];
    for (const item of items) {
      try {
        if (isSessionResetEnvelope(item.bytes)) {
          await this.acceptReset(from, item.bytes, contact, work);
          work = await this.working(from);
          throw new AppError('sessions/session-reset', `${from} lost its session with us (a profile restored from a backup?); the next message starts a new one.`);
        }
        const envelope = decodeSessionEnvelope(item.bytes);
        if (userIdFromPublicKey(envelope.senderIdentityKey) !== from) {
          throw new AppError('sessions/forged-sender', 'The envelope names a sender other than the one the server authenticated; it was dropped.');
        }
        if (!contact) throw new AppError('sessions/not-a-contact', 'A message from someone who is not a contact was dropped.');
        if (contact.identityChanged || (contact.identityKey && !equalBytes(contact.identityKey, envelope.senderIdentityKey))) {
          throw new AppError('sessions/identity-changed', 'The sender presented an identity key other than the one on record; the message was dropped until the user accepts the new key.');
        }
        const plaintext = envelope.x3dh
          ? await this.openPrekeyMessage(from, envelope, envelope.x3dh, work, consumed)
          : this.openMessage(from, envelope.message, work);
        done.push({ item, plaintext, senderIdentityKey: envelope.senderIdentityKey });
      } catch (error) {
        if (isAppError(error, 'sessions/no-session')) this.requestReset(from);
        item.reject(error);
      }
    }
    if (done.length === 0) return;
    const now = this.now();
    const dispositions = done.map((d) => d.item.disposition(d.plaintext, now));
    const hasNew = work.some((w) => w.isNew);
    if (!hasNew && consumed.size === 0 && dispositions.every((d) => d === 'none')) {
      const primary = this.primaryOf(work, from);
      this.markUnsaved(from, primary?.state?.sendChainKey !== undefined && !covers(primary.reserved, primary.state));
      done.forEach((d) => d.item.resolve({ inboxId: undefined, from, plaintext: d.plaintext, receivedAt: now }));
      return;
    }
    let sent: Uint8Array[] = [];
    let direct: Uint8Array[] = [];
    const sender = this.primaryOf(work, from);
    // The replies (acks) depend on which store steps succeeded: encrypted inside the commit, after them.
    const replies = (entries: InboxEntry[] | undefined): SessionUpdate[] => {
      const records = this.responder?.reply(from, done.map((d, i) => ({ plaintext: d.plaintext, stored: entries?.[i]?.stored !== undefined }))) ?? [];
      if (records.length > 0 && this.responder?.transmitDirect && this.responder.sendsDirect?.(from)) {
        direct = records;
        return [];
      }
      if (records.length === 0 || !sender || !canRatchetSend(sender.state ?? deserializeRatchetState(new Uint8Array(sender.row.state)))) return [];
      const { messages, state } = this.encryptOn(sender, records);
      const x3dh = this.x3dhFor(sender, state);
      const senderIdentityKey = this.options.keyring.info.publicKey;
      sent = messages.map((message) => encodeSessionEnvelope({ senderIdentityKey, x3dh, message }));
      return [{ session: sender, state }];
    };
    let entries: InboxEntry[];
    try {
      entries = (await this.commit(from, work, replies, () => {
        // Pruned rows are gone from the database: reload the peer's sessions next time.
        if (hasNew) this.forget(from);
      }, async (trx) => {
        for (const keyId of consumed) {
          if (!(await this.prekeys.consumeOneTimePrekey(trx, keyId))) {
            throw new AppError('sessions/unknown-prekey', 'A first message used a one-time prekey that was already used; it was dropped.');
          }
        }
        if (hasNew) await this.prune(trx, from);
        const out: InboxEntry[] = [];
        for (const [i, d] of done.entries()) {
          const disposition = dispositions[i]!;
          const entry = { from, plaintext: d.plaintext, receivedAt: now };
          if (disposition === 'none') {
            out.push({ inboxId: undefined, ...entry });
            continue;
          }
          if (disposition !== 'inbox') {
            const stored = await this.storeStep(trx, from, disposition);
            if (stored) {
              out.push({ inboxId: undefined, ...entry, stored });
              continue;
            }
          }
          const result = await trx.insertInto(INBOX_TABLE).values({ peer: from, plaintext: d.plaintext, received_at: now }).executeTakeFirstOrThrow();
          out.push({ inboxId: Number(result.insertId), ...entry });
        }
        return out;
      }))!;
    } catch (error) {
      for (const d of done) d.item.reject(error);
      return;
    }
    if (contact && !contact.identityKey) {
      await this.options.contacts.learnIdentityKey(from, done[0]!.senderIdentityKey).catch((error) => {
        this.options.logger.warn('could not record an identity key', { peer: from, code: isAppError(error) ? error.code : 'unknown' });
      });
    }
    done.forEach((d, i) => d.item.resolve(entries[i]!));
    this.sendReplies(from, sent, direct);
  }

  /**
   * Hands a receive batch's replies (sealed payloads, and records for the direct link) out once
   * its commit is on disk: at once after a commit that waited for it, else when the deferred
   * sync confirms (the records reached their consumers meanwhile). Replies of later batches wait
   * for later syncs, so they keep their order.
   */
  private sendReplies(from: UserId, sent: readonly Uint8Array[], direct: readonly Uint8Array[]): void {
    const attempt = (send: () => void) => {
      try {
        send();
      } catch (error) {
        this.options.logger.warn('sessions: could not send a reply', { peer: from, code: isAppError(error) ? error.code : 'unknown' });
      }
    };
    const transmit = () => {
      for (const payload of sent) attempt(() => this.responder!.transmit(from, payload));
      if (direct.length > 0) attempt(() => this.responder!.transmitDirect!(from, direct));
    };
    if (sent.length === 0 && direct.length === 0) return;
    const durable = this.options.deferredSync?.whenDurable(this.ownCommits);
    if (!durable) return transmit();
    // Not sent: the peer gets no ack, so it sends the records again, and they are deduplicated.
    durable.then(transmit, (error: unknown) => this.options.logger.warn('sessions: replies not sent: the receiving commit did not reach the disk', {
      peer: from, code: isAppError(error) ? error.code : 'unknown',
    }));
  }

  /**
   * Runs a consumer's store step inside the receiving commit, under a savepoint: if it throws,
   * only its writes are undone (the caller puts the plaintext in the inbox instead), so one bad
   * record cannot fail the batch nor block the peer.
   */
  private async storeStep(trx: Transaction<any>, from: UserId, step: { store(trx: Transaction<any>): Promise<unknown> }): Promise<{ value: unknown } | undefined> {
    await trx.executeQuery(SAVEPOINT);
    try {
      const value = await step.store(trx);
      await trx.executeQuery(RELEASE);
      return { value };
    } catch (error) {
      await trx.executeQuery(ROLLBACK_TO);
      await trx.executeQuery(RELEASE);
      this.options.logger.warn('sessions: a store step failed; the record goes to the inbox instead', {
        // Not the message: a plugin's error text might quote what it stored.
        peer: from, code: isAppError(error) ? error.code : 'unknown', error: error instanceof Error ? error.name : typeof error,
      });
      return undefined;
    }
  }

  /**
   * We hold no session for a contact's message (we lost ours: a profile restored from a backup).
   * Asks the contact, signed with our identity key, to start a new session; at most once per
   * {@link RESET_REQUEST_INTERVAL_MS}. Only `no-session` asks: a server that tampers with or
   * replays envelopes causes auth failures or replays, never this, so it cannot force resets.
   */
  private requestReset(peer: UserId): void {
    const now = this.now();
    if (!this.responder || now - (this.resetRequested.get(peer) ?? -Infinity) < RESET_REQUEST_INTERVAL_MS) return;
    this.resetRequested.set(peer, now);
    const { keyring } = this.options;
    const payload = encodeSessionReset(this.options.crypto, (m) => keyring.sign(m), keyring.info.publicKey, peer, now);
    this.options.logger.warn('sessions: a contact wrote on a session we do not have; asked them to start a new one', { peer });
    this.responder.transmit(peer, payload);
  }

  /**
   * Applies a reset request from `from`: signed by the contact's identity key, for us, recent,
   * newer than the last one accepted (no replays) and not within a minute of it. Our sessions
   * with the peer are deleted in one transaction with the record of the request.
   * @throws AppError `sessions/bad-reset` (refused; nothing changed), CryptoError `crypto/*`
   */
  private async acceptReset(from: UserId, bytes: Uint8Array, contact: Contact | undefined, work: WorkingSession[]): Promise<void> {
    const request = decodeSessionReset(this.options.crypto, bytes, this.self);
    const refuse = (why: string) => new AppError('sessions/bad-reset', `A session reset request from ${from} was refused: ${why}.`);
    if (userIdFromPublicKey(request.requesterIdentityKey) !== from) throw refuse('it names a sender other than the one the server authenticated');
    if (!contact) throw refuse('not a contact');
    if (contact.identityChanged || (contact.identityKey && !equalBytes(contact.identityKey, request.requesterIdentityKey))) throw refuse('the identity key is not the one on record');
    const now = this.now();
    if (Math.abs(now - request.requestedAt) > RESET_WINDOW_MS) throw refuse('it is too old or from the future (a replay?)');
    const last = await this.options.db.selectFrom(RESETS_TABLE).select('requested_at').where('peer', '=', from).executeTakeFirst() as { requested_at: number } | undefined;
    if (last && request.requestedAt <= last.requested_at) throw refuse('it is not newer than the last one (a replay?)');
    if (last && request.requestedAt - last.requested_at < RESET_ACCEPT_INTERVAL_MS) throw refuse('another reset was accepted less than a minute ago');
    if (work.length === 0) throw refuse('there is no session to reset');
    await this.options.db.transaction().execute(async (trx) => {
      await trx.deleteFrom(SESSIONS_TABLE).where('peer', '=', from).execute();
      await trx.insertInto(RESETS_TABLE).values({ peer: from, requested_at: request.requestedAt, skip_one_time: 1 })
        .onConflict((oc) => oc.column('peer').doUpdateSet({ requested_at: request.requestedAt, skip_one_time: 1 })).execute();
    });
    this.forget(from);
    this.options.logger.warn('sessions: a contact lost its session with us; the next message starts a new one', { peer: from });
    this.resetEmitter.fire({ peer: from });
  }

  private async openPrekeyMessage(from: UserId, envelope: SessionEnvelope, header: X3dhHeader, work: WorkingSession[], consumed: Set<number>): Promise<Uint8Array> {
    const id = this.sessionId(envelope.senderIdentityKey, header.ephemeralKey);
    const existing = work.find((w) => w.row.session_id === id);
    // The initiator repeats its X3DH header until we answer: later copies use the session.
    if (existing) return this.openWith([existing], envelope.message);

    const { crypto, db } = this.options;
    const signedPrekey = await this.prekeys.signedPrekey(db, header.signedPrekeyId);
    if (!signedPrekey) throw new AppError('sessions/unknown-prekey', 'A first message used a signed prekey we no longer hold; it was dropped.');
    const oneTimePrekey = header.oneTimePrekeyId === undefined || consumed.has(header.oneTimePrekeyId) ? undefined : await this.prekeys.oneTimePrekey(db, header.oneTimePrekeyId);
    if (header.oneTimePrekeyId !== undefined && !oneTimePrekey) {
      throw new AppError('sessions/unknown-prekey', 'A first message used a one-time prekey that was already used (a replay?); it was dropped.');
    }
    const x3dh = x3dhRespond(crypto, this.options.keyring, signedPrekey.secretKey, oneTimePrekey?.secretKey, {
      identityKey: envelope.senderIdentityKey, ephemeralKey: header.ephemeralKey, signedPrekeyId: header.signedPrekeyId, oneTimePrekeyId: header.oneTimePrekeyId,
    });
    const initial = initRatchetResponder(crypto, { sharedSecret: x3dh.sharedSecret, associatedData: x3dh.associatedData, ourRatchetKeyPair: signedPrekey });
    x3dh.sharedSecret.fill(0);
    const { state, plaintext } = ratchetDecrypt(crypto, initial, envelope.message, this.now());
    if (header.oneTimePrekeyId !== undefined) consumed.add(header.oneTimePrekeyId);
    const now = this.now();
    // Newest first, as sessions() orders them.
    work.unshift({ row: { peer: from, session_id: id, initiator: from, state: new Uint8Array(0), x3dh_header: null, created_at: now, used_at: now }, state, dirty: true, isNew: true });
    return plaintext;
  }

  private openMessage(from: UserId, message: Uint8Array, work: WorkingSession[]): Uint8Array {
    if (work.length === 0) throw new AppError('sessions/no-session', 'A message arrived for a session we do not have; it was dropped.');
    const primary = this.primaryOf(work, from)!;
    return this.openWith([primary, ...work.filter((w) => w !== primary)], message);
  }

  /** Tries the candidate sessions in order; the first that authenticates the message wins. */
  private openWith(candidates: WorkingSession[], message: Uint8Array): Uint8Array {
    let firstError: unknown;
    let replay: unknown;
    for (const w of candidates) {
      try {
        w.state ??= deserializeRatchetState(new Uint8Array(w.row.state));
        const result = ratchetDecrypt(this.options.crypto, w.state, message, this.now());
        w.state = result.state;
        w.dirty = true;
        return result.plaintext;
      } catch (error) {
        if (!isCryptoError(error)) throw error;
        firstError ??= error;
        if (isCryptoError(error, 'crypto/replay')) replay ??= error;
      }
    }
    throw replay ?? firstError;
  }

  private async sessions(db: Kysely<any> | Transaction<any>, peer: UserId): Promise<SessionRow[]> {
    return await db.selectFrom(SESSIONS_TABLE).selectAll().where('peer', '=', peer).orderBy('created_at', 'desc').orderBy('session_id').execute() as SessionRow[];
  }

  /**
   * The session to send on. When both sides started a session at once, both pick the one the
   * smaller user ID started, so they converge on one; the other stays for decryption.
   */
  private primary(rows: SessionRow[], peer: UserId): SessionRow | undefined {
    const preferred = this.self < peer ? this.self : peer;
    return rows.find((r) => r.initiator === preferred) ?? rows[0];
  }

  private primaryOf(work: WorkingSession[], peer: UserId): WorkingSession | undefined {
    const row = this.primary(work.map((w) => w.row), peer);
    return row && work.find((w) => w.row === row);
  }

  private async prune(trx: Transaction<any>, peer: UserId): Promise<void> {
    const rows = await this.sessions(trx, peer);
    if (rows.length <= MAX_SESSIONS_PER_PEER) return;
    const keep = this.primary(rows, peer)!;
    const extra = rows.filter((r) => r !== keep).sort((a, b) => a.used_at - b.used_at).slice(0, rows.length - MAX_SESSIONS_PER_PEER);
    for (const r of extra) await trx.deleteFrom(SESSIONS_TABLE).where('peer', '=', peer).where('session_id', '=', r.session_id).execute();
  }

  private sessionId(initiatorIdentityKey: Uint8Array, ephemeralKey: Uint8Array): string {
    const bytes = new Uint8Array(64);
    bytes.set(initiatorIdentityKey);
    bytes.set(ephemeralKey, 32);
    return toHex(this.options.crypto.sha256(bytes).subarray(0, 16));
  }
}

/** True when the keys `state` used on its sending chain all lie within the stored reservation. */
function covers(reserved: Reservation | undefined, state: RatchetState): boolean {
  return reserved !== undefined && state.sendCount <= reserved.sendCount && equalBytes(reserved.ratchetKey, state.dhSelf.publicKey);
}

function identityChanged(peer: UserId, why?: string): AppError {
  const reason = why ?? 'their identity key changed';
  return new AppError('channels/identity-changed', `Sending to ${peer} is blocked: ${reason}. Compare safety numbers with them out of band, then accept the new key.`);
}
