import { afterAll, describe, expect, it } from 'vitest';
import { isAppError } from '@discordopus/sdk';
import { until } from '../../../../test/support/until.ts';
import { equalBytes } from '../../common/crypto/bytes.ts';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { RATCHET_HEADER_BYTES, decodeRatchetHeader } from '../../common/protocol/double-ratchet.ts';
import { RENEW_RESERVATION_BELOW, RESERVED_SENDING_KEYS } from './session-manager.ts';
import { SessionTestBed, type Party } from './session-test-support.ts';
import { HeldSync } from '../storage/storage-test-support.ts';
import { WalFileSync } from '../storage/deferred-sync.ts';
import { decodeSessionEnvelope } from './session-envelope.ts';
import { PREKEYS_TABLE, SESSIONS_TABLE } from './session-migrations.ts';
import { encodeSessionReset } from './session-reset.ts';

const crypto = new NodeCryptoProvider();
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const bed = new SessionTestBed(crypto);
const directory = bed.directory;
const open = (dir: string, create: boolean, name: string) => bed.open(dir, create, name);
const pair = () => bed.pair();

async function deliver(from: Party, to: Party, payload: Uint8Array): Promise<string> {
  const entry = await to.sessions.receive(from.keyring.userId, payload);
  await to.sessions.removeFromInbox(entry.inboxId);
  return dec(entry.plaintext);
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error.code;
}

afterAll(() => bed.cleanup());

