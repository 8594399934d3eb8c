import { isAppError, type Disposable, type Logger, type SendReceipt, type UserId } from '@discordopus/sdk';
import { BATCHABLE_TYPES, MAX_BATCH_RECORDS, MAX_IDS_PER_RECORD } from '../common/messaging-protocol.ts';
import type { MessageStatus } from '../common/messaging-api.ts';
import { statusAdvances, type Db, type OutboxRow } from './messaging-store.ts';

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

/** Outbox rows read per delivery round: several full batches, so they travel pipelined. */
const ROWS_PER_RUN = MAX_BATCH_RECORDS * 8;
/** Encoded size a batch may reach (the protocol accepts 48 KiB). */
const BATCH_BYTES = 40_000;

/** Errors that retrying cannot fix: the message is marked failed until the user retries it. */
const LASTING = new Set(['channels/identity-changed', 'channels/not-a-contact', 'channels/too-large', 'plugin/permission-denied']);
/** Operations that refer to earlier messages: sent alone, after everything before them arrived. */
const BARRIERS = new Set(['edit', 'delete', 'reaction']);
const MERGEABLE = new Set(['receipt', 'ack']);

/**
 * The persistent outbox: records wait in `messaging_outbox` until the peer's kernel confirms
 * them, across restarts. Per peer, one delivery run at a time sends the oldest records first,
 * up to `window` at once (the kernel keeps their order on the wire); a failure stops the run and
 * schedules a retry with exponential backoff. Presence and link events call {@link flush} to
 * retry at once. Every record keeps its ids on each attempt, so the receiver drops duplicates.
 */
export class Outbox implements Disposable {
  private readonly running = new Map<UserId, Promise<void>>();
  /** A flush asked for while a run was going: run again (forced if any asker forced). */
  private readonly again = new Map<UserId, boolean>();
  private readonly timers = new Map<UserId, ReturnType<typeof setTimeout>>();
  private stopped = false;

  constructor(private readonly options: OutboxOptions) {}

  /** Adds a record (call inside the transaction that stores what it is about). */
  async enqueue(db: Db, peer: UserId, type: string, record: string, messageId?: string): Promise<void> {
    await db.insertInto('messaging_outbox').values({ peer, type, record, message_id: messageId ?? null, attempts: 0, next_attempt_at: 0, held: 0 }).execute();
  }

  /** Adds several records in one statement, in order. */
  async enqueueMany(db: Db, records: readonly { peer: UserId; type: string; record: string; messageId?: string }[]): Promise<void> {
    if (records.length === 0) return;
    await db.insertInto('messaging_outbox').values(records.map((r) => ({
      peer: r.peer, type: r.type, record: r.record, message_id: r.messageId ?? null, attempts: 0, next_attempt_at: 0, held: 0,
    }))).execute();
  }

