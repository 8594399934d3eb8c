import { afterAll, describe, expect, it } from 'vitest';
import { Emitter, isAppError, type LinkState, type Logger, type PeerMessage, type UserId } from '@discordopus/sdk';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { SessionTestBed, silentLogger, type Party } from '../sessions/session-test-support.ts';
import { SecureChannelsImpl, type EnvelopeRelay, type SecureChannelsOptions } from './secure-channels-impl.ts';
import { until as waitUntil } from '../../../../test/support/until.ts';

const crypto = new NodeCryptoProvider();
const bed = new SessionTestBed(crypto);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const open: SecureChannelsImpl[] = [];

/** A relay in memory: delivers on a later turn, like a network, to whoever is attached. */
class MemoryRelay {
  private readonly endpoints = new Map<UserId, Emitter<{ from: UserId; payload: Uint8Array }>>();
  attach(self: UserId): EnvelopeRelay {
    const emitter = new Emitter<{ from: UserId; payload: Uint8Array }>();
    this.endpoints.set(self, emitter);
    return {
      send: async (to, payload) => {
        const target = this.endpoints.get(to);
        if (!target) return 'offline';
        const copy = Uint8Array.from(payload);
        setImmediate(() => target.fire({ from: self, payload: copy }));
        return 'delivered';
      },
      onEnvelope: emitter.event,
    };
  }
  detach(self: UserId): void {
    this.endpoints.delete(self);
  }
}

async function channelsFor(party: Party, relay: MemoryRelay, extra: Partial<SecureChannelsOptions> = {}): Promise<SecureChannelsImpl> {
  const channels = new SecureChannelsImpl({ sessions: party.sessions, contacts: party.contacts, relay: relay.attach(party.keyring.userId), crypto, logger: silentLogger, ...extra });
  await channels.start();
  open.push(channels);
  return channels;
}

const until = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> => waitUntil(what, condition, timeoutMs);

afterAll(async () => {
  for (const c of open) await c.close();
  await bed.cleanup();
});

