/*
 * The call state machine between real clients (real server, encrypted channels, werift engine):
 * decline, cancel, busy, no answer, hang up from either side, glare, and the API's bad inputs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '@discordopus/sdk';
import type { CallLoggedEvent } from '../plugins/calls/src/index.ts';
import { CallWorld, waitForCall, type CallPeer } from './calls-support.ts';

const world = new CallWorld();
let alice: CallPeer;
let bob: CallPeer;
let carol: CallPeer;
/** Rings for 2 s only. */
let eve: CallPeer;

beforeAll(async () => {
  await world.start();
  [alice, bob, carol, eve] = await Promise.all([world.peer('alice'), world.peer('bob'), world.peer('carol'), world.peer('eve', { ringTimeoutMs: 2_000 })]);
  await Promise.all([world.befriend(alice, bob), world.befriend(carol, bob), world.befriend(eve, bob)]);
}, 120_000);

afterAll(async () => {
  await world.stop();
}, 60_000);

const ended = (peer: CallPeer, callId: string) => waitForCall(peer, (c) => c.callId === callId && c.state === 'ended', `call ${callId.slice(0, 6)} to end`);
const ringing = (peer: CallPeer, callId: string) => waitForCall(peer, (c) => c.callId === callId && c.state === 'ringing', `call ${callId.slice(0, 6)} to ring`);
const active = (peer: CallPeer, callId: string) => waitForCall(peer, (c) => c.callId === callId && c.state === 'active', `call ${callId.slice(0, 6)} to be active`);

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(isAppError(error) ? error.code : error).toBe(code);
}

describe('call state machine', () => {
  it('decline: the caller sees declined, both log it', async () => {
    const call = await alice.calls.call('bob');
    await ringing(bob, call.callId);
    const declined = await bob.calls.decline(call.callId);
    expect(declined).toMatchObject({ state: 'ended', endReason: 'declined' });
    expect(await ended(alice, call.callId)).toMatchObject({ endReason: 'declined' });
    expect(alice.calls.calls()).toEqual([]);
    // A declined call cannot be accepted any more.
    await expectCode(bob.calls.accept(call.callId), 'calls/not-ringing');
  }, 60_000);

  it('cancel: the caller hangs up while it rings; the callee gets a missed call entry', async () => {
    const logged: CallLoggedEvent[] = [];
    const sub = bob.client.events.subscribe('calls.logged', (e) => logged.push(e));
    const call = await alice.calls.call('bob', { video: true });
    await ringing(bob, call.callId);
    expect(await alice.calls.hangUp(call.callId)).toMatchObject({ state: 'ended', endReason: 'cancelled' });
    expect(await ended(bob, call.callId)).toMatchObject({ endReason: 'missed', direction: 'in' });
    await waitFor(() => logged.some((e) => e.entry.callId === call.callId));
    sub.dispose();
    const [entry] = await bob.calls.history({ contact: 'alice', limit: 1 });
    expect(entry).toMatchObject({ callId: call.callId, peer: alice.id, direction: 'in', video: true, endReason: 'missed', durationS: 0 });
  }, 60_000);

  it('no answer: the caller gives up after its ring timeout; the callee logs a missed call', async () => {
    const call = await eve.calls.call('bob');
    await ringing(bob, call.callId);
    expect(await ended(eve, call.callId)).toMatchObject({ endReason: 'no-answer' });
    expect(await ended(bob, call.callId)).toMatchObject({ endReason: 'missed' });
  }, 60_000);

  it('busy: a second caller gets busy while a call is up; the callee hangs up the first', async () => {
    const first = await alice.calls.call('bob');
    await ringing(bob, first.callId);
    await bob.calls.accept(first.callId);
    await Promise.all([active(alice, first.callId), active(bob, first.callId)]);
    // Starting a call while in one is refused locally.
    await expectCode(bob.calls.call('carol'), 'calls/busy');
    const second = await carol.calls.call('bob');
    expect(await ended(carol, second.callId)).toMatchObject({ endReason: 'busy' });
    expect(bob.calls.get(second.callId)).toMatchObject({ state: 'ended', endReason: 'missed' });
    expect(bob.calls.get(first.callId)).toMatchObject({ state: 'active' });
    // The callee hangs up: the caller sees remote-hangup.
    expect(await bob.calls.hangUp(first.callId)).toMatchObject({ endReason: 'hangup' });
    expect(await ended(alice, first.callId)).toMatchObject({ endReason: 'remote-hangup' });
  }, 90_000);

  it('glare: both call at once; the lower call id wins on both sides and connects', async () => {
    const [fromAlice, fromBob] = await Promise.all([alice.calls.call('bob'), bob.calls.call('alice')]);
    const [winner, loser] = fromAlice.callId < fromBob.callId ? [fromAlice, fromBob] : [fromBob, fromAlice];
    const loserSide = loser === fromAlice ? alice : bob;
    expect(await ended(loserSide, loser.callId)).toMatchObject({ endReason: 'glare' });
    await Promise.all([active(alice, winner.callId), active(bob, winner.callId)]);
    expect(alice.calls.calls().map((c) => c.callId)).toEqual([winner.callId]);
    expect(bob.calls.calls().map((c) => c.callId)).toEqual([winner.callId]);
    await alice.calls.hangUp(winner.callId);
    await ended(bob, winner.callId);
  }, 90_000);

  it('refuses bad input with the right error', async () => {
    await expectCode(alice.calls.call('nobody-by-this-name'), 'calls/unknown-contact');
    await expectCode(alice.calls.accept('0'.repeat(32)), 'calls/unknown-call');
    await expect(alice.calls.accept('not-a-call-id')).rejects.toThrow(TypeError);
    await expect(alice.calls.call('')).rejects.toThrow(TypeError);
    await expect(alice.calls.history({ limit: 0 })).rejects.toThrow(RangeError);
    const call = await alice.calls.call('bob');
    await expectCode(alice.calls.accept(call.callId), 'calls/not-ringing');
    await expect(alice.calls.setMuted(call.callId, 'smell' as never, true)).rejects.toThrow(TypeError);
    await expect(alice.calls.setCamera(call.callId, 'yes' as never)).rejects.toThrow(TypeError);
    await alice.calls.hangUp(call.callId);
    await expectCode(alice.calls.setMuted(call.callId, 'audio', true), 'calls/ended');
    await ended(bob, call.callId);
  }, 60_000);
});

async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