describe('SessionManager', () => {
  it('starts a session with X3DH, consumes the one-time prekey once, and talks both ways', async () => {
    const [a, b] = await pair();
    const before = await b.sessions.prekeys.oneTimePrekeyCount();
    expect(before).toBe(5);
    const first = await a.sessions.encrypt(b.keyring.userId, enc('hello bob'));
    expect(decodeSessionEnvelope(first).x3dh?.oneTimePrekeyId).toBeDefined();
    // Until Bob answers, Alice repeats her X3DH header: either message can start Bob's session.
    const second = await a.sessions.encrypt(b.keyring.userId, enc('second'));
    expect(decodeSessionEnvelope(second).x3dh).toEqual(decodeSessionEnvelope(first).x3dh);
    expect(await deliver(a, b, second)).toBe('second');
    expect(await deliver(a, b, first)).toBe('hello bob');
    expect(await b.sessions.prekeys.oneTimePrekeyCount()).toBe(before - 1);
    const reply = await b.sessions.encrypt(a.keyring.userId, enc('hi alice'));
    expect(decodeSessionEnvelope(reply).x3dh).toBeUndefined();
    expect(await deliver(b, a, reply)).toBe('hi alice');
    const third = await a.sessions.encrypt(b.keyring.userId, enc('third'));
    expect(decodeSessionEnvelope(third).x3dh).toBeUndefined();
    expect(await deliver(a, b, third)).toBe('third');
    // Both learned the other's identity key in the first session.
    expect((await a.contacts.get(b.keyring.userId))?.identityKey).toEqual(b.keyring.info.publicKey);
    expect((await b.contacts.get(a.keyring.userId))?.identityKey).toEqual(a.keyring.info.publicKey);
  });

  it('rejects replays, tampering and forged senders and keeps the session working', async () => {
    const [a, b] = await pair();
    const m1 = await a.sessions.encrypt(b.keyring.userId, enc('one'));
    expect(await deliver(a, b, m1)).toBe('one');
    expect(await failure(b.sessions.receive(a.keyring.userId, m1))).toBe('crypto/replay');
    const m2 = await a.sessions.encrypt(b.keyring.userId, enc('two'));
    const tampered = Uint8Array.from(m2);
    tampered[tampered.length - 1]! ^= 1;
    expect(await failure(b.sessions.receive(a.keyring.userId, tampered))).toBe('crypto/auth-failed');
    expect(await failure(b.sessions.receive(a.keyring.userId, m2.subarray(0, 20)))).toBe('crypto/malformed');
    // The server claims a third party sent Alice's envelope.
    const [c] = await pair();
    await b.contacts.add(c.keyring.userId);
    expect(await failure(b.sessions.receive(c.keyring.userId, m2))).toBe('sessions/forged-sender');
    expect(await deliver(a, b, m2)).toBe('two');
    // Strangers are dropped before any work.
    const [stranger] = await pair();
    await stranger.contacts.add(b.keyring.userId);
    const spam = await stranger.sessions.encrypt(b.keyring.userId, enc('spam'));
    expect(await failure(b.sessions.receive(stranger.keyring.userId, spam))).toBe('sessions/not-a-contact');
  });

  it('decrypts out of order and survives a restart without a new X3DH', async () => {
    const [a, b] = await pair();
    const messages = [];
    for (let i = 0; i < 5; i++) messages.push(await a.sessions.encrypt(b.keyring.userId, enc(`m${i}`)));
    for (const i of [4, 0, 2, 1, 3]) expect(await deliver(a, b, messages[i]!)).toBe(`m${i}`);
    expect(await deliver(b, a, await b.sessions.encrypt(a.keyring.userId, enc('ok')))).toBe('ok');

    await a.profile.close();
    await b.profile.close();
    const a2 = await open(a.dir, false, 'alice');
    const b2 = await open(b.dir, false, 'bob');
    const fetches = directory.fetches;
    const again = await a2.sessions.encrypt(b2.keyring.userId, enc('after restart'));
    expect(decodeSessionEnvelope(again).x3dh).toBeUndefined();
    expect(await deliver(a2, b2, again)).toBe('after restart');
    expect(await deliver(b2, a2, await b2.sessions.encrypt(a2.keyring.userId, enc('back')))).toBe('back');
    expect(directory.fetches).toBe(fetches);
  });

  it('decrypts a burst in one batch: a bad envelope fails alone, the others commit', async () => {
    const [a, b] = await pair();
    const sent = await Promise.all(['x0', 'x1', 'x2', 'x3'].map((t) => a.sessions.encrypt(b.keyring.userId, enc(t))));
    const tampered = Uint8Array.from(sent[2]!);
    tampered[tampered.length - 1]! ^= 1;
    // The first is an X3DH message; all four arrive while none has been processed.
    const results = await Promise.allSettled([sent[0]!, sent[1]!, tampered, sent[3]!].map((m) => b.sessions.receive(a.keyring.userId, m)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(results.flatMap((r) => (r.status === 'fulfilled' ? [dec(r.value.plaintext)] : []))).toEqual(['x0', 'x1', 'x3']);
    expect((await b.sessions.inbox()).map((e) => dec(e.plaintext))).toEqual(['x0', 'x1', 'x3']);
    expect(await deliver(a, b, sent[2]!)).toBe('x2'); // the genuine copy still opens (skipped key kept)
    expect(await deliver(b, a, await b.sessions.encrypt(a.keyring.userId, enc('ok')))).toBe('ok');
  });

  it('with deferred commits, hands received records out at once; their replies and later ciphertexts wait until the disk confirmed', async () => {
    let held!: HeldSync;
    const [a, b] = await bed.pair((wal) => (held = new HeldSync(new WalFileSync(wal))));
    const bobId = b.keyring.userId;
    const aliceId = a.keyring.userId;
    const replies: Uint8Array[] = [];
    b.sessions.setResponder({ reply: (_from, received) => received.map((r) => enc(`ack ${dec(r.plaintext)}`)), transmit: (_to, payload) => void replies.push(payload) });
    // First contact: Bob records Alice's identity key in a commit of its own, synced before it
    // returns, which covers the receiving commit before it too: that reply leaves at once.
    await b.sessions.receive(aliceId, await a.sessions.encrypt(bobId, enc('hello')));
    await until('the first ack', () => replies.length === 1, 5_000);
    await a.sessions.receive(bobId, replies.shift()!, () => 'none');
    const syncs = held.started.length;
    const entry = await b.sessions.receive(aliceId, await a.sessions.encrypt(bobId, enc('data 1')));
    expect(dec(entry.plaintext)).toBe('data 1');
    expect(held.started).toHaveLength(syncs + 1);
    let answered = false;
    const answer = b.sessions.encrypt(aliceId, enc('answer')).then((payload) => {
      answered = true;
      return payload;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(replies).toHaveLength(0);
    expect(answered).toBe(false);
    held.release();
    await until('the ack', () => replies.length === 1, 5_000);
    expect(dec((await a.sessions.receive(bobId, replies[0]!, () => 'none')).plaintext)).toBe('ack data 1');
    expect(await deliver(b, a, await answer)).toBe('answer');
  });

  it('holds a ciphertext back for its own ratchet commits only: another deferred commit of the profile does not delay it', async () => {
    let held!: HeldSync;
    const [a, b] = await bed.pair((wal) => (held = new HeldSync(new WalFileSync(wal))));
    const bobId = b.keyring.userId;
    const aliceId = a.keyring.userId;
    held.release();
    expect(await deliver(a, b, await a.sessions.encrypt(bobId, enc('hello')))).toBe('hello');
    expect(await deliver(b, a, await b.sessions.encrypt(aliceId, enc('hi')))).toBe('hi');
    // Bob's sending chain and its key reservation are committed and on disk.
    await b.sessions.drain();
    await b.profile.deferredSync.whenDurable();
    held.hold();
    // A plugin's deferred commit (the messaging plugin stores the texts the user sends so): its sync is held.
    await b.profile.deferredSync.transaction(b.profile.db, async (trx) => {
      await trx.schema.createTable('notes').addColumn('body', 'text').execute();
    });
    expect(held.started).toHaveLength(1);
    expect(b.profile.deferredSync.whenDurable()).toBeDefined();
    // Within the reservation: the ratchet step needs no commit, so its ciphertext leaves at once.
    const atOnce = await Promise.race([b.sessions.encrypt(aliceId, enc('at once')), new Promise<undefined>((resolve) => setTimeout(resolve, 2_000))]);
    held.release(); // (a failure above must not leave the profile's close waiting)
    expect(atOnce, 'the ciphertext waited for the other commit').toBeDefined();
    expect(await deliver(b, a, atOnce!)).toBe('at once');
    held.hold();
    // A step that commits (receiving Alice's message) is held back until that commit is on disk.
    await b.sessions.receive(aliceId, await a.sessions.encrypt(bobId, enc('again')));
    let answered = false;
    const answer = b.sessions.encrypt(aliceId, enc('after the disk')).then((payload) => {
      answered = true;
      return payload;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(answered).toBe(false);
    held.release();
    expect(await deliver(b, a, await answer)).toBe('after the disk');
  });

  it('answers a receive batch in its own commit, and keeps steps that store nothing in memory until the next commit', async () => {
    const [a, b] = await pair();
    const bobId = b.keyring.userId;
    const aliceId = a.keyring.userId;
    const replies: Uint8Array[] = [];
    b.sessions.setResponder({
      reply: (_from, received) => received.filter((r) => dec(r.plaintext).startsWith('data')).map((r) => enc(`ack ${dec(r.plaintext)}`)),
      transmit: (_to, payload) => void replies.push(payload),
    });
    const sent = await Promise.all(['data 1', 'data 2', 'signal'].map((t) => a.sessions.encrypt(bobId, enc(t))));
    const entries = await Promise.all(sent.map((m, i) => b.sessions.receive(aliceId, m, () => (i < 2 ? 'inbox' : 'none'))));
    expect(entries.map((e) => e.inboxId === undefined)).toEqual([false, false, true]);
    // Two data records, one batch: two replies, sent once the batch committed, in ratchet order.
    expect(replies).toHaveLength(2);
    const stateOf = async (party: Party, peer: string) => (await party.profile.db.selectFrom(SESSIONS_TABLE).select('state').where('peer', '=', peer).executeTakeFirstOrThrow()).state as Uint8Array;
    const committed = await stateOf(a, bobId);
    const acks = await Promise.all(replies.map((r) => a.sessions.receive(bobId, r, () => 'none')));
    expect(acks.map((e) => dec(e.plaintext))).toEqual(['ack data 1', 'ack data 2']);
    expect(acks.every((e) => e.inboxId === undefined)).toBe(true);
    // Alice stored nothing and answered nothing: no commit of its own for her ratchet step...
    expect(await stateOf(a, bobId)).toEqual(committed);
    // ...but it is used (a replay of an ack is refused), and as it started a new sending chain it is
    // committed right after, off the path of her next send, which then commits nothing.
    expect(await failure(a.sessions.receive(bobId, replies[0]!, () => 'none'))).toBe('crypto/replay');
    await until('the new sending chain to be committed', async () => !equalBytes(await stateOf(a, bobId), committed), 5_000);
    const saved = await stateOf(a, bobId);
    const next = await a.sessions.encrypt(bobId, enc('data 3'));
    expect(await stateOf(a, bobId)).toEqual(saved);
    expect(decodeSessionEnvelope(next).x3dh).toBeUndefined(); // she has heard from Bob
    expect(dec((await b.sessions.receive(aliceId, next)).plaintext)).toBe('data 3');

    // A crash loses uncommitted ack steps only: the session goes on (skipped keys) after a restart.
    const more = await b.sessions.encrypt(aliceId, enc('ack x'));
    await a.sessions.receive(bobId, more, () => 'none');
    await a.profile.close();
    const a2 = await open(a.dir, false, 'alice');
    const late = await b.sessions.encrypt(aliceId, enc('after the crash'));
    expect(dec((await a2.sessions.receive(bobId, late)).plaintext)).toBe('after the crash');
    expect(await deliver(a2, b, await a2.sessions.encrypt(bobId, enc('still fine')))).toBe('still fine');
    // drain() commits what is held in memory.
    const last = await b.sessions.encrypt(aliceId, enc('ack y'));
    await a2.sessions.receive(bobId, last, () => 'none');
    const before = await stateOf(a2, bobId);
    await a2.sessions.drain();
    expect(await stateOf(a2, bobId)).not.toEqual(before);
  });

  it('reserves sending keys: sends within the reservation commit nothing; a crash skips the reserved keys and never reuses one', async () => {
    const [a, b] = await pair();
    const bobId = b.keyring.userId;
    const aliceId = a.keyring.userId;
    const stateOf = async (party: Party) => (await party.profile.db.selectFrom(SESSIONS_TABLE).select('state').where('peer', '=', bobId).executeTakeFirstOrThrow()).state as Uint8Array;
    const n = (payload: Uint8Array) => decodeRatchetHeader(decodeSessionEnvelope(payload).message.subarray(0, RATCHET_HEADER_BYTES)).n;
    expect(await deliver(a, b, await a.sessions.encrypt(bobId, enc('hello')))).toBe('hello');
    // Alice stores Bob's answer: that commit reserves keys on her new sending chain.
    expect(await deliver(b, a, await b.sessions.encrypt(aliceId, enc('hi')))).toBe('hi');
    const committed = await stateOf(a);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) sent.push(await a.sessions.encrypt(bobId, enc(`r${i}`)));
    expect(sent.map(n)).toEqual([0, 1, 2]);
    expect(await stateOf(a)).toEqual(committed);

    // Crash: the profile closes without drain. The stored chain is ahead of every key used.
    await a.profile.close();
    const a2 = await open(a.dir, false, 'alice');
    const after = await a2.sessions.encrypt(bobId, enc('after the crash'));
    expect(n(after)).toBe(RESERVED_SENDING_KEYS);
    expect(await deliver(a2, b, after)).toBe('after the crash');
    // What left before the crash still opens (skipped keys), in any order.
    for (const i of [2, 0, 1]) expect(await deliver(a2, b, sent[i]!)).toBe(`r${i}`);
    expect(await failure(b.sessions.receive(aliceId, sent[1]!))).toBe('crypto/replay');

    // The restart's first send committed a new reservation; the sends within it commit nothing
    // until it runs low: the send that leaves fewer than RENEW_RESERVATION_BELOW keys renews it in
    // a commit after its turn (not on its own path).
    const reserved = await stateOf(a2);
    const untilLow = RESERVED_SENDING_KEYS - RENEW_RESERVATION_BELOW;
    const within: Uint8Array[] = [];
    for (let i = 0; i < untilLow; i++) within.push(await a2.sessions.encrypt(bobId, enc(`within ${i}`)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await stateOf(a2)).toEqual(reserved);
    const low = await a2.sessions.encrypt(bobId, enc('low'));
    expect(await stateOf(a2)).toEqual(reserved);
    await until('the reservation is renewed', async () => !equalBytes(await stateOf(a2), reserved), 5_000);
    // Renewed ahead of the last key used: a crash now would skip keys, never reuse one.
    await a2.profile.close();
    const a3 = await open(a2.dir, false, 'alice');
    const beyond = await a3.sessions.encrypt(bobId, enc('beyond'));
    expect(n(beyond)).toBe(n(low) + 1 + RESERVED_SENDING_KEYS);
    for (const [i, m] of within.entries()) expect(await deliver(a3, b, m)).toBe(`within ${i}`);
    expect(await deliver(a3, b, low)).toBe('low');
    expect(await deliver(a3, b, beyond)).toBe('beyond');
    expect(await deliver(b, a3, await b.sessions.encrypt(aliceId, enc('back')))).toBe('back');
  });

  it('renews a reservation from where the last one ended: one chain step per key sent, not two', async () => {
    class CountingCrypto extends NodeCryptoProvider {
      chainSteps = 0;
      override hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array {
        this.chainSteps++;
        return super.hmacSha512(key, data);
      }
    }
    const counting = new CountingCrypto();
    const countingBed = new SessionTestBed(counting);
    try {
      const [a, b] = await countingBed.pair();
      const bobId = b.keyring.userId;
      expect(await deliver(a, b, await a.sessions.encrypt(bobId, enc('hello')))).toBe('hello');
      expect(await deliver(b, a, await b.sessions.encrypt(a.keyring.userId, enc('hi')))).toBe('hi');
      await a.sessions.drain();
      const sends = 10 * RESERVED_SENDING_KEYS;
      const before = counting.chainSteps;
      const sent: Uint8Array[] = [];
      for (let i = 0; i < sends; i++) {
        sent.push(await a.sessions.encrypt(bobId, enc(`m${i}`)));
        if (i % 8 === 7) await a.sessions.drain();
      }
      await a.sessions.drain();
      // One step for each key used, one to reserve it; the last reservation reaches at most its length ahead.
      expect(counting.chainSteps - before).toBeLessThanOrEqual(2 * sends + RESERVED_SENDING_KEYS);
      for (const [i, m] of sent.entries()) expect(await deliver(a, b, m)).toBe(`m${i}`);
    } finally {
      await countingBed.cleanup();
    }
  });

  it('resets a session only on a fresh request signed by the contact, for us; replays, forgeries and redirects are refused', async () => {
    const [a, b] = await pair();
    const aliceId = a.keyring.userId;
    const bobId = b.keyring.userId;
    expect(await deliver(a, b, await a.sessions.encrypt(bobId, enc('hello')))).toBe('hello');
    const resets: string[] = [];
    a.sessions.onDidResetSession(({ peer }) => void resets.push(peer));
    const request = (by = b, to: string = aliceId, at = Date.now()) => encodeSessionReset(crypto, (m) => by.keyring.sign(m), by.keyring.info.publicKey, to, at);

    const [c] = await pair();
    await a.contacts.add(c.keyring.userId);
    // Carol's signed request, presented by the server as Bob's.
    expect(await failure(a.sessions.receive(bobId, request(c)))).toBe('sessions/bad-reset');
    // Bob's request to Carol, redirected to Alice: the signature covers the recipient.
    expect(await failure(a.sessions.receive(bobId, request(b, c.keyring.userId)))).toBe('crypto/invalid-signature');
    // Too old, or tampered.
    expect(await failure(a.sessions.receive(bobId, request(b, aliceId, Date.now() - 3_600_000)))).toBe('sessions/bad-reset');
    const tampered = request();
    tampered[40]! ^= 1;
    expect(await failure(a.sessions.receive(bobId, tampered))).toBe('crypto/invalid-signature');
    expect(await a.sessions.hasSession(bobId)).toBe(true);
    expect(resets).toEqual([]);

    const genuine = request();
    expect(await failure(a.sessions.receive(bobId, genuine))).toBe('sessions/session-reset');
    expect(resets).toEqual([bobId]);
    expect(await a.sessions.hasSession(bobId)).toBe(false);
    // The same request again (a replay by the server) changes nothing.
    const next = await a.sessions.encrypt(bobId, enc('new session'));
    expect(decodeSessionEnvelope(next).x3dh).toBeDefined();
    // The one-time prekeys the server holds may be the lost profile's: the new session uses none.
    expect(decodeSessionEnvelope(next).x3dh?.oneTimePrekeyId).toBeUndefined();
    expect(await failure(a.sessions.receive(bobId, genuine))).toBe('sessions/bad-reset');
    expect(resets).toEqual([bobId]);
    expect(await a.sessions.hasSession(bobId)).toBe(true);
  });

  it('asks for a new session, at most every 30 s, when a contact writes on a session it does not have', async () => {
    const [a, b] = await pair();
    // Carol plays Bob's restored profile: Alice is a contact, but there is no session with her.
    const [c] = await pair();
    await c.contacts.add(a.keyring.userId);
    const sent: Uint8Array[] = [];
    c.sessions.setResponder({ reply: () => [], transmit: (_to, payload) => void sent.push(payload) });
    expect(await deliver(a, b, await a.sessions.encrypt(b.keyring.userId, enc('one')))).toBe('one');
    expect(await deliver(b, a, await b.sessions.encrypt(a.keyring.userId, enc('two')))).toBe('two');
    const plain = await a.sessions.encrypt(b.keyring.userId, enc('three'));
    expect(decodeSessionEnvelope(plain).x3dh).toBeUndefined();
    expect(await failure(c.sessions.receive(a.keyring.userId, plain))).toBe('sessions/no-session');
    expect(await failure(c.sessions.receive(a.keyring.userId, plain))).toBe('sessions/no-session');
    expect(sent).toHaveLength(1);
    expect(sent[0]![1]).toBe(3); // a reset request envelope
  });

  it('keeps a decrypted message in the inbox until it is removed', async () => {
    const [a, b] = await pair();
    const entry = await b.sessions.receive(a.keyring.userId, await a.sessions.encrypt(b.keyring.userId, enc('keep me')));
    expect((await b.sessions.inbox()).map((e) => dec(e.plaintext))).toEqual(['keep me']);
    await b.sessions.removeFromInbox(entry.inboxId);
    expect(await b.sessions.inbox()).toEqual([]);
  });

  it('converges when both sides start a session at the same time', async () => {
    const [a, b] = await pair();
    const fromA = await a.sessions.encrypt(b.keyring.userId, enc('a1'));
    const fromB = await b.sessions.encrypt(a.keyring.userId, enc('b1'));
    expect(await deliver(a, b, fromA)).toBe('a1');
    expect(await deliver(b, a, fromB)).toBe('b1');
    for (let i = 0; i < 3; i++) {
      expect(await deliver(a, b, await a.sessions.encrypt(b.keyring.userId, enc(`a${i}`)))).toBe(`a${i}`);
      expect(await deliver(b, a, await b.sessions.encrypt(a.keyring.userId, enc(`b${i}`)))).toBe(`b${i}`);
    }
    const rows = await a.profile.db.selectFrom(SESSIONS_TABLE).select('initiator').execute();
    expect(rows).toHaveLength(2);
  });

  it('refuses a replayed first message once its one-time prekey is used, and serialises concurrent sends', async () => {
    const [a, b] = await pair();
    const first = await a.sessions.encrypt(b.keyring.userId, enc('first'));
    expect(await deliver(a, b, first)).toBe('first');
    // Bob lost the session (e.g. reset); the replayed first message must not start a new one.
    await b.profile.db.deleteFrom(SESSIONS_TABLE).execute();
    expect(await failure(b.sessions.receive(a.keyring.userId, first))).toBe('sessions/unknown-prekey');
    const [c, d] = await pair();
    const sent = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => c.sessions.encrypt(d.keyring.userId, enc(`p${i}`))));
    const got = [];
    for (const m of sent) got.push(await deliver(c, d, m));
    expect(got).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
    expect(await d.profile.db.selectFrom(PREKEYS_TABLE).select('key_id').where('kind', '=', 'one-time').execute()).toHaveLength(4);
  });

  it('refuses to send to non-contacts, unreachable directories and forged bundles', async () => {
    const [a, b] = await pair();
    const [c] = await pair();
    expect(await failure(a.sessions.encrypt(c.keyring.userId, enc('x')))).toBe('channels/not-a-contact');
    const [lonely] = await pair();
    await a.contacts.add(lonely.keyring.userId);
    directory.entries.delete(lonely.keyring.userId);
    expect(await failure(a.sessions.encrypt(lonely.keyring.userId, enc('x')))).toBe('channels/peer-unreachable');
    // A directory that swaps the identity key in Bob's bundle (re-signed by the attacker's key).
    const entry = directory.entries.get(b.keyring.userId)!;
    const attacker = crypto.ed25519GenerateKeyPair();
    const original = entry.identityKey;
    entry.identityKey = attacker.publicKey;
    expect(await failure(a.sessions.encrypt(b.keyring.userId, enc('x')))).toBe('channels/identity-changed');
    entry.identityKey = original;
    expect(await a.sessions.hasSession(b.keyring.userId)).toBe(false);
  });
});
