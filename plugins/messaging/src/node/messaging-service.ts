import {
  AppError, Emitter, indexPendingFts, isAppError, isUserId, type Disposable, type PeerMessage, type PluginContext, type StoringMessageHandler, type UserId,
} from '@discordopus/sdk';
import type {
  ConversationView, HistoryPage, MessageStatus, MessageView, MessagingApi, MessagingChange,
} from '../common/messaging-api.ts';
import {
  MAX_REACTION_LENGTH, MAX_TEXT_LENGTH, MESSAGING_CHANNEL, RecordRejected, decodeRecord, encodeRecord, messageIdSchema, newMessageId,
  type BatchRecord, type DeleteRecord, type EditRecord, type MessagingRecord, type ReactionRecord, type ReceiptRecord, type TextRecord,
} from '../common/messaging-protocol.ts';
import {
  ConversationCache, MESSAGES_FTS, conversation, insertMessageIfNew, insertMessages, newestFirst, setLastInSeq, setNextSeq, nextSort, type NewMessage, decodeCursor, findMessage, findMessageById, incomingSort, statusAdvances, toView, views,
  type ConversationCounters, type Db, type MessageRow, type OutboxRow,
} from './messaging-store.ts';
import { Outbox } from './outbox.ts';
import { doublingDelay } from './doubling-delay.ts';

declare module '@discordopus/sdk' {
  interface EventMap {
    /** A new incoming message was stored (once per message, duplicates are not reported). */
    'messaging.received': { from: UserId; id: string; text: string; sentAt: number; replyTo?: string };
    /** An outgoing message changed status (sent, delivered, read, failed, queued again). */
    'messaging.status': { peer: UserId; id: string; status: MessageStatus; error?: { code: string; message: string } };
  }
}

export interface MessagingServiceOptions {
  now?: () => number;
  /** Per attempt: how long the peer's kernel has to confirm a record. Default 15 s. */
  sendTimeoutMs?: number;
  baseBackoffMs?: number;
  /** How long new messages wait for the full-text index (a search indexes them first). Default 2 s. */
  indexDelayMs?: number;
}

const READ_RECEIPTS_SETTING = 'messaging.sendReadReceipts';
/**
 * Texts stored per transaction when many are sent at once: enough to share the commit, few
 * enough that the first ones leave while the next are stored (a transaction keeps the event
 * loop, and so the link, busy until it ends).
 */
const TEXTS_PER_COMMIT = 256;
/**
 * How long new messages wait for the full-text index (searches index what waits first): long
 * enough that a conversation's burst shares one indexing commit, short enough that little is
 * left to index at the next start after a crash.
 */
const INDEX_DELAY_MS = 2_000;
/** An index run that fails is tried again after twice the last delay, up to this (a full disk, say). */
const MAX_INDEX_RETRY_MS = 60_000;
const TYPING_TIMEOUT_MS = 5_000;
/** A peer's "typing" shows this long unless repeated; senders repeat it while the user types. */
export const TYPING_EXPIRY_MS = 8_000;

/** What to tell the app about a record once its changes are committed. */
type Announce = () => void | Promise<void>;

