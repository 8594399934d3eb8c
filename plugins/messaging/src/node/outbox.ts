import type { Kysely } from 'kysely';
import { isAppError, preparedQuery, type Disposable, type Logger, type SendReceipt, type UserId } from '@discordopus/sdk';
import { BATCHABLE_TYPES, MAX_BATCH_RECORDS, MAX_IDS_PER_RECORD } from '../common/messaging-protocol.ts';
import type { MessageStatus } from '../common/messaging-api.ts';
import { statusAdvances, type Db, type OutboxRow } from './messaging-store.ts';
import { doublingDelay } from './doubling-delay.ts';

export interface OutboxOptions {
  db: Db;
  transaction<T>(fn: (trx: Db) => Promise<T>): Promise<T>;
  /** Resolves once the peer's kernel stored the record (`stored`: its messaging plugin did, in that commit). */
  send(peer: UserId, data: Uint8Array): Promise<SendReceipt>;
  log: Logger;
  now(): number;
  onStatus(change: { peer: UserId; id: string; status: MessageStatus; error?: { code: string; message: string } }): void;
  /** Records in flight at once per peer. Default 32. */
  window?: number;
  /** Pack runs of texts, receipts and acks into batch records. Default true. */
  batch?: boolean;
  /** First retry delay; doubles per failed attempt up to {@link maxBackoffMs}. Default 1 s. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

interface Unit {
  rows: OutboxRow[];
  type: string;
  record: string;
  /** For a batch: the records it carries. */
  parts?: string[];
}

type StatusChange = Parameters<OutboxOptions['onStatus']>[0];

/** A unit the peer's kernel confirmed, whose rows wait to be deleted (see {@link Outbox.takeSettled}). */
export interface SettledUnit {
  peer: UserId;
  unit: Unit;
  status: MessageStatus;
}

/** Delivery state of one peer (in memory; the rows are the truth). */
interface PeerQueue {
  /** Units sent and not confirmed or failed yet. */
  inFlight: number;
  /** The rows of those units: never sent twice at once. */
  inFlightOids: Set<number>;
  /** Rows up to this oid were sent (or confirmed); rewound to 0 when rows behind it may need sending (a failure, a forced delivery). */
  cursor: number;
  /**
   * The last read found nothing more to send: every row is in flight or confirmed. A delivery then
   * reads nothing until a row is added or the cursor rewound (one statement fewer per message
   * received, and per confirmation).
   */
  drained: boolean;
  pumping: boolean;
  /** A delivery was asked for while pumping: look for rows again. */
  again: boolean;
  /** An edit, delete or reaction is in flight: it goes alone, so nothing follows until it is confirmed. */
  barrier: boolean;
  /** A send failed and will be retried: nothing more goes out until what is in flight settled. */
  failed: boolean;
  /** No attempt before this time (backoff), unless forced. */
  retryAt: number;
  /** The peer confirmed something since the last failure: queued rows need not wait for their backoff. */
  reachable: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Callers of {@link Outbox.flush} waiting for the peer to have nothing left to send now. */
  waiters: (() => void)[];
}

/** Outbox rows read per delivery round: several full batches, so they travel pipelined. */
const ROWS_PER_RUN = MAX_BATCH_RECORDS * 8;
/** Encoded size a batch may reach (the protocol accepts 48 KiB). */
const BATCH_BYTES = 40_000;
/**
 * Confirmed rows are deleted (and their messages marked delivered) at most this long after the
 * confirmation, together with other confirmations, or sooner by the next transaction that takes
 * them ({@link Outbox.takeSettled}): no commit of its own per message.
 */
const SETTLE_DELAY_MS = 25;

/* The statements of one message's delivery, prepared (see preparedQuery). */
const insertRow = preparedQuery((db: Kysely<any>, peer: string, type: string, record: string, messageId: string | null) =>
  db.insertInto('messaging_outbox').values({ peer, type, record, message_id: messageId, attempts: 0, next_attempt_at: 0, held: 0 }).returning('oid'));
const selectRows = preparedQuery((db: Kysely<any>, peer: string, after: number) =>
  db.selectFrom('messaging_outbox').selectAll().where('peer', '=', peer).where('held', '=', 0).where('oid', '>', after).orderBy('oid').limit(ROWS_PER_RUN));
