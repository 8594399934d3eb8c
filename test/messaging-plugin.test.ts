/*
 * The messaging plugin on two real kernels, each on its own encrypted temp profile. Between them
 * sits an in-process pair of SecureChannels (the SDK interface the real channels implement):
 * a test switches a side offline, loses confirmations, or injects raw bytes as a peer.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import { SecureChannels, ContactsService, IdentityInfo, nextEvent, type EventMap, type UserId } from '@discordopus/sdk';
import { Kernel } from '../core/src/node/kernel/kernel.ts';
import { PairedChannels } from './support/paired-channels.ts';
import { observeStatements } from '../core/src/node/storage/sqlite-errors.ts';
import { runMigrations } from '../core/src/node/storage/migrations.ts';
import { messagingMigrations } from '../plugins/messaging/src/node/messaging-migrations.ts';
import { ALICE, BOB, ListContacts, captureLogger, openTempProfile, type CapturedLogger, type TempProfile } from '../core/src/node/kernel/kernel-test-support.ts';
import {
  createMessagingPlugin, MAX_RECORD_BYTES, MAX_TEXT_LENGTH, type MessageView, type MessagingApi, type MessagingChange,
} from '../plugins/messaging/src/index.ts';

const CHANNEL = 'messaging/m';
const enc = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const hexId = (n: number) => n.toString(16).padStart(32, '0');

interface Side {
  name: string;
  self: UserId;
  other: UserId;
  profile: TempProfile;
  channels: PairedChannels;
  kernel: Kernel;
  api: MessagingApi;
  log: CapturedLogger;
  changes: MessagingChange[];
}

const sides: Side[] = [];
const profiles = new Set<TempProfile>();

async function startSide(name: string, self: UserId, other: UserId, channels: PairedChannels, profile?: TempProfile, indexDelayMs?: number): Promise<Side> {
  const log = captureLogger();
  const used = profile ?? (await openTempProfile());
  profiles.add(used);
  const contacts = new ListContacts([{ userId: other, name: name === 'alice' ? 'bob' : 'alice', verified: true, identityChanged: false, addedAt: 1 }]);
  const kernel = await Kernel.start({
    profileDir: used.dir, db: used.database.db, logger: log.logger,
    plugins: [createMessagingPlugin({ baseBackoffMs: 60_000, ...(indexDelayMs !== undefined ? { indexDelayMs } : {}) })],
    bind(container) {
      container.bind(IdentityInfo).toConstantValue({ userId: self, publicKey: new Uint8Array(32), displayName: name });
      container.bind(ContactsService).toConstantValue(contacts);
      container.bind(SecureChannels).toConstantValue(channels);
    },
  });
  expect(kernel.plugins()).toMatchObject([{ id: 'messaging', state: 'active' }]);
  const api = kernel.pluginApi<MessagingApi>('messaging')!;
  const side: Side = { name, self, other, profile: used, channels, kernel, api, log, changes: [] };
  api.onDidChange((c) => side.changes.push(c));
  sides.push(side);
  return side;
}

async function pair(): Promise<{ alice: Side; bob: Side }> {
  const [a, b] = PairedChannels.pair(ALICE, BOB);
  return { alice: await startSide('alice', ALICE, BOB, a), bob: await startSide('bob', BOB, ALICE, b) };
}

async function stopSide(side: Side): Promise<void> {
  sides.splice(sides.indexOf(side), 1);
  await side.kernel.stop();
}

afterEach(async () => {
  for (const side of [...sides]) await stopSide(side);
  for (const profile of profiles) await profile.cleanup();
  profiles.clear();
});

/** Waits for the status of message `id` at `side` to reach `status` (event-driven). */
async function status(side: Side, id: string, wanted: MessageView['status']): Promise<void> {
  // Subscribe before looking, so a change between the two is not missed.
  const next = nextEvent(side.api.onDidChange, (c) => c.kind === 'status' && c.id === id && c.status === wanted, 20_000);
  next.catch(() => undefined);
  if ((await side.api.message(id))?.status === wanted) return;
  await next;
}

async function texts(side: Side): Promise<(string | null)[]> {
  return (await side.api.history(side.other, { limit: 500 })).messages.map((m) => m.text);
}