/** The messaging plugin's work: the API, incoming records, and the outbox. */
export class MessagingService implements MessagingApi, Disposable {
  private readonly changes = new Emitter<MessagingChange>((error) => this.ctx.log.error('messaging: a change listener failed', { error }));
  readonly onDidChange = this.changes.event;
  private readonly db: Db;
  private readonly outbox: Outbox;
  private readonly counters = new ConversationCache();
  private readonly now: () => number;
  private readonly self: UserId;
  private readonly typingTimers = new Map<UserId, ReturnType<typeof setTimeout>>();
  private readonly pendingTexts: { peer: UserId; text: string; replyTo: string | undefined; resolve(view: MessageView): void; reject(error: unknown): void }[] = [];
  private writingTexts = false;
  private indexTimer: ReturnType<typeof setTimeout> | undefined;
  /** Index runs that failed in a row: each waits twice as long as the one before. */
  private indexFailures = 0;
  /** The last indexing run: runs go one after the other. */
  private indexing: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: PluginContext, private readonly options: MessagingServiceOptions = {}) {
    this.db = ctx.storage.db as Db;
    this.now = options.now ?? Date.now;
    this.self = ctx.identity.userId;
    const sendTimeoutMs = options.sendTimeoutMs ?? 15_000;
    this.outbox = new Outbox({
      db: this.db,
      transaction: (fn) => ctx.storage.transaction((trx) => fn(trx as unknown as Db)),
      send: (peer, data) => ctx.channels.send(peer, MESSAGING_CHANNEL, data, { timeoutMs: sendTimeoutMs }),
      log: ctx.log,
      now: this.now,
      onStatus: (change) => this.statusChanged(change),
      ...(options.baseBackoffMs !== undefined ? { baseBackoffMs: options.baseBackoffMs } : {}),
    });
  }

  /** Subscribes to the channel and to the events that make a peer reachable, then flushes. */
  start(): void {
    const { ctx } = this;
    ctx.subscriptions.push(ctx.channels.onMessage(MESSAGING_CHANNEL, this.channelHandler));
    ctx.subscriptions.push(ctx.contacts.onDidChangePresence(({ userId, presence }) => {
      if (presence === 'online') this.outbox.deliver(userId, true);
    }));
    ctx.subscriptions.push(ctx.channels.onDidChangeLinkState(({ userId, state }) => {
      if (state === 'connected') this.outbox.deliver(userId, true);
    }));
    void this.outbox.flushAll(true).catch((error) => ctx.log.error('messaging: could not read the outbox', { error }));
    this.indexLater();
  }

  /** Stops retries and waits briefly for sends in progress (what is unconfirmed stays queued). */
  async stop(): Promise<void> {
    this.outbox.dispose();
    this.cancelIndexTimer();
    await this.outbox.idle(2_000);
    await this.indexNow().catch(() => undefined); // logged there; the next start indexes what is left
  }

  dispose(): void {
    this.outbox.dispose();
    this.cancelIndexTimer();
    for (const timer of this.typingTimers.values()) clearTimeout(timer);
    this.typingTimers.clear();
    this.changes.dispose();
  }

  /** A new message was committed: announce it; the full-text index takes it a moment later. */
  private messageAdded(view: MessageView): void {
    this.changes.fire({ kind: 'message', message: view });
    this.indexLater();
  }

  private indexLater(): void {
    if (this.indexTimer) return;
    const delay = this.options.indexDelayMs ?? INDEX_DELAY_MS;
    this.indexTimer = setTimeout(() => {
      this.indexTimer = undefined;
      void this.indexNow().catch(() => this.indexLater());
    }, doublingDelay(delay, this.indexFailures, Math.max(delay, MAX_INDEX_RETRY_MS)));
    this.indexTimer.unref?.();
  }

  private cancelIndexTimer(): void {
    clearTimeout(this.indexTimer);
    this.indexTimer = undefined;
  }

  /**
   * Indexes the messages that wait for the full-text index. Runs one after the other: a run that
   * started before the caller's messages were committed might not see them.
   */
  private indexNow(): Promise<void> {
    this.indexing = this.indexing.catch(() => undefined).then(async () => {
      try {
        await this.ctx.storage.transaction((trx) => indexPendingFts(trx, MESSAGES_FTS), { durability: 'deferred' });
        this.indexFailures = 0;
      } catch (error) {
        this.indexFailures++;
        this.ctx.log.warn('messaging: could not update the search index; it is tried again later', { code: isAppError(error) ? error.code : 'unknown' });
        throw error;
      }
    });
    return this.indexing;
  }

  // ---- API ----

  async sendText(to: string, text: string, options: { replyTo?: string } = {}): Promise<MessageView> {
    checkText('sendText', text);
    const peer = await this.resolvePeer(to);
    const replyTo = options.replyTo === undefined ? undefined : checkId('sendText', options.replyTo);
    return new Promise<MessageView>((resolve, reject) => {
      this.pendingTexts.push({ peer, text, replyTo, resolve, reject });
      void this.writeTexts();
    });
  }

  /**
   * Stores queued sendText calls, many per transaction (group commit): each commit waits for the
   * disk, so texts sent while one is being written share the next one. Order is call order.
   */
  private async writeTexts(): Promise<void> {
    if (this.writingTexts) return;
    this.writingTexts = true;
    try {
      while (this.pendingTexts.length > 0) {
        const batch = this.pendingTexts.splice(0, TEXTS_PER_COMMIT);
        let outcomes: (MessageRow | AppError)[];
        let queued: OutboxRow[];
        try {
          // Deferred: the texts leave without waiting for the disk (the kernel holds a ciphertext
          // back only until its own ratchet step is durable). An fsync here took 1 ms, and 5-15 ms
          // when the disk was busy, on the path of every message. What a power loss (not a crash
          // of the app) can take back is the sender's copy of a text sent in the last
          // milliseconds, which its peer may have: see docs/storage.md.
          ({ outcomes, queued } = await this.transaction((db) => this.storeOutgoing(db, batch), 'deferred'));
        } catch (error) {
          for (const item of batch) item.reject(error);
          continue;
        }
        batch.forEach((item, i) => {
          const outcome = outcomes[i]!;
          if (outcome instanceof AppError) return item.reject(outcome);
          const view = toView(outcome, this.self);
          this.messageAdded(view);
          item.resolve(view);
        });
        const byPeer = new Map<UserId, OutboxRow[]>();
        for (const row of queued) {
          const rows = byPeer.get(row.peer as UserId);
          if (rows) rows.push(row);
          else byPeer.set(row.peer as UserId, [row]);
        }
        for (const [peer, rows] of byPeer) this.outbox.deliverAdded(peer, rows);
        // A transaction's statements run back to back without giving the event loop a turn:
        // let the link send what was just handed to it before storing the next group.
        if (this.pendingTexts.length > 0) await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.writingTexts = false;
    }
  }

  /**
   * A transaction of the plugin that also records the outbox's confirmations so far (deletes the
   * confirmed rows, advances their messages' status): they ride on this commit instead of one of
   * their own, and `fn` sees the outbox as it is (a confirmed row is not "still queued").
   */
  private async transaction<T>(fn: (db: Db) => Promise<T>, durability: 'sync' | 'deferred' = 'sync'): Promise<T> {
    const settled = this.outbox.takeSettled();
    let result: T;
    let changes: Awaited<ReturnType<Outbox['recordSettled']>>;
    try {
      [result, changes] = await this.ctx.storage.transaction(async (trx) => {
        const db = trx as unknown as Db;
        const recorded = await this.outbox.recordSettled(db, settled);
        return [await fn(db), recorded] as const;
      }, { durability });
    } catch (error) {
      this.outbox.restoreSettled(settled);
      throw error;
    }
    this.outbox.settledCommitted(settled, changes);
    return result;
  }

  /**
   * Outgoing texts with their outbox records, a few statements for the whole group. A bad reply
   * reference is returned for its item, not thrown, so the others commit.
   */
  private async storeOutgoing(db: Db, items: readonly { peer: UserId; text: string; replyTo: string | undefined }[]): Promise<{ outcomes: (MessageRow | AppError)[]; queued: OutboxRow[] }> {
    const conversations = new Map<UserId, ConversationCounters>();
    const fresh = new Set<string>();
    const rows: NewMessage[] = [];
    const results: (NewMessage | AppError)[] = [];
    const outbox: { peer: UserId; record: string; id: string }[] = [];
    for (const { peer, text, replyTo } of items) {
      if (replyTo !== undefined && !fresh.has(`${peer}:${replyTo}`) && !(await findMessage(db, peer, replyTo))) {
        results.push(new AppError('messaging/unknown-message', `The message ${replyTo} you reply to is not in the conversation with ${peer}.`));
        continue;
      }
      let conv = conversations.get(peer);
      if (!conv) {
        conv = await this.counters.get(db, peer);
        conversations.set(peer, conv);
      }
      const now = this.now();
      const record: TextRecord = { t: 'text', id: newMessageId(), seq: conv.nextSeq++, sentAt: now, text, ...(replyTo ? { replyTo } : {}) };
      conv.lastSort = nextSort(conv.lastSort, now);
      const row: NewMessage = {
        id: record.id, peer, direction: 'out', seq: record.seq, text, reply_to: replyTo ?? null, sent_at: now,
        sort: conv.lastSort, status: 'queued', edited_at: null, deleted: 0, error_code: null, error_message: null,
      };
      fresh.add(`${peer}:${record.id}`);
      rows.push(row);
      results.push(row);
      outbox.push({ peer, record: JSON.stringify(record), id: record.id });
    }
    const inserted = await insertMessages(db, rows);
    for (const [peer, conv] of conversations) await setNextSeq(db, peer, conv.nextSeq);
    const queued = await this.outbox.addTexts(db, outbox.map((o) => ({ peer: o.peer, record: o.record, messageId: o.id })));
    let next = 0;
    return { outcomes: results.map((r) => (r instanceof AppError ? r : inserted[next++]!)), queued };
  }

  async edit(id: string, text: string): Promise<MessageView> {
    checkText('edit', text);
    return this.ownOperation('edit', id, (row, at): EditRecord => ({ t: 'edit', id: newMessageId(), target: row.id, text, at }), async (db, row, at) => {
      await db.updateTable('messaging_messages').set({ text, edited_at: at }).where('mid', '=', row.mid).execute();
    });
  }

  async delete(id: string): Promise<MessageView> {
    return this.ownOperation('delete', id, (row, at): DeleteRecord => ({ t: 'delete', id: newMessageId(), target: row.id, at }), async (db, row) => {
      await tombstone(db, row);
    });
  }

  async react(id: string, emoji: string, options: { remove?: boolean } = {}): Promise<MessageView> {
    checkId('react', id);
    if (typeof emoji !== 'string' || emoji.length === 0 || emoji.length > MAX_REACTION_LENGTH) {
      throw new AppError('messaging/invalid-reaction', `A reaction is 1-${MAX_REACTION_LENGTH} characters (one emoji, or a short word).`);
    }
    const row = await this.requireMessage(id);
    if (row.deleted) throw new AppError('messaging/deleted', `The message ${id} was deleted; it cannot get reactions.`);
    const peer = row.peer as UserId;
    const at = this.now();
    await this.ctx.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      await applyReaction(db, peer, row.id, this.self, emoji, options.remove === true, at);
      const record: ReactionRecord = { t: 'reaction', id: newMessageId(), target: row.id, emoji, at, ...(options.remove ? { remove: true } : {}) };
      await this.outbox.enqueue(db, peer, 'reaction', JSON.stringify(record));
    });
    const view = await this.viewOf(peer, row.id);
    this.changes.fire({ kind: 'updated', message: view });
    this.outbox.deliver(peer);
    return view;
  }

  async markRead(peerRef: string, upTo?: string): Promise<number> {
    const peer = await this.resolvePeer(peerRef);
    const until = upTo === undefined ? undefined : await this.requireMessage(checkId('markRead', upTo), peer);
    const ids = await this.ctx.storage.transaction(async (trx) => {
      const db = trx as unknown as Db;
      let query = db.selectFrom('messaging_messages').select('id').where('peer', '=', peer).where('direction', '=', 'in').where('status', '=', 'received');
      if (until) query = query.where('sort', '<=', until.sort);
      const rows = await query.orderBy('sort').execute();
      if (rows.length === 0) return [];
      const found = rows.map((r) => r.id);
      await db.updateTable('messaging_messages').set({ status: 'read' }).where('peer', '=', peer).where('direction', '=', 'in').where('id', 'in', found).execute();
      if (this.ctx.settings.get<boolean>(READ_RECEIPTS_SETTING) !== false) {
        for (let i = 0; i < found.length; i += 256) {
          const receipt: ReceiptRecord = { t: 'receipt', state: 'read', ids: found.slice(i, i + 256), at: this.now() };
          await this.outbox.enqueue(db, peer, 'receipt', JSON.stringify(receipt));
        }
      }
      return found;
    });
    for (const id of ids) this.changes.fire({ kind: 'status', peer, id, status: 'read' });
    if (ids.length > 0) this.outbox.deliver(peer);
    return ids.length;
  }

  async setTyping(peerRef: string, typing: boolean): Promise<void> {
    if (typeof typing !== 'boolean') throw new TypeError('setTyping: typing must be a boolean');
    const peer = await this.resolvePeer(peerRef);
    try {
      await this.ctx.channels.send(peer, MESSAGING_CHANNEL, encodeRecord({ t: 'typing', typing }), { timeoutMs: TYPING_TIMEOUT_MS });
    } catch (error) {
      // Ephemeral: an indicator that does not arrive is simply not shown.
      this.ctx.log.debug('messaging: typing indicator not delivered', { peer, code: isAppError(error) ? error.code : 'unknown' });
    }
  }

  async history(peerRef: string, options: { before?: string; limit?: number } = {}): Promise<HistoryPage> {
    const peer = await this.resolvePeer(peerRef);
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new RangeError('history: limit must be an integer from 1 to 500');
    let query = this.db.selectFrom('messaging_messages').selectAll().where('peer', '=', peer);
    if (options.before !== undefined) {
      const cursor = typeof options.before === 'string' ? decodeCursor(options.before) : undefined;
      if (!cursor) throw new AppError('messaging/invalid-cursor', 'The history cursor is not one this client returned; start again without "before".');
      query = query.where((eb) => eb.or([eb('sort', '<', cursor.sort), eb.and([eb('sort', '=', cursor.sort), eb('mid', '<', cursor.mid)])]));
    }
    const rows = await newestFirst(query).limit(limit + 1).execute();
    const more = rows.length > limit;
    const page = rows.slice(0, limit).reverse();
    const messages = await views(this.db, page, this.self);
    return more && messages[0] ? { messages, before: messages[0].cursor } : { messages };
  }

  async search(text: string, options: { peer?: string; limit?: number } = {}): Promise<MessageView[]> {
    if (typeof text !== 'string') throw new TypeError('search: expected a query string');
    const match = ftsQuery(text);
    if (!match) return [];
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new RangeError('search: limit must be an integer from 1 to 500');
    const peer = options.peer === undefined ? undefined : await this.resolvePeer(options.peer);
    await this.indexNow();
    const hits = await this.db.selectFrom('messaging_messages_fts').select('rowid').where('messaging_messages_fts', 'match', match)
      .orderBy('rank').limit(limit * 4).execute();
    if (hits.length === 0) return [];
    let query = this.db.selectFrom('messaging_messages').selectAll().where('mid', 'in', hits.map((h) => h.rowid)).where('deleted', '=', 0);
    if (peer) query = query.where('peer', '=', peer);
    const rows = await query.execute();
    const rank = new Map(hits.map((h, i) => [h.rowid, i]));
    rows.sort((a, b) => rank.get(a.mid)! - rank.get(b.mid)!);
    return views(this.db, rows.slice(0, limit), this.self);
  }

  async conversations(): Promise<ConversationView[]> {
    const peers = await this.db.selectFrom('messaging_conversations').select('peer').execute();
    const result: ConversationView[] = [];
    for (const { peer } of peers) {
      const last = await newestFirst(this.db.selectFrom('messaging_messages').selectAll().where('peer', '=', peer)).limit(1).executeTakeFirst();
      const unread = await this.db.selectFrom('messaging_messages').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('peer', '=', peer).where('direction', '=', 'in').where('status', '=', 'received').executeTakeFirstOrThrow();
      const queued = await this.db.selectFrom('messaging_messages').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('peer', '=', peer).where('direction', '=', 'out').where('status', 'in', ['queued', 'failed']).executeTakeFirstOrThrow();
      const contact = await this.ctx.contacts.get(peer as UserId);
      result.push({
        peer: peer as UserId, name: contact?.name ?? '', unread: Number(unread.n), queued: Number(queued.n),
        ...(last ? { last: (await views(this.db, [last], this.self))[0]! } : {}),
      });
    }
    return result.sort((a, b) => (b.last?.sentAt ?? 0) - (a.last?.sentAt ?? 0));
  }

  async message(id: string): Promise<MessageView | undefined> {
    const row = await findMessageById(this.db, checkId('message', id));
    return row ? (await views(this.db, [row], this.self))[0] : undefined;
  }

  async retry(id: string): Promise<MessageView> {
    const row = await this.requireMessage(checkId('retry', id));
    if (row.direction !== 'out') throw new AppError('messaging/not-yours', `The message ${id} was sent to you; only your own messages can be retried.`);
    const peer = row.peer as UserId;
    if (row.status === 'failed' || row.status === 'queued') {
      await this.ctx.storage.transaction(async (trx) => {
        const db = trx as unknown as Db;
        await db.updateTable('messaging_outbox').set({ held: 0, attempts: 0, next_attempt_at: 0 }).where('peer', '=', peer).where('message_id', '=', row.id).execute();
        await db.updateTable('messaging_messages').set({ status: 'queued', error_code: null, error_message: null }).where('mid', '=', row.mid).execute();
      });
      if (row.status === 'failed') this.statusChanged({ peer, id: row.id, status: 'queued' });
      this.outbox.deliver(peer, true);
    }
    return this.viewOf(peer, row.id);
  }

  async flush(peerRef?: string): Promise<void> {
    if (peerRef === undefined) return this.outbox.flushAll(true);
    return this.outbox.flush(await this.resolvePeer(peerRef), true);
  }

  // ---- incoming ----

  /**
   * Records from a peer, stored inside the kernel's receive transaction (one commit per message,
   * and the sender learns from the kernel's ack that it is stored: no "delivered" receipt), then
   * announced. Messages the kernel hands out from its inbox instead are stored here.
   */
  private readonly channelHandler: StoringMessageHandler<Announce> = {
    store: (message, db) => this.storeRecord(db as Db, message, false),
    handle: (message, stored) => (stored ? stored.value() : this.receive(message)),
  };

  /** Handles one record from the kernel's inbox; bad input is dropped with a logged reason, never thrown. */
  private async receive(message: PeerMessage): Promise<void> {
    if (!(await this.ctx.contacts.get(message.from))) return this.drop(message.from, 'not-a-contact', 'record');
    const announce = await this.ctx.storage.transaction((trx) => this.storeRecord(trx as unknown as Db, message, true));
    await announce();
  }

  /**
   * Stores what a record changes (in `db`'s transaction) and returns what to announce once it
   * committed. `viaInbox`: the sender's kernel only learnt that our kernel holds the record, so
   * stored texts get a "delivered" receipt.
   */
  private async storeRecord(db: Db, message: PeerMessage, viaInbox: boolean): Promise<Announce> {
    const from = message.from;
    let record: MessagingRecord;
    try {
      record = decodeRecord(message.data);
    } catch (error) {
      if (error instanceof RecordRejected) return () => this.drop(from, error.reason, error.message);
      throw error;
    }
    switch (record.t) {
      case 'text': return this.storeTextRecords(db, from, [record], viaInbox);
      case 'receipt': return this.storeReceipt(db, from, record);
      case 'edit':
      case 'delete':
      case 'reaction': return this.storeOperation(db, from, record);
      case 'typing': return () => this.peerTyping(from, record.typing);
      case 'ack': return () => this.changes.fire({ kind: 'applied', peer: from, ids: record.ids });
      case 'batch': return this.storeBatch(db, from, record, viaInbox);
    }
  }

  private async storeTextRecords(db: Db, from: UserId, texts: readonly TextRecord[], viaInbox: boolean): Promise<Announce> {
    const outcomes = await this.storeTexts(db, from, texts);
    const stored = texts.filter((_, i) => typeof outcomes[i] !== 'string').map((t) => t.id);
    if (viaInbox && stored.length > 0) await this.enqueueDelivered(db, from, stored);
    return () => texts.forEach((text, i) => this.announceText(from, text, outcomes[i]!));
  }

  /** A batch's texts with a few statements (one receipt for them all if any), then its receipts and acks in order. */
  private async storeBatch(db: Db, from: UserId, batch: BatchRecord, viaInbox: boolean): Promise<Announce> {
    const texts = batch.records.filter((r): r is TextRecord => r.t === 'text');
    const announcements: Announce[] = texts.length > 0 ? [await this.storeTextRecords(db, from, texts, viaInbox)] : [];
    for (const record of batch.records) {
      if (record.t === 'receipt') announcements.push(await this.storeReceipt(db, from, record));
      else if (record.t === 'ack') announcements.push(() => this.changes.fire({ kind: 'applied', peer: from, ids: record.ids }));
    }
    return async () => {
      for (const announce of announcements) await announce();
    };
  }

  /**
   * Stores a batch's texts with a few statements. The usual case: all are new and come after
   * everything received from this peer. Anything else (copies, a late retry) goes one by one.
   */
  private async storeTexts(db: Db, from: UserId, texts: readonly TextRecord[]): Promise<(MessageRow | 'duplicate' | 'collision')[]> {
    const conv = await this.counters.get(db, from);
    const ordered = texts.every((t, i) => t.seq > (i === 0 ? conv.lastInSeq : texts[i - 1]!.seq));
    const ids = texts.map((t) => t.id);
    if (ordered && new Set(ids).size === ids.length) {
      let sort = conv.lastSort;
      const rows: NewMessage[] = texts.map((record) => {
        sort = nextSort(sort, this.now());
        return {
          id: record.id, peer: from, direction: 'in', seq: record.seq, text: record.text, reply_to: record.replyTo ?? null, sent_at: record.sentAt,
          sort, status: 'received', edited_at: null, deleted: 0, error_code: null, error_message: null,
        };
      });
      // One text (one at a time, the usual case): an insert that skips a copy, with no lookup before it.
      const inserted = texts.length === 1
        ? await insertMessageIfNew(db, rows[0]!)
        : (await db.selectFrom('messaging_messages').select('id').where('peer', '=', from).where('id', 'in', ids).executeTakeFirst())
          ? undefined
          : await insertMessages(db, rows);
      if (inserted) {
        await setLastInSeq(db, from, texts.at(-1)!.seq);
        conv.lastInSeq = texts.at(-1)!.seq;
        conv.lastSort = sort;
        return inserted;
      }
    }
    const results: (MessageRow | 'duplicate' | 'collision')[] = [];
    for (const text of texts) results.push(await this.storeText(db, from, text));
    this.counters.forget(from);
    return results;
  }

  /** Stores an incoming text unless it is a copy of one stored before (or reuses one of our ids). */
  private async storeText(db: Db, from: UserId, record: TextRecord): Promise<MessageRow | 'duplicate' | 'collision'> {
    const existing = await findMessage(db, from, record.id);
    if (existing) return existing.direction === 'in' ? 'duplicate' : 'collision';
    const conv = await conversation(db, from);
    const now = this.now();
    await db.insertInto('messaging_messages').values({
      id: record.id, peer: from, direction: 'in', seq: record.seq, text: record.text, reply_to: record.replyTo ?? null, sent_at: record.sentAt,
      sort: await incomingSort(db, from, record.seq, now), status: 'received', edited_at: null, deleted: 0, error_code: null, error_message: null,
    }).execute();
    if (record.seq > conv.last_in_seq) await db.updateTable('messaging_conversations').set({ last_in_seq: record.seq }).where('peer', '=', from).execute();
    return (await findMessage(db, from, record.id))!;
  }

  private async enqueueDelivered(db: Db, to: UserId, ids: string[]): Promise<void> {
    const receipt: ReceiptRecord = { t: 'receipt', state: 'delivered', ids, at: this.now() };
    await this.outbox.enqueue(db, to, 'receipt', JSON.stringify(receipt));
  }

  private announceText(from: UserId, record: TextRecord, stored: MessageRow | 'duplicate' | 'collision'): void {
    if (stored === 'duplicate') {
      this.ctx.log.debug('messaging: duplicate message ignored', { from });
      return;
    }
    if (stored === 'collision') return this.drop(from, 'id-collision', 'text reuses the id of one of our messages');
    const view = toView(stored, this.self);
    if (this.typingTimers.has(from)) this.peerTyping(from, false);
    this.messageAdded(view);
    this.ctx.events.publish('messaging.received', {
      from, id: record.id, text: record.text, sentAt: record.sentAt, ...(record.replyTo ? { replyTo: record.replyTo } : {}),
    });
    this.outbox.deliver(from);
  }

  private async storeReceipt(db: Db, from: UserId, record: ReceiptRecord): Promise<Announce> {
    const rows = await db.selectFrom('messaging_messages').select(['id', 'status', 'direction']).where('peer', '=', from).where('id', 'in', record.ids).execute();
    const advancing = rows.filter((r) => r.direction === 'out' && statusAdvances(r.status, record.state)).map((r) => r.id);
    if (advancing.length > 0) {
      await db.updateTable('messaging_messages').set({ status: record.state, error_code: null, error_message: null })
        .where('peer', '=', from).where('direction', '=', 'out').where('id', 'in', advancing).execute();
    }
    const foreign = rows.filter((r) => r.direction !== 'out').length + record.ids.length - rows.length;
    return () => {
      if (foreign > 0) this.ctx.log.debug('messaging: receipt named messages that are not ours to them; ignored', { from, count: foreign });
      for (const id of advancing) this.statusChanged({ peer: from, id, status: record.state });
    };
  }

  private async storeOperation(db: Db, from: UserId, record: EditRecord | DeleteRecord | ReactionRecord): Promise<Announce> {
    const outcome = await this.applyOperation(db, from, record);
    if (outcome === 'duplicate') return () => undefined;
    if (outcome) return () => this.drop(from, outcome, record.t);
    return async () => {
      this.changes.fire({ kind: 'updated', message: await this.viewOf(from, record.target) });
      this.outbox.deliver(from);
    };
  }

  /** Applies a peer's edit, delete or reaction once (its id is remembered); a reason when it is refused. */
  private async applyOperation(db: Db, from: UserId, record: EditRecord | DeleteRecord | ReactionRecord): Promise<string | undefined> {
    const seen = await db.selectFrom('messaging_seen_ops').select('op_id').where('peer', '=', from).where('op_id', '=', record.id).executeTakeFirst();
    if (seen) return 'duplicate';
    const target = await findMessage(db, from, record.target);
    if (!target) return 'unknown-target';
    if (record.t !== 'reaction' && target.direction !== 'in') return 'not-author';
    if (record.t === 'edit') {
      if (!target.deleted && record.at >= (target.edited_at ?? 0)) {
        await db.updateTable('messaging_messages').set({ text: record.text, edited_at: record.at }).where('mid', '=', target.mid).execute();
      }
    } else if (record.t === 'delete') {
      await tombstone(db, target);
    } else {
      if (target.deleted) return 'deleted';
      await applyReaction(db, from, target.id, from, record.emoji, record.remove === true, record.at);
    }
    await db.insertInto('messaging_seen_ops').values({ peer: from, op_id: record.id, at: this.now() }).execute();
    await this.outbox.enqueue(db, from, 'ack', JSON.stringify({ t: 'ack', ids: [record.id] }));
    return undefined;
  }

  // ---- helpers ----

  /** Shows (or clears) a peer's typing indicator; it clears itself after {@link TYPING_EXPIRY_MS}. */
  private peerTyping(peer: UserId, typing: boolean): void {
    clearTimeout(this.typingTimers.get(peer));
    this.typingTimers.delete(peer);
    if (typing) {
      const timer = setTimeout(() => this.peerTyping(peer, false), TYPING_EXPIRY_MS);
      timer.unref?.();
      this.typingTimers.set(peer, timer);
    }
    this.changes.fire({ kind: 'typing', peer, typing });
  }

  private drop(from: UserId, reason: string, detail: string): void {
    this.ctx.log.warn('messaging: dropped a record from a peer', { from, reason, detail });
  }

  private statusChanged(change: { peer: UserId; id: string; status: MessageStatus; error?: { code: string; message: string } }): void {
    this.changes.fire({ kind: 'status', ...change });
    this.ctx.events.publish('messaging.status', change);
  }

  private async ownOperation(
    what: 'edit' | 'delete', id: string, record: (row: MessageRow, at: number) => EditRecord | DeleteRecord,
    apply: (db: Db, row: MessageRow, at: number) => Promise<void>,
  ): Promise<MessageView> {
    const row = await this.requireMessage(checkId(what, id));
    if (row.direction !== 'out') throw new AppError('messaging/not-yours', `The message ${id} was written by ${row.peer}; you can only ${what} your own messages.`);
    if (row.deleted) throw new AppError('messaging/deleted', `The message ${id} was deleted already.`);
    const peer = row.peer as UserId;
    const at = Math.max(this.now(), (row.edited_at ?? 0) + 1);
    await this.transaction(async (db) => {
      await apply(db, row, at);
      const pending = await db.selectFrom('messaging_outbox').select('oid').where('peer', '=', peer).where('message_id', '=', row.id).executeTakeFirst();
      if (pending && what === 'delete') {
        // Never sent: nothing to take back on the other side.
        await db.deleteFrom('messaging_outbox').where('oid', '=', pending.oid).execute();
      } else if (pending) {
        // Not sent yet: send the new text instead.
        const original = JSON.parse((await db.selectFrom('messaging_outbox').select('record').where('oid', '=', pending.oid).executeTakeFirstOrThrow()).record) as TextRecord;
        const edited = record(row, at) as EditRecord;
        await db.updateTable('messaging_outbox').set({ record: JSON.stringify({ ...original, text: edited.text }) }).where('oid', '=', pending.oid).execute();
      } else {
        await this.outbox.enqueue(db, peer, what, JSON.stringify(record(row, at)));
      }
    });
    const view = await this.viewOf(peer, row.id);
    this.changes.fire({ kind: 'updated', message: view });
    this.outbox.deliver(peer);
    return view;
  }

  private async resolvePeer(ref: string): Promise<UserId> {
    if (typeof ref !== 'string' || ref.trim() === '') throw new TypeError('messaging: expected a user ID or a contact name');
    try {
      return (await this.ctx.contacts.resolve(ref.trim())).userId;
    } catch (error) {
      if (isAppError(error, 'contacts/not-found') || isAppError(error, 'contacts/invalid-user-id')) {
        const hint = isUserId(ref.trim()) ? `Add them first: discordopus contacts add ${ref.trim()}` : 'Check the name with "discordopus contacts list".';
        throw new AppError('messaging/unknown-contact', `"${ref}" is not one of your contacts. ${hint}`, { cause: error });
      }
      throw error;
    }
  }

  private async requireMessage(id: string, peer?: UserId): Promise<MessageRow> {
    const row = peer ? await findMessage(this.db, peer, id) : await findMessageById(this.db, id);
    if (!row) throw new AppError('messaging/unknown-message', `There is no message ${id}${peer ? ` in the conversation with ${peer}` : ''}.`);
    return row;
  }

  private async viewOf(peer: UserId, id: string): Promise<MessageView> {
    const row = await findMessage(this.db, peer, id);
    if (!row) throw new AppError('messaging/unknown-message', `There is no message ${id}.`);
    return (await views(this.db, [row], this.self))[0]!;
  }
}