const deleteRow = preparedQuery((db: Kysely<any>, oid: number) => db.deleteFrom('messaging_outbox').where('oid', '=', oid));
const selectStatus = preparedQuery((db: Kysely<any>, peer: string, id: string) => db.selectFrom('messaging_messages').select(['id', 'status']).where('peer', '=', peer).where('id', '=', id));
const updateStatus = preparedQuery((db: Kysely<any>, status: string, peer: string, id: string) =>
  db.updateTable('messaging_messages').set({ status, error_code: null, error_message: null }).where('peer', '=', peer).where('id', '=', id));

/** Errors that retrying cannot fix: the message is marked failed until the user retries it. */
const LASTING = new Set(['channels/identity-changed', 'channels/not-a-contact', 'channels/too-large', 'plugin/permission-denied']);
/** Operations that refer to earlier messages: sent alone, after everything before them arrived. */
const BARRIERS = new Set(['edit', 'delete', 'reaction']);
const MERGEABLE = new Set(['receipt', 'ack']);

/**
 * The persistent outbox: records wait in `messaging_outbox` until the peer's kernel confirms
 * them, across restarts. Per peer, records go out oldest first and pipelined: up to `window`
 * units in flight, and rows queued meanwhile are sent without waiting for earlier confirmations
 * (the kernel keeps their order on the wire). A failure stops sending to that peer and schedules
 * a retry with exponential backoff; presence and link events retry at once. Every record keeps
 * its ids on each attempt, so the receiver drops duplicates. Confirmed rows are deleted in
 * batches, shortly after (see {@link SETTLE_DELAY_MS}); until then they are never sent again.
 */