  /** Delivers what is queued for `peer`; `force` ignores the backoff (the peer just came online). */
  flush(peer: UserId, force = false): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const current = this.running.get(peer);
    if (current) {
      this.again.set(peer, (this.again.get(peer) ?? false) || force);
      return current;
    }
    const run = (async () => {
      try {
        let next: boolean | undefined = force;
        while (next !== undefined && !this.stopped) {
          this.again.delete(peer);
          await this.deliver(peer, next);
          next = this.again.get(peer);
        }
      } catch (error) {
        if (!this.stopped) this.options.log.error('messaging: outbox run failed', { peer, error });
      } finally {
        this.running.delete(peer);
        this.again.delete(peer);
      }
    })();
    this.running.set(peer, run);
    return run;
  }

  /** Flushes every peer that has undelivered records. */
  async flushAll(force = false): Promise<void> {
    const peers = await this.options.db.selectFrom('messaging_outbox').select('peer').distinct().where('held', '=', 0).execute();
    await Promise.all(peers.map((p) => this.flush(p.peer as UserId, force)));
  }

  /** Waits for runs in progress, at most `timeoutMs`. */
  async idle(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.running.values()]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  dispose(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private async deliver(peer: UserId, force: boolean): Promise<void> {
    const { db, log } = this.options;
    let reachable = force;
    while (!this.stopped) {
      const rows = await db.selectFrom('messaging_outbox').selectAll().where('peer', '=', peer).where('held', '=', 0)
        .orderBy('oid').limit(ROWS_PER_RUN).execute();
      if (rows.length === 0) {
        this.clearTimer(peer);
        return;
      }
      const now = this.options.now();
      if (!reachable && rows[0]!.next_attempt_at > now) {
        this.schedule(peer, rows[0]!.next_attempt_at - now);
        return;
      }
      const units = this.group(rows);
      const results = await Promise.allSettled(units.map((u) => this.options.send(peer, new TextEncoder().encode(u.record))));
      // After shutdown began the database may be closing: the records stay queued for the next run.
      if (this.stopped) return;
      const sent = units.flatMap((unit, i) => {
        const r = results[i]!;
        return r.status === 'fulfilled' ? [{ unit, status: (r.value.stored ? 'delivered' : 'sent') as MessageStatus }] : [];
      });
      const failures = units.flatMap((u, i) => {
        const r = results[i]!;
        return r.status === 'rejected' ? [{ unit: u, error: r.reason as unknown }] : [];
      });
      const lasting = failures.filter((f) => isLasting(f.error));
      const transient = failures.filter((f) => !isLasting(f.error));
      const changes: Parameters<OutboxOptions['onStatus']>[0][] = [];
      const retryAt = transient.length > 0 ? now + this.backoff(transient[0]!.unit.rows[0]!.attempts + 1) : 0;
      await this.options.transaction(async (trx) => {
        for (const { unit, status } of sent) {
          await trx.deleteFrom('messaging_outbox').where('oid', 'in', unit.rows.map((r) => r.oid)).execute();
          const ids = messageIds(unit);
          if (ids.length === 0) continue;
          const rows = await trx.selectFrom('messaging_messages').select(['id', 'status']).where('peer', '=', peer).where('id', 'in', ids).execute();
          const advancing = rows.filter((r) => statusAdvances(r.status, status)).map((r) => r.id);
          if (advancing.length > 0) {
            await trx.updateTable('messaging_messages').set({ status, error_code: null, error_message: null })
              .where('peer', '=', peer).where('id', 'in', advancing).execute();
            for (const id of advancing) changes.push({ peer, id, status });
          }
        }
        for (const { unit, error } of failures) {
          const problem = describe(error);
          const oids = unit.rows.map((r) => r.oid);
          const texts = unit.rows.filter((r) => r.type === 'text').map((r) => r.oid);
          if (isLasting(error)) {
            // Messages stay (failed, for retry); a receipt or an operation that cannot be delivered is not worth keeping.
            if (texts.length > 0) await trx.updateTable('messaging_outbox').set({ held: 1 }).where('oid', 'in', texts).execute();
            const rest = oids.filter((oid) => !texts.includes(oid));
            if (rest.length > 0) await trx.deleteFrom('messaging_outbox').where('oid', 'in', rest).execute();
          } else {
            await trx.updateTable('messaging_outbox').set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: retryAt })).where('oid', 'in', oids).execute();
          }
          const ids = messageIds(unit);
          if (ids.length > 0) {
            const status: MessageStatus = isLasting(error) ? 'failed' : 'queued';
            await trx.updateTable('messaging_messages').set({ status, error_code: problem.code, error_message: problem.message })
              .where('peer', '=', peer).where('id', 'in', ids).where('status', 'in', ['queued', 'failed']).execute();
            for (const id of ids) changes.push({ peer, id, status, error: problem });
          }
        }
      });
      for (const change of changes) this.options.onStatus(change);
      for (const { unit, error } of lasting) log.warn('messaging: a record cannot be delivered; kept as failed', { peer, type: unit.type, code: describe(error).code });
      if (transient.length > 0) {
        log.debug('messaging: delivery failed; will retry', { peer, code: describe(transient[0]!.error).code, retryInMs: retryAt - now });
        this.schedule(peer, retryAt - now);
        return;
      }
      if (sent.length > 0) reachable = true;
    }
  }

  /**
   * The next records to send together, in order: receipts merged, runs of texts, receipts and
   * acks packed into batches, an edit/delete/reaction alone (after what came before it).
   */
  private group(rows: readonly OutboxRow[]): Unit[] {
    const window = this.options.window ?? 32;
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
      if (units.length >= window) break;
      units.push({ rows: [row], type: row.type, record: row.record });
    }
    for (const unit of units) {
      if (unit.parts) unit.record = `{"t":"batch","records":[${unit.parts.join(',')}]}`;
    }
    return units;
  }

  private backoff(attempts: number): number {
    const base = this.options.baseBackoffMs ?? 1_000;
    return Math.min(base * 2 ** Math.min(Math.max(attempts - 1, 0), 20), this.options.maxBackoffMs ?? 60_000);
  }

  private schedule(peer: UserId, delayMs: number): void {
    if (this.stopped) return;
    this.clearTimer(peer);
    const timer = setTimeout(() => {
      this.timers.delete(peer);
      void this.flush(peer);
    }, Math.max(delayMs, 0));
    // A queued message must not keep a one-shot command alive.
    timer.unref?.();
    this.timers.set(peer, timer);
  }

  private clearTimer(peer: UserId): void {
    const timer = this.timers.get(peer);
    if (timer) clearTimeout(timer);
    this.timers.delete(peer);
  }
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