describe('SecureChannelsImpl', () => {
  it('hands out a record that a crash left in the inbox after the restart, once', async () => {
    const [a, b] = await bed.pair();
    const relay = new MemoryRelay();
    const alice = await channelsFor(a, relay);
    alice.startDelivery();
    const bob = await channelsFor(b, relay);
    const got: string[] = [];
    bob.onMessage('x/chat', (m) => void got.push(dec(m.data)));
    // Bob's kernel commits and acknowledges, but "crashes" before handing the record out.
    await alice.send(b.keyring.userId, 'x/chat', enc('survives'));
    await bob.close();
    relay.detach(b.keyring.userId);
    expect(got).toEqual([]);
    expect((await b.sessions.inbox()).map((e) => e.from)).toEqual([a.keyring.userId]);

    const bobAgain = await channelsFor(b, relay);
    const again: PeerMessage[] = [];
    bobAgain.onMessage('x/chat', (m) => void again.push(m));
    bobAgain.startDelivery();
    await until('the record', () => again.length === 1);
    expect(dec(again[0]!.data)).toBe('survives');
    expect(again[0]!.from).toBe(a.keyring.userId);
    await until('an empty inbox', async () => (await b.sessions.inbox()).length === 0);
    await alice.send(b.keyring.userId, 'x/chat', enc('next'));
    await until('the next record', () => again.length === 2);
  });

  it("runs a storing handler's store step in the receiving commit: stored acks, a failing step undone alone, the inbox before delivery starts", async () => {
    const [a, b] = await bed.pair();
    const relay = new MemoryRelay();
    await b.profile.db.schema.createTable('x_notes').addColumn('body', 'text').execute();
    const notes = async () => (await b.profile.db.selectFrom('x_notes').select('body').execute()).map((r) => r.body as string);
    const alice = await channelsFor(a, relay);
    const bob = await channelsFor(b, relay);
    const handled: [string, unknown][] = [];
    bob.onMessage('x/chat', {
      store: async (m, db) => {
        const body = dec(m.data);
        await db.insertInto('x_notes').values({ body }).execute();
        if (body.startsWith('poison')) throw new Error('store bug');
        return body.length;
      },
      handle: (m, stored) => void handled.push([dec(m.data), stored?.value]),
    });
    const to = b.keyring.userId;
    // Before the plugins are active, records go to the inbox: acked as not stored.
    expect(await alice.send(to, 'x/chat', enc('early'))).toEqual({ stored: false });
    expect(await notes()).toEqual([]);
    bob.startDelivery();
    await until('the early record', () => handled.length === 1);
    expect(handled[0]).toEqual(['early', undefined]);
    // Then the store step stores it in the commit that takes the ratchet step; nothing in the inbox.
    expect(await alice.send(to, 'x/chat', enc('hello'))).toEqual({ stored: true });
    expect(await notes()).toEqual(['hello']);
    await until('the stored record', () => handled.length === 2);
    expect(handled[1]).toEqual(['hello', 5]);
    // A step that throws is undone alone (its insert too); the record takes the inbox, and the conversation goes on.
    expect(await alice.send(to, 'x/chat', enc('poison'))).toEqual({ stored: false });
    expect(await notes()).toEqual(['hello']);
    expect(await alice.send(to, 'x/chat', enc('after'))).toEqual({ stored: true });
    await until('all records', () => handled.length === 4);
    expect(handled.slice(2)).toEqual([['poison', undefined], ['after', 5]]);
    expect(await notes()).toEqual(['hello', 'after']);
    await until('an empty inbox', async () => (await b.sessions.inbox()).length === 0);
  });

  it('logs a failing handler and goes on with the next message; reports link states', async () => {
    const [a, b] = await bed.pair();
    const relay = new MemoryRelay();
    const errors: string[] = [];
    const logger: Logger = { ...silentLogger, error: (message) => void errors.push(message), child: () => logger };
    const alice = await channelsFor(a, relay);
    const bob = await channelsFor(b, relay, { logger });
    const states: LinkState[] = [];
    alice.onDidChangeLinkState((e) => void states.push(e.state));
    expect(alice.linkState(b.keyring.userId)).toBe('idle');
    const got: string[] = [];
    bob.onMessage('x/chat', (m) => {
      if (dec(m.data) === 'boom') throw new Error('handler bug');
      got.push(dec(m.data));
    });
    bob.startDelivery();
    await alice.send(b.keyring.userId, 'x/chat', enc('boom'));
    await alice.send(b.keyring.userId, 'x/chat', enc('fine'));
    await until('the second message', () => got.length === 1);
    expect(got).toEqual(['fine']);
    expect(errors).toContain('channels: a message handler failed');
    expect(states).toEqual(['connecting', 'connected']);
  });

  it('waits for the relay to be ready, within the send timeout', async () => {
    const [a, b] = await bed.pair();
    const relay = new MemoryRelay();
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const alice = await channelsFor(a, relay, { ready });
    (await channelsFor(b, relay)).startDelivery();
    let done = false;
    const sending = alice.send(b.keyring.userId, 'x/chat', enc('early')).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    markReady();
    await sending;
    const never = await channelsFor(a, new MemoryRelay(), { ready: new Promise<void>(() => {}) });
    const error = await never.send(b.keyring.userId, 'x/chat', enc('never'), { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(isAppError(error, 'channels/peer-unreachable')).toBe(true);
  });

  it('refuses bad arguments and reserved kernel channel names', async () => {
    const [a, b] = await bed.pair();
    const alice = await channelsFor(a, new MemoryRelay());
    const to = b.keyring.userId;
    await expect(alice.send(to, 'kernel/peer-signal', enc('x'))).rejects.toThrow(TypeError);
    expect(() => alice.onMessage('kernel/peer-signal', () => {})).toThrow(TypeError);
    expect(() => alice.onMessage('x/chat', 'nope' as never)).toThrow(TypeError);
    expect(() => alice.onMessage('', () => {})).toThrow(TypeError);
    await expect(alice.send(to, 'x/chat', enc('x'), { timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(alice.send(to, 'x/chat', enc('x'), { timeoutMs: Number.NaN })).rejects.toThrow(RangeError);
    // Offline recipient (not attached to the relay): refused at once.
    const error = await alice.send(to, 'x/chat', enc('x')).catch((e: unknown) => e);
    expect(isAppError(error, 'channels/peer-unreachable')).toBe(true);
    expect(alice.linkState(to)).toBe('unreachable');
  });
});