async function tombstone(db: Db, row: MessageRow): Promise<void> {
  await db.updateTable('messaging_messages').set({ text: null, deleted: 1 }).where('mid', '=', row.mid).execute();
  await db.deleteFrom('messaging_reactions').where('peer', '=', row.peer).where('message_id', '=', row.id).execute();
}

async function applyReaction(db: Db, peer: UserId, messageId: string, from: UserId, emoji: string, remove: boolean, at: number): Promise<void> {
  const key = (q: any) => q.where('peer', '=', peer).where('message_id', '=', messageId).where('from_user', '=', from).where('emoji', '=', emoji);
  await key(db.deleteFrom('messaging_reactions')).execute();
  if (!remove) await db.insertInto('messaging_reactions').values({ peer, message_id: messageId, from_user: from, emoji, at }).execute();
}

function checkText(fn: string, text: unknown): asserts text is string {
  if (typeof text !== 'string') throw new TypeError(`${fn}: text must be a string`);
  if (text.trim().length === 0) throw new AppError('messaging/invalid-text', 'The message is empty; type some text to send.');
  if (text.length > MAX_TEXT_LENGTH) {
    throw new AppError('messaging/invalid-text', `The message has ${text.length} characters; at most ${MAX_TEXT_LENGTH} fit in one message. Split it, or send it as a file.`);
  }
}

function checkId(fn: string, id: unknown): string {
  if (typeof id !== 'string' || !messageIdSchema.safeParse(id).success) throw new TypeError(`${fn}: expected a message id of 32 hex digits`);
  return id;
}

/** The user's words as an FTS5 query: each word quoted (no query syntax), AND-ed; `word*` keeps a prefix search. */
export function ftsQuery(text: string): string | undefined {
  const words = text.split(/\s+/).map((w) => w.trim()).filter((w) => w.length > 0).slice(0, 16);
  if (words.length === 0) return undefined;
  return words.map((w) => {
    const prefix = w.length > 1 && w.endsWith('*');
    const word = (prefix ? w.slice(0, -1) : w).replaceAll('"', '""');
    return `"${word}"${prefix ? '*' : ''}`;
  }).join(' ');
}
