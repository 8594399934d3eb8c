import type { Generated, Kysely, Selectable } from 'kysely';
import { preparedQuery, type FtsTableOptions, type UserId } from '@discordopus/sdk';
import type { MessageStatus, MessageView, Reaction } from '../common/messaging-api.ts';

/*
 * The plugin's tables and the queries on them. Every function takes the handle to use, so the
 * caller decides what runs in one transaction.
 *
 * Order in a conversation: each row has a `sort` position, a local millisecond clock that only
 * grows within the conversation (a message written or received later sorts later). An incoming
 * message whose sequence number is lower than one already received from the same peer (a late
 * retry after a lost confirmation) is placed just before that one, so each author's messages
 * always appear in the order they were written; the interleaving of the two authors is the order
 * in which this side saw them. The sender's clock (`sent_at`) is shown, never trusted for order.
 */

/**
 * The full-text index of message texts. New messages reach it in batches (`deferred`): on the
 * path of one message, indexing it cost as much as the rest of its commit. The service indexes
 * what waits before each search and a moment after messages arrive (MessagingService.indexLater).
 */
export const MESSAGES_FTS: FtsTableOptions = {
  table: 'messaging_messages_fts', columns: ['text'], content: { table: 'messaging_messages', rowid: 'mid' }, indexing: 'deferred',
};

export interface MessagingTables {
  messaging_conversations: { peer: string; next_seq: number; last_in_seq: number };
  messaging_messages: {
    mid: Generated<number>;
    id: string;
    peer: string;
    direction: 'in' | 'out';
    seq: number;
    text: string | null;
    reply_to: string | null;
    sent_at: number;
    sort: number;
    status: MessageStatus;
    edited_at: number | null;
    deleted: number;
    error_code: string | null;
    error_message: string | null;
  };
  messaging_messages_fts: { rowid: number; text: string; messaging_messages_fts: string; rank: number };
  messaging_reactions: { peer: string; message_id: string; from_user: string; emoji: string; at: number };
  messaging_outbox: {
    oid: Generated<number>;
    peer: string;
    type: string;
    record: string;
    message_id: string | null;
    attempts: number;
    next_attempt_at: number;
    held: number;
  };
  messaging_seen_ops: { peer: string; op_id: string; at: number };
}

export type Db = Kysely<MessagingTables>;
export type MessageRow = Selectable<MessagingTables['messaging_messages']>;
export type OutboxRow = Selectable<MessagingTables['messaging_outbox']>;

const STATUS_RANK: Record<MessageStatus, number> = { failed: 0, queued: 1, sent: 2, delivered: 3, read: 4, received: 0 };

/** True when `next` is further along than `current` (statuses never go back, except through retry). */
export function statusAdvances(current: MessageStatus, next: MessageStatus): boolean {
  return STATUS_RANK[next] > STATUS_RANK[current];
}

/** The conversation row, created on first use. */
export async function conversation(db: Db, peer: UserId): Promise<{ next_seq: number; last_in_seq: number }> {
  const row = await db.selectFrom('messaging_conversations').select(['next_seq', 'last_in_seq']).where('peer', '=', peer).executeTakeFirst();
  if (row) return row;
  await db.insertInto('messaging_conversations').values({ peer, next_seq: 1, last_in_seq: 0 }).execute();
  return { next_seq: 1, last_in_seq: 0 };
}

export async function lastSort(db: Db, peer: UserId): Promise<number | undefined> {
  const row = await db.selectFrom('messaging_messages').select((eb) => eb.fn.max('sort').as('sort')).where('peer', '=', peer).executeTakeFirst();
  return row?.sort ?? undefined;
}

/** A conversation's counters: the next sequence number to send, the last one received, the latest sort position. */
export interface ConversationCounters {
  nextSeq: number;
  lastInSeq: number;
  lastSort: number | undefined;
}

/**
 * Conversation counters read once per peer and then kept in memory by the writers (two selects
 * less per message). Writers change them inside their transaction; if it rolls back, the counters
 * are ahead of the database, which is harmless: a gap in sequence numbers, a later sort position.
 * A writer that cannot keep them exact (the rare out-of-order path) forgets the peer.
 */
export class ConversationCache {
  private readonly byPeer = new Map<string, ConversationCounters>();