export class Outbox implements Disposable {
  private readonly queues = new Map<UserId, PeerQueue>();
  private readonly sending = new Set<Promise<void>>();
  /** Confirmed units whose rows are not deleted yet, and those rows' oids. */
  private settled: SettledUnit[] = [];
  private readonly settledOids = new Set<number>();
  private settleTimer: ReturnType<typeof setTimeout> | undefined;
  private settling: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: OutboxOptions) {}

  /** Adds a record (call inside the transaction that stores what it is about). */
  async enqueue(db: Db, peer: UserId, type: string, record: string, messageId?: string): Promise<void> {
    await insertRow(db, peer, type, record, messageId ?? null);
    this.added(peer);
  }

  /**
   * Adds texts (inside the transaction that stores them) and returns their rows, for
   * {@link deliverAdded} after the commit. Unlike {@link enqueue}, the peers' queues learn of
   * them only then: a transaction that rolls back leaves nothing to read.
   */
  async addTexts(db: Db, texts: readonly { peer: UserId; record: string; messageId: string }[]): Promise<OutboxRow[]> {
    const row = (t: (typeof texts)[number], oid: number): OutboxRow => ({
      oid, peer: t.peer, type: 'text', record: t.record, message_id: t.messageId, attempts: 0, next_attempt_at: 0, held: 0,
    });
    if (texts.length === 0) return [];
    if (texts.length === 1) {
      const t = texts[0]!;
      const { rows: [inserted] } = await insertRow(db, t.peer, 'text', t.record, t.messageId);
      return [row(t, (inserted as { oid: number }).oid)];
    }
    const inserted = await db.insertInto('messaging_outbox').values(texts.map((t) => ({
      peer: t.peer, type: 'text', record: t.record, message_id: t.messageId, attempts: 0, next_attempt_at: 0, held: 0,
    }))).returning(['oid', 'message_id']).execute();
    // RETURNING gives no order: match by message id (unique per text).
    const oids = new Map(inserted.map((r) => [r.message_id as string, r.oid as number]));
    return texts.map((t) => row(t, oids.get(t.messageId)!));
  }

  /**
   * Sends rows of `peer` that {@link addTexts} added and that are committed, without reading them
   * back, when they are all it has left to send: everything before them is in flight or
   * confirmed (the last read found nothing more, and nothing was added since). Otherwise, or if
   * a window, barrier, failure or backoff holds them, delivers as {@link deliver} does.
   */
  deliverAdded(peer: UserId, rows: readonly OutboxRow[]): void {
    if (this.stopped || rows.length === 0) return;
    const queue = this.queue(peer);
    const room = this.room(queue);
    const blocked = queue.pumping || queue.barrier || queue.failed || room <= 0 || queue.retryAt > this.options.now();
    if (!queue.drained || blocked || rows[0]!.oid <= queue.cursor) {
      queue.drained = false;
      return void this.pump(peer, queue);
    }
    const units = this.group(rows, room);
    for (const unit of units) this.start(peer, queue, unit);
    if (rowsIn(units) < rows.length) {
      queue.drained = false;
      void this.pump(peer, queue);
    }
  }

  /** A row for `peer` is being added (its transaction may still roll back: then one read too many). */
  private added(peer: UserId): void {
    const queue = this.queues.get(peer);
    if (queue) queue.drained = false;
  }

  /** Starts sending what is queued for `peer` (after an enqueue committed); `force` ignores the backoff (the peer just came online). */
  deliver(peer: UserId, force = false): void {
    if (this.stopped) return;
    const queue = this.queue(peer);
    if (force) {
      queue.retryAt = 0;
      queue.reachable = true;
      // A retry may have released held rows behind the cursor; a start has none in memory.
      queue.cursor = 0;
      queue.drained = false;
    }
    void this.pump(peer, queue);
  }

  /**
   * Delivers what is queued for `peer` and resolves once nothing more can go out now (all sent
   * and confirmed, or waiting for a retry), with the confirmations recorded.
   */
  async flush(peer: UserId, force = false): Promise<void> {
    if (this.stopped) return;
    const queue = this.queue(peer);
    const quiet = new Promise<void>((resolve) => queue.waiters.push(resolve));
    this.deliver(peer, force);
    await quiet;
    await this.settleNow();
  }

  /** Flushes every peer that has undelivered records. */
  async flushAll(force = false): Promise<void> {
    const peers = await this.options.db.selectFrom('messaging_outbox').select('peer').distinct().where('held', '=', 0).execute();
    await Promise.all(peers.map((p) => this.flush(p.peer as UserId, force)));
  }

  /** Waits for sends in progress, at most `timeoutMs`, then records the confirmations. */
  async idle(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.sending]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    await this.settleNow();
  }

  /** Stops sending and retrying (confirmations still arriving are recorded by {@link idle}). */
  dispose(): void {
    this.stopped = true;
    for (const queue of this.queues.values()) {
      clearTimeout(queue.timer);
      for (const wake of queue.waiters.splice(0)) wake();
    }
  }

  /**
   * Confirmed units whose rows are still to delete: a caller that commits anyway takes them and
   * records them in its transaction ({@link recordSettled}), then reports {@link settledCommitted}
   * (or {@link restoreSettled} if the transaction failed). Saves a commit per confirmation.
   */
  takeSettled(): SettledUnit[] {
    return this.settled.splice(0);
  }

  /** Deletes the rows of `items` and advances their messages' status, in `db`'s transaction. */
  async recordSettled(db: Db, items: readonly SettledUnit[]): Promise<StatusChange[]> {
    if (items.length === 0) return [];
    const oids = items.flatMap((i) => i.unit.rows.map((r) => r.oid));
    if (oids.length === 1) await deleteRow(db, oids[0]!);
    else await db.deleteFrom('messaging_outbox').where('oid', 'in', oids).execute();
    const byTarget = new Map<string, { peer: UserId; status: MessageStatus; ids: string[] }>();
    for (const { peer, unit, status } of items) {
      const ids = messageIds(unit);
      if (ids.length === 0) continue;
      const key = `${peer} ${status}`;
      const target = byTarget.get(key) ?? { peer, status, ids: [] };
      target.ids.push(...ids);
      byTarget.set(key, target);
    }
    const changes: StatusChange[] = [];
    for (const { peer, status, ids } of byTarget.values()) {
      // One message (one at a time, the usual case) takes the prepared statements.
      const rows = ids.length === 1
        ? (await selectStatus(db, peer, ids[0]!)).rows as { id: string; status: MessageStatus }[]
        : await db.selectFrom('messaging_messages').select(['id', 'status']).where('peer', '=', peer).where('id', 'in', ids).execute();
      const advancing = rows.filter((r) => statusAdvances(r.status, status)).map((r) => r.id);
      if (advancing.length === 1) await updateStatus(db, status, peer, advancing[0]!);
      else if (advancing.length > 1) {
        await db.updateTable('messaging_messages').set({ status, error_code: null, error_message: null })
          .where('peer', '=', peer).where('id', 'in', advancing).execute();
      }
      for (const id of advancing) changes.push({ peer, id, status });
    }
    return changes;
  }

  /** The transaction that recorded `items` committed: their rows are gone; reports the status changes. */
  settledCommitted(items: readonly SettledUnit[], changes: readonly StatusChange[]): void {
    for (const { unit } of items) for (const row of unit.rows) this.settledOids.delete(row.oid);
    for (const change of changes) this.options.onStatus(change);
  }

  /** The transaction that was to record `items` failed: they are recorded later. */
  restoreSettled(items: SettledUnit[]): void {
    this.settled.unshift(...items);
    this.scheduleSettle();
  }

  private queue(peer: UserId): PeerQueue {
    let queue = this.queues.get(peer);
    if (!queue) {
      queue = { inFlight: 0, inFlightOids: new Set(), cursor: 0, drained: false, pumping: false, again: false, barrier: false, failed: false, retryAt: 0, reachable: false, timer: undefined, waiters: [] };
      this.queues.set(peer, queue);
    }
    return queue;
  }

  private async pump(peer: UserId, queue: PeerQueue): Promise<void> {
    if (queue.pumping) {
      queue.again = true;
      return;
    }
    queue.pumping = true;
    try {
      do {
        queue.again = false;
        await this.sendMore(peer, queue);
      } while (queue.again && !this.stopped);
    } catch (error) {
      if (!this.stopped) this.options.log.error('messaging: outbox run failed', { peer, error });
    } finally {
      queue.pumping = false;
      this.wakeIfQuiet(queue);
    }
  }

  /** Sends the next rows while the window has room; returns when it is full, the rows ran out, or a barrier, failure or backoff holds the rest. */
  private async sendMore(peer: UserId, queue: PeerQueue): Promise<void> {
    while (!this.stopped) {
      if (queue.barrier) return;
      if (queue.failed) {
        if (queue.inFlight > 0) return;
        queue.failed = false;
      }
      const room = this.room(queue);
      if (room <= 0 || queue.drained) return;
      const read = (await selectRows(this.options.db, peer, queue.cursor)).rows as OutboxRow[];
      if (this.stopped) return;
      // Confirmed rows wait to be deleted, in-flight ones for their confirmation: neither goes again.
      const rows = read.filter((r) => !this.settledOids.has(r.oid) && !queue.inFlightOids.has(r.oid));
      if (rows.length === 0) {
        if (read.length < ROWS_PER_RUN) {
          this.clearTimer(queue);
          // Not while rows are in flight: one that fails goes again (its failure may be recorded right now).
          queue.drained = read.every((r) => !queue.inFlightOids.has(r.oid));
          return;
        }
        queue.cursor = read.at(-1)!.oid;
        continue;
      }
      const now = this.options.now();
      const waitUntil = Math.max(queue.retryAt, queue.reachable ? 0 : rows[0]!.next_attempt_at);
      if (waitUntil > now) {
        this.schedule(peer, queue, waitUntil - now);
        return;
      }
      const units = this.group(rows, room);
      const barrier = units.length === 1 && BARRIERS.has(units[0]!.type);
      // A barrier waits until everything before it was confirmed.
      if (barrier && queue.inFlight > 0) return;
      for (const unit of units) this.start(peer, queue, unit);
      if (barrier) {
        queue.barrier = true;
        return;
      }
      if (rowsIn(units) === rows.length && read.length < ROWS_PER_RUN) {
        queue.drained = true;
        return;
      }
    }
  }

  /** Units `queue` may still put in flight. */
  private room(queue: PeerQueue): number {
    return (this.options.window ?? 32) - queue.inFlight;
  }

  private start(peer: UserId, queue: PeerQueue, unit: Unit): void {
    queue.inFlight++;
    for (const row of unit.rows) queue.inFlightOids.add(row.oid);
    queue.cursor = Math.max(queue.cursor, unit.rows.at(-1)!.oid);
    const sending = this.options.send(peer, new TextEncoder().encode(unit.record)).then(
      (receipt) => this.confirmed(peer, queue, unit, receipt.stored ? 'delivered' : 'sent'),
      (error: unknown) => this.failed(peer, queue, unit, error),
    ).catch((error: unknown) => {
      if (!this.stopped) this.options.log.error('messaging: outbox bookkeeping failed', { peer, error });
    }).finally(() => {
      queue.inFlight--;
      for (const row of unit.rows) queue.inFlightOids.delete(row.oid);
      if (BARRIERS.has(unit.type)) queue.barrier = false;
      this.sending.delete(sending);
      if (!this.stopped) void this.pump(peer, queue);
      this.wakeIfQuiet(queue);
    });
    this.sending.add(sending);
  }

  private confirmed(peer: UserId, queue: PeerQueue, unit: Unit, status: MessageStatus): void {
    queue.reachable = true;
    for (const row of unit.rows) this.settledOids.add(row.oid);
    this.settled.push({ peer, unit, status });
    this.scheduleSettle();
  }

  /** A lasting failure marks the unit's messages failed; a transient one holds the peer's queue until a retry. */
  private async failed(peer: UserId, queue: PeerQueue, unit: Unit, error: unknown): Promise<void> {
    // After shutdown began the database may be closing: the records stay queued for the next run.
    if (this.stopped) return;
    const lasting = isLasting(error);
    const now = this.options.now();
    const retryAt = lasting ? 0 : now + this.backoff(unit.rows[0]!.attempts + 1);
    if (!lasting) {
      queue.failed = true;
      queue.reachable = false;
      // This unit and what was queued after it go again, in order, at the retry.
      queue.cursor = 0;
      queue.drained = false;
      queue.retryAt = Math.max(queue.retryAt, retryAt);
    }
    const problem = describe(error);
    const oids = unit.rows.map((r) => r.oid);
    const texts = unit.rows.filter((r) => r.type === 'text').map((r) => r.oid);
    const ids = messageIds(unit);
    const status: MessageStatus = lasting ? 'failed' : 'queued';
    await this.options.transaction(async (trx) => {
      if (lasting) {
        // Messages stay (failed, for retry); a receipt or an operation that cannot be delivered is not worth keeping.
        if (texts.length > 0) await trx.updateTable('messaging_outbox').set({ held: 1 }).where('oid', 'in', texts).execute();
        const rest = oids.filter((oid) => !texts.includes(oid));
        if (rest.length > 0) await trx.deleteFrom('messaging_outbox').where('oid', 'in', rest).execute();
      } else {
        await trx.updateTable('messaging_outbox').set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: retryAt })).where('oid', 'in', oids).execute();
      }
      if (ids.length > 0) {
        await trx.updateTable('messaging_messages').set({ status, error_code: problem.code, error_message: problem.message })
          .where('peer', '=', peer).where('id', 'in', ids).where('status', 'in', ['queued', 'failed']).execute();
      }
    });
    for (const id of ids) this.options.onStatus({ peer, id, status, error: problem });
    if (lasting) {
      this.options.log.warn('messaging: a record cannot be delivered; kept as failed', { peer, type: unit.type, code: problem.code });
    } else {
      this.options.log.debug('messaging: delivery failed; will retry', { peer, code: problem.code, retryInMs: retryAt - now });
      this.schedule(peer, queue, retryAt - now);
    }
  }

  private wakeIfQuiet(queue: PeerQueue): void {
    if (queue.pumping || (queue.inFlight > 0 && !this.stopped)) return;
    for (const wake of queue.waiters.splice(0)) wake();
  }

  private scheduleSettle(): void {
    if (this.settleTimer || this.stopped) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      void this.settleNow();
    }, SETTLE_DELAY_MS);
    this.settleTimer.unref?.();
  }

  /** Records the confirmations not taken by another transaction yet, in one transaction of its own. */
  private async settleNow(): Promise<void> {
    while (this.settling) await this.settling;
    const items = this.takeSettled();
    if (items.length === 0) return;
    this.settling = (async () => {
      let changes: StatusChange[];
      try {
        changes = await this.options.transaction((trx) => this.recordSettled(trx, items));
      } catch (error) {
        this.options.log.warn('messaging: could not record delivered messages; will try again', { code: describe(error).code });
        if (!this.stopped) this.restoreSettled(items);
        return;
      }
      this.settledCommitted(items, changes);
    })();
    try {
      await this.settling;
    } finally {
      this.settling = undefined;
    }
  }

  /**
   * The next records to send together, in order, at most `room` units: receipts merged, runs of
   * texts, receipts and acks packed into batches, an edit/delete/reaction alone (after what came
   * before it).
   */
  private group(rows: readonly OutboxRow[], room: number): Unit[] {
    const units: Unit[] = [];
    for (const row of rows) {
      if (BARRIERS.has(row.type)) {
        if (units.length === 0) units.push({ rows: [row], type: row.type, record: row.record });
        break;
      }
      const last = units.at(-1);
      if (last && !last.parts && MERGEABLE.has(row.type) && last.type === row.type) {
        const merged = merge(last.record, row.record);
        if (merged) {
          last.rows.push(row);
          last.record = merged;
          continue;
        }
      }
      if (last && BATCHABLE_TYPES.has(row.type as 'text') && BATCHABLE_TYPES.has(last.type as 'text') && this.options.batch !== false) {
        const parts = last.parts ?? [last.record];
        const bytes = parts.reduce((n, p) => n + p.length + 1, 0) + row.record.length;
        if (parts.length < MAX_BATCH_RECORDS && bytes <= BATCH_BYTES) {
          last.parts = [...parts, row.record];
          last.rows.push(row);
          continue;
        }
      }
      if (units.length >= room) break;
      units.push({ rows: [row], type: row.type, record: row.record });
    }
    for (const unit of units) {
      if (unit.parts) unit.record = `{"t":"batch","records":[${unit.parts.join(',')}]}`;
    }
    return units;
  }

  private backoff(attempts: number): number {
    const base = this.options.baseBackoffMs ?? 1_000;
    return doublingDelay(base, attempts - 1, this.options.maxBackoffMs ?? 60_000);
  }

  private schedule(peer: UserId, queue: PeerQueue, delayMs: number): void {
    if (this.stopped) return;
    this.clearTimer(queue);
    const timer = setTimeout(() => {
      queue.timer = undefined;
      void this.pump(peer, queue);
    }, Math.max(delayMs, 0));
    // A queued message must not keep a one-shot command alive.
    timer.unref?.();
    queue.timer = timer;
  }

  private clearTimer(queue: PeerQueue): void {
    clearTimeout(queue.timer);
    queue.timer = undefined;
  }
}