/** The whole conversation, oldest first, page by page. */
async function allTexts(side: Side): Promise<(string | null)[]> {
  const all: (string | null)[] = [];
  let before: string | undefined;
  do {
    const page = await side.api.history(side.other, { limit: 500, ...(before ? { before } : {}) });
    all.unshift(...page.messages.map((m) => m.text));
    before = page.before;
  } while (before);
  return all;
}

function dropped(side: Side): string[] {
  return side.log.lines.filter((l) => l.msg === 'messaging: dropped a record from a peer' || l.message === 'messaging: dropped a record from a peer').map((l) => String(l.reason));
}

describe('messaging plugin: delivery', () => {
  it('delivers a text: queued, sent, delivered; the receiver stores it once and publishes messaging.received', async () => {
    const { alice, bob } = await pair();
    const received = nextEvent<EventMap['messaging.received']>((l) => bob.kernel.events.subscribe('messaging.received', l), undefined, 20_000);
    const statuses: string[] = [];
    alice.kernel.events.subscribe('messaging.status', (s) => statuses.push(s.status));
    const sent = await alice.api.sendText('bob', 'hello bob');
    expect(sent).toMatchObject({ status: 'queued', direction: 'out', from: ALICE, peer: BOB, seq: 1, text: 'hello bob' });
    expect(sent.id).toMatch(/^[0-9a-f]{32}$/);
    await status(alice, sent.id, 'delivered');
    expect(await received).toMatchObject({ from: ALICE, id: sent.id, text: 'hello bob' });
    // This transport has no receive transaction: the kernel-level "sent" may be recorded after the receipt's "delivered" (then it is skipped).
    expect(['sent,delivered', 'delivered']).toContain(statuses.join());
    const page = await bob.api.history('alice');
    expect(page.messages).toMatchObject([{ id: sent.id, direction: 'in', from: ALICE, status: 'received', text: 'hello bob' }]);
    expect(page.before).toBeUndefined();
    expect(await bob.api.conversations()).toMatchObject([{ peer: ALICE, name: 'alice', unread: 1, queued: 0 }]);
  });

  it('reads the outbox only when something may be queued there: not for every message received nor every confirmation', async () => {
    const { alice } = await pair();
    await status(alice, (await alice.api.sendText('bob', 'warm-up')).id, 'delivered');
    const reads: string[] = [];
    observeStatements((sql) => {
      if (sql.startsWith('select * from "messaging_outbox"')) reads.push(sql);
    });
    try {
      for (let i = 0; i < 5; i++) await status(alice, (await alice.api.sendText('bob', `one ${i}`)).id, 'delivered');
    } finally {
      observeStatements(undefined);
    }
    // Per message: Alice reads her text's row, Bob his receipt's (this transport stores no
    // message in the receiving commit, so Bob answers with a receipt). Nothing else.
    expect(reads.length).toBeLessThanOrEqual(2 * 5);
  });

  it('keeps a message queued while the peer is offline and delivers it when the link comes up', async () => {
    const { alice, bob } = await pair();
    bob.channels.online = false;
    const failed = nextEvent(alice.api.onDidChange, (c) => c.kind === 'status' && c.error?.code === 'channels/peer-unreachable', 20_000);
    const sent = await alice.api.sendText(BOB, 'are you there?');
    await failed;
    expect(await alice.api.message(sent.id)).toMatchObject({ status: 'queued', error: { code: 'channels/peer-unreachable' } });
    expect(await alice.api.conversations()).toMatchObject([{ peer: BOB, queued: 1 }]);
    bob.channels.online = true;
    alice.channels.announce();
    await status(alice, sent.id, 'delivered');
    expect(await texts(bob)).toEqual(['are you there?']);
    expect((await alice.api.message(sent.id))!.error).toBeUndefined();
  });

  it('survives a restart of the sender before delivery (persistent outbox)', async () => {
    const { alice, bob } = await pair();
    bob.channels.online = false;
    const failed = nextEvent(alice.api.onDidChange, (c) => c.kind === 'status' && c.error !== undefined, 20_000);
    const first = await alice.api.sendText(BOB, 'one');
    const second = await alice.api.sendText(BOB, 'two');
    await failed;
    await stopSide(alice);
    await alice.profile.reopen();
    bob.channels.online = true;
    const again = await startSide('alice', ALICE, BOB, alice.channels, alice.profile);
    await status(again, second.id, 'delivered');
    expect((await again.api.message(first.id))!.status).toBe('delivered');
    expect(await texts(bob)).toEqual(['one', 'two']);
  });

  it('shows a message once when the transport delivers it twice (lost confirmation, retry)', async () => {
    const { alice, bob } = await pair();
    alice.channels.loseAcks = 1;
    const failed = nextEvent(alice.api.onDidChange, (c) => c.kind === 'status' && c.error !== undefined, 20_000);
    const sent = await alice.api.sendText(BOB, 'only once');
    await failed;
    await alice.api.flush(BOB);
    await status(alice, sent.id, 'delivered');
    expect(alice.channels.attempts).toBeGreaterThanOrEqual(2);
    expect(await texts(bob)).toEqual(['only once']);
    expect(bob.changes.filter((c) => c.kind === 'message')).toHaveLength(1);
  });

  it('keeps each author\'s order, also for a late retry that arrives after later messages', async () => {
    const { alice, bob } = await pair();
    const sent: MessageView[] = [];
    for (let i = 1; i <= 20; i++) sent.push(await alice.api.sendText(BOB, `m${i}`));
    await status(alice, sent.at(-1)!.id, 'delivered');
    expect(await texts(bob)).toEqual(sent.map((m) => m.text));
    expect((await bob.api.history(ALICE, { limit: 500 })).messages.map((m) => m.seq)).toEqual(sent.map((_, i) => i + 1));
    // Injected as Alice: seq 22 arrives before seq 21 (as after a lost confirmation).
    await bob.channels.deliver({ from: ALICE, channel: CHANNEL, data: enc({ t: 'text', id: hexId(22), seq: 22, sentAt: 2, text: 'late 22' }), receivedAt: 0 });
    await bob.channels.deliver({ from: ALICE, channel: CHANNEL, data: enc({ t: 'text', id: hexId(21), seq: 21, sentAt: 1, text: 'late 21' }), receivedAt: 0 });
    expect((await texts(bob)).slice(-2)).toEqual(['late 21', 'late 22']);
  });

  it('sends a backlog in batches: order kept, each message once, receipts for all', async () => {
    const { alice, bob } = await pair();
    bob.channels.online = false;
    const failed = nextEvent(alice.api.onDidChange, (c) => c.kind === 'status' && c.error !== undefined, 20_000);
    const sent: MessageView[] = [];
    for (let i = 1; i <= 150; i++) sent.push(await alice.api.sendText(BOB, `backlog ${i}`));
    await failed;
    const attempts = alice.channels.attempts;
    bob.channels.online = true;
    alice.channels.loseAcks = 1; // the first batch arrives but its confirmation is lost: resent whole
    alice.channels.announce();
    await alice.api.flush(BOB);
    await Promise.all(sent.map((m) => status(alice, m.id, 'delivered')));
    expect(await texts(bob)).toEqual(sent.map((m) => m.text));
    expect(bob.changes.filter((c) => c.kind === 'message')).toHaveLength(150);
    // 150 messages in batches (MAX_BATCH_RECORDS), plus one resend: far fewer channel messages than texts.
    expect(alice.channels.attempts - attempts).toBeLessThan(10);
  });

  it('delivers a backlog larger than one read of the outbox, pipelined: each message once, in order, all delivered', async () => {
    const { alice, bob } = await pair();
    bob.channels.online = false;
    const failed = nextEvent(alice.api.onDidChange, (c) => c.kind === 'status' && c.error !== undefined, 20_000);
    // More rows than one read (2,048), queued at once: they share commits.
    const sent = await Promise.all(Array.from({ length: 2_300 }, (_, i) => alice.api.sendText(BOB, `many ${i}`)));
    await failed;
    bob.channels.online = true;
    alice.channels.announce();
    await alice.api.flush(BOB);
    await Promise.all(sent.map((m) => status(alice, m.id, 'delivered')));
    expect(await allTexts(bob)).toEqual(sent.map((m) => m.text));
    expect(bob.changes.filter((c) => c.kind === 'message')).toHaveLength(2_300);
    expect(await alice.api.conversations()).toMatchObject([{ peer: BOB, queued: 0 }]);
  });

  it('stores concurrent sends in call order; a bad one fails alone', async () => {
    const { alice, bob } = await pair();
    const calls = Array.from({ length: 40 }, (_, i) => alice.api.sendText(BOB, `c${i}`, i === 7 ? { replyTo: hexId(77) } : {}));
    const results = await Promise.allSettled(calls);
    expect(results[7]).toMatchObject({ status: 'rejected', reason: { code: 'messaging/unknown-message' } });
    const sent = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(sent.map((m) => m.seq)).toEqual(Array.from({ length: 39 }, (_, i) => i + 1));
    await Promise.all(sent.map((m) => status(alice, m.id, 'delivered')));
    expect(await texts(bob)).toEqual(sent.map((m) => m.text));
  });

  it('marks a lasting failure failed, and retry re-queues it', async () => {
    const { alice, bob } = await pair();
    alice.channels.failWith = 'channels/identity-changed';
    const sent = await alice.api.sendText(BOB, 'hold on');
    await status(alice, sent.id, 'failed');
    expect(await alice.api.message(sent.id)).toMatchObject({ status: 'failed', error: { code: 'channels/identity-changed' } });
    alice.channels.failWith = undefined;
    await alice.api.retry(sent.id);
    await status(alice, sent.id, 'delivered');
    expect(await texts(bob)).toEqual(['hold on']);
  });
});