  /** The live counters of the conversation with `peer` (created on first use); change them as you write. */
  async get(db: Db, peer: UserId): Promise<ConversationCounters> {
    let counters = this.byPeer.get(peer);
    if (!counters) {
      const row = await conversation(db, peer);
      counters = { nextSeq: row.next_seq, lastInSeq: row.last_in_seq, lastSort: await lastSort(db, peer) };
      this.byPeer.set(peer, counters);
    }
    return counters;
  }

  forget(peer: UserId): void {
    this.byPeer.delete(peer);
  }
}

/** A position after everything in the conversation. */
export async function appendSort(db: Db, peer: UserId, now: number): Promise<number> {
  return nextSort(await lastSort(db, peer), now);
}

/** The position after `last` (the conversation's latest), at `now` if that is later. */
export function nextSort(last: number | undefined, now: number): number {
  return last === undefined || now > last ? now : last + 0.001;
}

export type NewMessage = Omit<MessageRow, 'mid'>;

/*
 * The statements of one message's path, prepared (built and compiled once: see preparedQuery):
 * sending or receiving a message one at a time runs these and little else.
 */
type NewMessageValues = [id: string, peer: string, direction: string, seq: number, text: string | null, replyTo: string | null, sentAt: number, sort: number, status: string];
/** One new message (no edit, error or deletion yet). */
const insertNewMessage = (db: Kysely<any>, ...[id, peer, direction, seq, text, replyTo, sentAt, sort, status]: NewMessageValues) =>
  db.insertInto('messaging_messages').values({
    id, peer, direction, seq, text, reply_to: replyTo, sent_at: sentAt, sort, status, edited_at: null, deleted: 0, error_code: null, error_message: null,
  });
const insertOneMessage = preparedQuery((db: Kysely<any>, ...values: NewMessageValues) => insertNewMessage(db, ...values).returning('mid'));
const insertOneMessageIfNew = preparedQuery((db: Kysely<any>, ...values: NewMessageValues) =>
  insertNewMessage(db, ...values).onConflict((oc) => oc.columns(['peer', 'id']).doNothing()).returning('mid'));
const selectMessage = preparedQuery((db: Kysely<any>, peer: string, id: string) => db.selectFrom('messaging_messages').selectAll().where('peer', '=', peer).where('id', '=', id));
const updateNextSeq = preparedQuery((db: Kysely<any>, nextSeq: number, peer: string) => db.updateTable('messaging_conversations').set({ next_seq: nextSeq }).where('peer', '=', peer));
const updateLastInSeq = preparedQuery((db: Kysely<any>, lastInSeq: number, peer: string) => db.updateTable('messaging_conversations').set({ last_in_seq: lastInSeq }).where('peer', '=', peer));

export async function setNextSeq(db: Db, peer: UserId, nextSeq: number): Promise<void> {
  await updateNextSeq(db, nextSeq, peer);
}

export async function setLastInSeq(db: Db, peer: UserId, lastInSeq: number): Promise<void> {
  await updateLastInSeq(db, lastInSeq, peer);
}

/** Inserts rows in one statement; returns them with their `mid`, in the same order. */
export async function insertMessages(db: Db, rows: readonly NewMessage[]): Promise<MessageRow[]> {
  if (rows.length === 0) return [];
  if (rows.length === 1 && rows[0]!.edited_at === null && rows[0]!.deleted === 0 && rows[0]!.error_code === null) {
    const r = rows[0]!;
    const { rows: [inserted] } = await insertOneMessage(db, r.id, r.peer, r.direction, r.seq, r.text, r.reply_to, r.sent_at, r.sort, r.status);
    return [{ ...r, mid: (inserted as { mid: number }).mid }];
  }
  const inserted = await db.insertInto('messaging_messages').values([...rows]).returning(['mid', 'id']).execute();
  const mids = new Map(inserted.map((r) => [r.id, r.mid]));
  return rows.map((r) => ({ ...r, mid: mids.get(r.id)! }));
}

/**
 * Inserts a new message (no edit, error or deletion yet) unless the conversation holds one with
 * its id: then undefined, and nothing changed. One statement instead of a lookup and an insert.
 */