/** Outbox rows the units carry. */
function rowsIn(units: readonly Unit[]): number {
  return units.reduce((n, u) => n + u.rows.length, 0);
}

/** Ids of the messages a unit carries (their rows keep `message_id`). */
function messageIds(unit: Unit): string[] {
  return unit.rows.filter((r) => r.type === 'text' && r.message_id).map((r) => r.message_id!);
}

/** Two receipts of the same state (or two acks) as one record, if the ids fit. */
function merge(a: string, b: string): string | undefined {
  const left = JSON.parse(a) as { t: string; state?: string; ids: string[]; at?: number };
  const right = JSON.parse(b) as typeof left;
  if (left.t !== right.t || left.state !== right.state || left.ids.length + right.ids.length > MAX_IDS_PER_RECORD) return undefined;
  const ids = [...new Set([...left.ids, ...right.ids])];
  return JSON.stringify(left.at === undefined ? { ...left, ids } : { ...left, ids, at: Math.max(left.at, right.at ?? 0) });
}

function isLasting(error: unknown): boolean {
  return (isAppError(error) && LASTING.has(error.code)) || error instanceof TypeError || error instanceof RangeError;
}

function describe(error: unknown): { code: string; message: string } {
  if (isAppError(error)) return { code: error.code, message: error.message };
  return { code: 'messaging/send-failed', message: error instanceof Error ? error.message : String(error) };
}