describe('messaging plugin: receipts, replies, edits, deletes, reactions, typing', () => {
  it('sends read receipts when the user marks read (unless switched off)', async () => {
    const { alice, bob } = await pair();
    const a = await alice.api.sendText(BOB, 'first');
    const b = await alice.api.sendText(BOB, 'second');
    await status(alice, b.id, 'delivered');
    expect(await bob.api.markRead(ALICE, a.id)).toBe(1);
    await status(alice, a.id, 'read');
    expect((await alice.api.message(b.id))!.status).toBe('delivered');
    expect(await bob.api.conversations()).toMatchObject([{ unread: 1 }]);
    await bob.kernel.settings.set('messaging.sendReadReceipts', false);
    expect(await bob.api.markRead(ALICE)).toBe(1);
    expect(await bob.api.markRead(ALICE)).toBe(0);
    const c = await alice.api.sendText(BOB, 'third');
    await status(alice, c.id, 'delivered');
    expect((await alice.api.message(b.id))!.status).toBe('delivered');
  });

  it('carries replies, edits, deletes (tombstones) and reactions to the other side', async () => {
    const { alice, bob } = await pair();
    const question = await alice.api.sendText(BOB, 'lunch at noon?');
    await status(alice, question.id, 'delivered');
    const answer = await bob.api.sendText(ALICE, 'yes', { replyTo: question.id });
    await status(bob, answer.id, 'delivered');
    expect(await alice.api.message(answer.id)).toMatchObject({ replyTo: question.id, text: 'yes' });

    const applied = (side: Side) => nextEvent(side.api.onDidChange, (c) => c.kind === 'applied', 20_000);
    let ack = applied(alice);
    await alice.api.edit(question.id, 'lunch at one?');
    await ack;
    expect(await bob.api.message(question.id)).toMatchObject({ text: 'lunch at one?', editedAt: expect.any(Number) });

    ack = applied(bob);
    await bob.api.react(question.id, '👍');
    await ack;
    expect((await alice.api.message(question.id))!.reactions).toEqual([{ from: BOB, emoji: '👍' }]);
    ack = applied(bob);
    await bob.api.react(question.id, '👍', { remove: true });
    await ack;
    expect((await alice.api.message(question.id))!.reactions).toEqual([]);

    ack = applied(alice);
    await alice.api.delete(question.id);
    await ack;
    expect(await bob.api.message(question.id)).toMatchObject({ text: null, deleted: true });
    expect(await bob.api.search('lunch')).toEqual([]);
    await expect(alice.api.edit(question.id, 'again')).rejects.toMatchObject({ code: 'messaging/deleted' });
    await expect(bob.api.react(question.id, '👍')).rejects.toMatchObject({ code: 'messaging/deleted' });
  });

  it('edits or deletes of a message that is still queued change what will be sent', async () => {
    const { alice, bob } = await pair();
    bob.channels.online = false;
    const typo = await alice.api.sendText(BOB, 'helo');
    const gone = await alice.api.sendText(BOB, 'never mind');
    await alice.api.edit(typo.id, 'hello');
    await alice.api.delete(gone.id);
    bob.channels.online = true;
    alice.channels.announce();
    await status(alice, typo.id, 'delivered');
    expect(await texts(bob)).toEqual(['hello']);
  });

  it('reports typing without storing it', async () => {
    const { alice, bob } = await pair();
    const typing = nextEvent(bob.api.onDidChange, (c) => c.kind === 'typing', 20_000);
    await alice.api.setTyping('bob', true);
    expect(await typing).toEqual({ kind: 'typing', peer: ALICE, typing: true });
    expect(await texts(bob)).toEqual([]);
    // A message from the typist ends the indicator.
    const stopped = nextEvent(bob.api.onDidChange, (c) => c.kind === 'typing' && !c.typing, 20_000);
    await alice.api.sendText(BOB, 'done typing');
    await stopped;
    bob.channels.online = false;
    await expect(alice.api.setTyping('bob', false)).resolves.toBeUndefined();
  });
});