export async function insertMessageIfNew(db: Db, row: NewMessage): Promise<MessageRow[] | undefined> {
  const { rows: [inserted] } = await insertOneMessageIfNew(db, row.id, row.peer, row.direction, row.seq, row.text, row.reply_to, row.sent_at, row.sort, row.status);
  return inserted ? [{ ...row, mid: (inserted as { mid: number }).mid }] : undefined;
}

/** The position of an incoming message with sequence `seq` (see the ordering note above). */
export async function incomingSort(db: Db, peer: UserId, seq: number, now: number): Promise<number> {
  const later = await db.selectFrom('messaging_messages').select('sort')
    .where('peer', '=', peer).where('direction', '=', 'in').where('seq', '>', seq)
    .orderBy('sort').limit(1).executeTakeFirst();
  if (!later) return appendSort(db, peer, now);
  const before = await db.selectFrom('messaging_messages').select((eb) => eb.fn.max('sort').as('sort'))
    .where('peer', '=', peer).where('sort', '<', later.sort).executeTakeFirst();
  return before?.sort != null ? (before.sort + later.sort) / 2 : later.sort - 1;
}

/**
 * Newest first, on the plain columns so that SQLite walks the (peer, sort) index backwards (its
 * entries end with the rowid, `mid`) instead of sorting the conversation's rows.
 */
export function newestFirst<Q extends { orderBy(expr: 'sort' | 'mid', direction: 'desc'): Q }>(query: Q): Q {
  return query.orderBy('sort', 'desc').orderBy('mid', 'desc');
}

export async function findMessage(db: Db, peer: UserId, id: string): Promise<MessageRow | undefined> {
  return (await selectMessage(db, peer, id)).rows[0] as MessageRow | undefined;
}

/** By id alone (ids are random, so at most one per conversation; the first if a peer reused one). */
export async function findMessageById(db: Db, id: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messaging_messages').selectAll().where('id', '=', id).orderBy('mid').limit(1).executeTakeFirst();
}

export async function reactionsOf(db: Db, rows: readonly MessageRow[]): Promise<Map<string, Reaction[]>> {
  const byKey = new Map<string, Reaction[]>();
  if (rows.length === 0) return byKey;
  const found = await db.selectFrom('messaging_reactions').select(['peer', 'message_id', 'from_user', 'emoji'])
    .where('message_id', 'in', rows.map((r) => r.id)).orderBy('at').execute();
  for (const r of found) {
    const key = `${r.peer}:${r.message_id}`;
    const list = byKey.get(key) ?? [];
    list.push({ from: r.from_user as UserId, emoji: r.emoji });
    byKey.set(key, list);
  }
  return byKey;
}

export function toView(row: MessageRow, self: UserId, reactions: Reaction[] = []): MessageView {
  const peer = row.peer as UserId;
  return {
    id: row.id,
    peer,
    direction: row.direction,
    from: row.direction === 'out' ? self : peer,
    text: row.deleted ? null : row.text,
    ...(row.reply_to ? { replyTo: row.reply_to } : {}),
    sentAt: row.sent_at,
    seq: row.seq,
    status: row.status,
    ...(row.edited_at !== null ? { editedAt: row.edited_at } : {}),
    deleted: row.deleted === 1,
    reactions,
    ...(row.error_code ? { error: { code: row.error_code, message: row.error_message ?? '' } } : {}),
    cursor: encodeCursor(row.sort, row.mid),
  };
}

export async function views(db: Db, rows: readonly MessageRow[], self: UserId): Promise<MessageView[]> {
  const reactions = await reactionsOf(db, rows);
  return rows.map((r) => toView(r, self, reactions.get(`${r.peer}:${r.id}`)));
}

export function encodeCursor(sort: number, mid: number): string {
  return `${sort}_${mid}`;
}

/** @returns undefined for text that is not a cursor this store made. */
export function decodeCursor(text: string): { sort: number; mid: number } | undefined {
  const match = /^(\d+(?:\.\d+)?(?:e[+-]?\d+)?)_(\d+)$/.exec(text);
  if (!match) return undefined;
  const sort = Number(match[1]);
  const mid = Number(match[2]);
  return Number.isFinite(sort) && Number.isSafeInteger(mid) ? { sort, mid } : undefined;
}
