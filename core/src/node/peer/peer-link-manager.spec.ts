import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { nextEvent, type AppError } from '@discordopus/sdk';
import { PeerLinkManager, type PeerLinkManagerOptions, type PeerManagerMessage } from './peer-link-manager.ts';
import { InMemorySignalRelay } from './in-memory-signal-relay.ts';
import type { PeerLinkState } from './peer-link.ts';

const managers: PeerLinkManager[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.dispose()));
});

type Extra = Partial<Omit<PeerLinkManagerOptions, 'localId' | 'sendSignal'>>;

function manager(relay: InMemorySignalRelay, localId: string, extra: Extra = {}): PeerLinkManager {
  const m: PeerLinkManager = new PeerLinkManager({ localId, sendSignal: (to, s) => send(to, s), ...extra, link: { loopbackOnly: true, ...extra.link } });
  const send = relay.attach(localId, (from, signal) => m.handleSignal(from, signal));
  managers.push(m);
  return m;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe('PeerLinkManager', () => {
  it('opens a link on demand from either side and delivers with the sender id', async () => {
    const relay = new InMemorySignalRelay();
    const alice = manager(relay, 'alice');
    const bob = manager(relay, 'bob');
    const atBob = nextEvent(bob.onMessage, () => true, 20_000);
    await alice.send('bob', 'chat', bytes('hello bob'));
    const message = await atBob;
    expect(message.remoteId).toBe('alice');
    expect(message.channel).toBe('chat');
    expect(text(message.data)).toBe('hello bob');
    // bob's link was created by alice's signals and is reused for the reply.
    expect(bob.remoteIds()).toEqual(['alice']);
    const atAlice = nextEvent(alice.onMessage, () => true, 20_000);
    await bob.send('alice', 'chat', bytes('hi alice'));
    expect(text((await atAlice).data)).toBe('hi alice');
    expect(alice.remoteIds()).toEqual(['bob']);
  });

  it('closes a link after the idle timeout and reopens it for the next send', async () => {
    const relay = new InMemorySignalRelay();
    const alice = manager(relay, 'alice', { idleTimeoutMs: 600 });
    const bob = manager(relay, 'bob', { idleTimeoutMs: 60_000 });
    await alice.send('bob', 'chat', bytes('one'));
    const firstLink = alice.get('bob');
    const closed = nextEvent(alice.onDidChangeState, (e) => e.remoteId === 'bob' && e.state === 'closed', 20_000);
    const bobSawBye = nextEvent(bob.onDidChangeState, (e) => e.state === 'disconnected', 20_000);
    await closed;
    await bobSawBye;
    expect(alice.get('bob')).toBeUndefined();
    const atBob = nextEvent(bob.onMessage, () => true, 20_000);
    await alice.send('bob', 'chat', bytes('two'));
    expect(text((await atBob).data)).toBe('two');
    expect(alice.get('bob')).not.toBe(firstLink);
  });

  it('reconnects with backoff when the link drops while sends are queued', async () => {
    const relay = new InMemorySignalRelay();
    const alice = manager(relay, 'alice', { retry: { initialDelayMs: 50, maxDelayMs: 400, maxAttempts: 8 } });
    const bob = manager(relay, 'bob');
    await alice.send('bob', 'warmup', bytes('x'));
    const states: PeerLinkState[] = [];
    alice.onDidChangeState((e) => states.push(e.state));
    const received: PeerManagerMessage[] = [];
    bob.onMessage((m) => received.push(m));

    const chunk = randomBytes(256 * 1024);
    const count = 24;
    const sends = Array.from({ length: count }, (_, i) => {
      const data = new Uint8Array(chunk);
      data[0] = i;
      return alice.send('bob', 'files', data);
    });
    // Drop the link (bob's side goes away) once the first chunk is in.
    await nextEvent(bob.onMessage, (m) => m.channel === 'files', 20_000);
    await bob.closeLink('alice');
    await Promise.all(sends);
    // A resolved send was handed to the new link, not yet received: wait for the tail instead of racing it.
    const isTail = (m: PeerManagerMessage) => m.channel === 'files' && m.data[0] === count - 1;
    if (!received.some(isTail)) await nextEvent(bob.onMessage, isTail, 20_000);

    expect(states).toContain('disconnected');
    expect(states.at(-1)).toBe('connected');
    const indexes = received.filter((m) => m.channel === 'files').map((m) => m.data[0]!);
    expect(new Set(indexes).size).toBe(indexes.length); // no duplicates
    // Everything cut off by the drop was sent again on the new link; the tail certainly arrived.
    expect(indexes).toContain(count - 1);
    expect(indexes.length).toBeGreaterThan(count / 2);
  }, 60_000);

  it('gives up after maxAttempts with peer/unreachable', async () => {
    const relay = new InMemorySignalRelay(() => undefined);
    const alice = manager(relay, 'alice', { link: { connectTimeoutMs: 300 }, retry: { initialDelayMs: 20, maxAttempts: 2 } });
    const errors: AppError[] = [];
    alice.onError((e) => errors.push(e.error));
    await expect(alice.send('bob', 'chat', bytes('anyone?'))).rejects.toMatchObject({ code: 'peer/unreachable' });
    expect(errors.filter((e) => e.code === 'peer/unreachable')).toHaveLength(2);
  });

  it('ignores malformed signals without creating a link, and rejects bad arguments and options', async () => {
    const relay = new InMemorySignalRelay();
    const bob = manager(relay, 'bob');
    const errors: { remoteId: string; error: AppError }[] = [];
    bob.onError((e) => errors.push(e));
    await bob.handleSignal('mallory', { kind: 'offer', sdp: 42 });
    await bob.handleSignal('mallory', 'not a signal');
    await bob.handleSignal('mallory', { kind: 'bye', session: 'abcdefghijkl' });
    await bob.handleSignal('bob', { kind: 'restart' });
    expect(bob.remoteIds()).toEqual([]);
    expect(errors.map((e) => [e.remoteId, e.error.code])).toEqual([
      ['mallory', 'peer/bad-signal'],
      ['mallory', 'peer/bad-signal'],
    ]);
    await expect(bob.send('alice', '', bytes('x'))).rejects.toThrow(RangeError);
    await expect(bob.send('alice', 'chat', 'x' as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await expect(bob.send('bob', 'chat', bytes('x'))).rejects.toThrow(RangeError);
    expect(bob.remoteIds()).toEqual([]);
    expect(() => new PeerLinkManager({ localId: '', sendSignal: () => {} })).toThrow(TypeError);
    expect(() => new PeerLinkManager({ localId: 'a', sendSignal: () => {}, idleTimeoutMs: 0 })).toThrow(RangeError);
  });

  it('dispose closes links and rejects later sends with peer/link-closed', async () => {
    const relay = new InMemorySignalRelay();
    const alice = manager(relay, 'alice');
    manager(relay, 'bob');
    await alice.send('bob', 'chat', bytes('x'));
    const link = alice.get('bob')!;
    await alice.dispose();
    expect(link.state).toBe('closed');
    await expect(alice.send('bob', 'chat', bytes('y'))).rejects.toMatchObject({ code: 'peer/link-closed' });
  });
});