describe('messaging plugin: history and search', () => {
  it('pages history with cursors, oldest first within a page', async () => {
    const { alice } = await pair();
    alice.channels.peer.online = false;
    for (let i = 1; i <= 25; i++) await alice.api.sendText(BOB, `note ${i}`);
    const first = await alice.api.history(BOB, { limit: 10 });
    expect(first.messages.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `note ${i + 16}`));
    const second = await alice.api.history(BOB, { limit: 10, before: first.before! });
    expect(second.messages.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `note ${i + 6}`));
    const third = await alice.api.history(BOB, { limit: 10, before: second.before! });
    expect(third.messages.map((m) => m.text)).toEqual(Array.from({ length: 5 }, (_, i) => `note ${i + 1}`));
    expect(third.before).toBeUndefined();
    await expect(alice.api.history(BOB, { before: 'nonsense' })).rejects.toMatchObject({ code: 'messaging/invalid-cursor' });
    await expect(alice.api.history(BOB, { limit: 0 })).rejects.toThrow(RangeError);
  });

  it('searches message text with FTS5 (words AND-ed, prefixes, no query syntax from the user)', async () => {
    const { alice, bob } = await pair();
    const m1 = await alice.api.sendText(BOB, 'The quick brown fox');
    await alice.api.sendText(BOB, 'a lazy dog');
    const m3 = await bob.api.sendText(ALICE, 'Quick question about the café');
    await status(bob, m3.id, 'delivered');
    await status(alice, m1.id, 'delivered');
    expect((await alice.api.search('quick')).map((m) => m.id).sort()).toEqual([m1.id, m3.id].sort());
    expect((await alice.api.search('quick fox')).map((m) => m.id)).toEqual([m1.id]);
    expect((await alice.api.search('cafe')).map((m) => m.id)).toEqual([m3.id]);
    expect((await alice.api.search('bro*')).map((m) => m.id)).toEqual([m1.id]);
    expect(await alice.api.search('"unbalanced OR (')).toEqual([]);
    expect(await alice.api.search('   ')).toEqual([]);
    expect((await bob.api.search('quick', { peer: 'alice' })).length).toBe(2);
  });

  it('indexes new texts for search in batches: before each search, and a moment later; a profile indexed the old way keeps its index', async () => {
    // A profile from before batched indexing: its texts were indexed as they were written.
    const old = await openTempProfile();
    profiles.add(old);
    await runMigrations(old.database.db, 'messaging', messagingMigrations.slice(0, 2), { tablePrefix: 'messaging_' });
    await old.database.db.insertInto('messaging_messages').values({
      id: hexId(1), peer: BOB, direction: 'out', seq: 1, text: 'written before the upgrade', sent_at: 1, sort: 1, status: 'delivered',
    }).execute();
    const [a, b] = PairedChannels.pair(ALICE, BOB);
    const alice = await startSide('alice', ALICE, BOB, a, old, 3_600_000);
    const bob = await startSide('bob', BOB, ALICE, b, undefined, 50);
    const waiting = async (side: Side) =>
      Number((await side.profile.database.db.selectFrom('messaging_messages_fts_pending').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const fresh = await alice.api.sendText(BOB, 'fresh words');
    await status(alice, fresh.id, 'delivered'); // a status change leaves the index alone
    expect(await waiting(alice)).toBe(1);
    expect((await alice.api.search('fresh')).map((m) => m.id)).toEqual([fresh.id]);
    expect((await alice.api.search('upgrade')).map((m) => m.id)).toEqual([hexId(1)]);
    expect(await waiting(alice)).toBe(0);
    // Bob's side indexes on its own after 50 ms, without a search.
    await vi.waitFor(async () => expect(await waiting(bob)).toBe(0), { timeout: 10_000, interval: 20 });
    await sql`INSERT INTO messaging_messages_fts(messaging_messages_fts, rank) VALUES ('integrity-check', 1)`.execute(bob.profile.database.db);
    await sql`INSERT INTO messaging_messages_fts(messaging_messages_fts, rank) VALUES ('integrity-check', 1)`.execute(alice.profile.database.db);
    // Stopping indexes what waits, so the next start has nothing to catch up on.
    await alice.api.sendText(BOB, 'last words');
    expect(await waiting(alice)).toBe(1);
    await stopSide(alice);
    expect(await waiting(alice)).toBe(0);
  });
});

describe('messaging plugin: a search index that fails', () => {
  it('is tried again less and less often, and catches up once it can; texts are stored meanwhile', async () => {
    const [a, b] = PairedChannels.pair(ALICE, BOB);
    const alice = await startSide('alice', ALICE, BOB, a, undefined, 3_600_000);
    const bob = await startSide('bob', BOB, ALICE, b, undefined, 20);
    const db = bob.profile.database.db;
    const failures = () => bob.log.text().split('could not update the search index').length - 1;
    // The index table goes missing (as a damaged one would fail).
    await sql`ALTER TABLE messaging_messages_fts RENAME TO messaging_messages_fts_away`.execute(db);
    const sent = await alice.api.sendText(BOB, 'words to find later');
    await status(alice, sent.id, 'delivered');
    await vi.waitFor(() => expect(failures()).toBeGreaterThanOrEqual(3), { timeout: 10_000, interval: 20 });
    // Retried every 20 ms, a second would hold ~50 more runs; doubling delays leave room for ~3.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(failures()).toBeLessThanOrEqual(9);
    expect((await bob.api.history(ALICE)).messages.map((m) => m.text)).toEqual(['words to find later']);

    await sql`ALTER TABLE messaging_messages_fts_away RENAME TO messaging_messages_fts`.execute(db);
    const waiting = async () => Number((await db.selectFrom('messaging_messages_fts_pending').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    await vi.waitFor(async () => expect(await waiting()).toBe(0), { timeout: 10_000, interval: 20 });
    expect((await bob.api.search('find')).map((m) => m.id)).toEqual([sent.id]);
  });
});

describe('messaging plugin: bad input', () => {
  it('drops malformed, oversized, unknown, invalid and foreign records with a logged reason; the conversation goes on', async () => {
    const { alice, bob } = await pair();
    const inject = (data: Uint8Array, from: UserId = ALICE) => bob.channels.deliver({ from, channel: CHANNEL, data, receivedAt: 0 });
    const mine = await bob.api.sendText(ALICE, 'bob wrote this');
    await status(bob, mine.id, 'delivered');

    await inject(new Uint8Array([0xff, 0xfe, 0x00]));
    await inject(enc('{"t":"text",'));
    await inject(new Uint8Array(MAX_RECORD_BYTES + 1).fill(0x20));
    await inject(enc({ t: 'launch-missiles', id: hexId(1) }));
    await inject(enc({ t: 'text', id: hexId(2), seq: 0, sentAt: 1, text: 'bad seq' }));
    await inject(enc({ t: 'text', id: 'not-hex', seq: 1, sentAt: 1, text: 'bad id' }));
    await inject(enc({ t: 'text', id: hexId(3), seq: 1, sentAt: 1, text: 'x'.repeat(MAX_TEXT_LENGTH + 1) }));
    await inject(enc({ t: 'text', id: hexId(4), seq: 1, sentAt: 1, text: 'extra', admin: true }));
    // Alice may not edit or delete what Bob wrote, nor react to what does not exist.
    await inject(enc({ t: 'edit', id: hexId(5), target: mine.id, text: 'forged', at: Date.now() }));
    await inject(enc({ t: 'delete', id: hexId(6), target: mine.id, at: Date.now() }));
    await inject(enc({ t: 'reaction', id: hexId(7), target: hexId(999), emoji: '💥', at: 1 }));
    // A text that reuses the id of Bob's own message.
    await inject(enc({ t: 'text', id: mine.id, seq: 5, sentAt: 1, text: 'collision' }));
    // From someone who is not a contact.
    await inject(enc({ t: 'text', id: hexId(8), seq: 1, sentAt: 1, text: 'spam' }), 'do1stranger' as UserId);

    expect(dropped(bob)).toEqual([
      'malformed', 'malformed', 'oversized', 'unknown-type', 'invalid', 'invalid', 'invalid', 'invalid',
      'not-author', 'not-author', 'unknown-target', 'id-collision', 'not-a-contact',
    ]);
    expect(bob.log.text()).not.toContain('forged');
    expect(bob.log.text()).not.toContain('spam');
    expect(await bob.api.message(mine.id)).toMatchObject({ text: 'bob wrote this', deleted: false });

    const after = await alice.api.sendText(BOB, 'still talking');
    await status(alice, after.id, 'delivered');
    expect(await texts(bob)).toEqual(['bob wrote this', 'still talking']);
  });

  it('refuses bad API input with clear errors', async () => {
    const { alice, bob } = await pair();
    await expect(alice.api.sendText(BOB, '   ')).rejects.toMatchObject({ code: 'messaging/invalid-text' });
    await expect(alice.api.sendText(BOB, 'x'.repeat(MAX_TEXT_LENGTH + 1))).rejects.toMatchObject({ code: 'messaging/invalid-text' });
    await expect(alice.api.sendText('carol', 'hi')).rejects.toMatchObject({ code: 'messaging/unknown-contact' });
    await expect(alice.api.sendText(BOB, 'hi', { replyTo: hexId(1) })).rejects.toMatchObject({ code: 'messaging/unknown-message' });
    await expect(alice.api.sendText(BOB, 42 as unknown as string)).rejects.toThrow(TypeError);
    await expect(alice.api.edit('nope', 'x')).rejects.toThrow(TypeError);
    await expect(alice.api.edit(hexId(1), 'x')).rejects.toMatchObject({ code: 'messaging/unknown-message' });
    await expect(alice.api.react(hexId(1), '')).rejects.toMatchObject({ code: 'messaging/invalid-reaction' });
    const theirs = await bob.api.sendText(ALICE, 'mine');
    await status(bob, theirs.id, 'delivered');
    await expect(alice.api.edit(theirs.id, 'changed')).rejects.toMatchObject({ code: 'messaging/not-yours' });
    await expect(alice.api.delete(theirs.id)).rejects.toMatchObject({ code: 'messaging/not-yours' });
    await expect(alice.api.retry(theirs.id)).rejects.toMatchObject({ code: 'messaging/not-yours' });
    await expect(alice.api.search(7 as unknown as string)).rejects.toThrow(TypeError);
    await expect(alice.api.setTyping(BOB, 'yes' as unknown as boolean)).rejects.toThrow(TypeError);
  });

  it('offers the messaging.send command and the conversation view', async () => {
    const { alice, bob } = await pair();
    const view = await alice.kernel.contributions.executeCommand('messaging.send', 'bob', 'via command') as MessageView;
    await status(alice, view.id, 'delivered');
    expect(await texts(bob)).toEqual(['via command']);
    await expect(alice.kernel.contributions.executeCommand('messaging.send', 'bob')).rejects.toThrow(TypeError);
    expect(alice.kernel.contributions.views().map((v) => v.id)).toContain('messaging.conversation');
  });
});
