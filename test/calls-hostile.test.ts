/*
 * A hostile network or a lying engine must never get a call through: replayed and stale invites
 * are refused, malformed records dropped, and a DTLS certificate that does not match the
 * fingerprint received inside the encrypted session ends the call (fails closed). The server
 * cannot rewrite SDP (it travels inside the Double Ratchet), so the swaps are fed at the
 * engine/plugin boundary, where a compromised bridge or engine would sit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CALLS_CHANNEL, WeriftMediaEngine, encodeCallRecord, newCallId, type CallRecord, type MediaEngine, type MediaSession,
} from '../plugins/calls/src/index.ts';
import { CallWorld, until, waitForCall, type CallPeer } from './calls-support.ts';

const FAKE_FINGERPRINT = `sha-256 ${Array.from({ length: 32 }, () => 'AB').join(':')}`;

/** The real werift engine, with one method of each session overridden. */
class TamperingEngine implements MediaEngine {
  readonly name = 'werift';
  private readonly inner = new WeriftMediaEngine();
  constructor(private readonly tamper: (session: MediaSession) => Partial<MediaSession>) {}

  async createSession(options: Parameters<MediaEngine['createSession']>[0]): Promise<MediaSession> {
    const s = await this.inner.createSession(options);
    const base: MediaSession = {
      callId: s.callId, role: s.role, onLocalCandidate: s.onLocalCandidate, onState: s.onState, onNegotiationNeeded: s.onNegotiationNeeded,
      createOffer: () => s.createOffer(), acceptOffer: (sdp) => s.acceptOffer(sdp), acceptAnswer: (sdp) => s.acceptAnswer(sdp),
      addRemoteCandidate: (c) => s.addRemoteCandidate(c), remoteFingerprint: () => s.remoteFingerprint(),
      setMuted: (k, m) => s.setMuted(k, m), setCamera: (on) => s.setCamera(on), startScreenShare: () => s.startScreenShare(),
      stopScreenShare: () => s.stopScreenShare(), renegotiate: () => s.renegotiate(), restartIce: () => s.restartIce(),
      stats: () => s.stats(), close: () => s.close(),
    };
    return { ...base, ...this.tamper(s) };
  }
}

const world = new CallWorld();
let alice: CallPeer;
let bob: CallPeer;
/** Its engine claims the peer presented another certificate. */
let mallory: CallPeer;
/** Its engine answers with an SDP whose fingerprint was swapped (what a MITM would need). */
let trudy: CallPeer;

beforeAll(async () => {
  await world.start();
  [alice, bob, mallory, trudy] = await Promise.all([
    world.peer('alice', { connectTimeoutMs: 10_000 }),
    world.peer('bob'),
    world.peer('mallory', { engine: new TamperingEngine(() => ({ remoteFingerprint: async () => FAKE_FINGERPRINT })) }),
    world.peer('trudy', {
      engine: new TamperingEngine((s) => ({
        acceptOffer: async (sdp) => (await s.acceptOffer(sdp)).replace(/^a=fingerprint:(\S+) .*$/gm, `a=fingerprint:$1 ${FAKE_FINGERPRINT.slice(8)}`),
      })),
    }),
  ]);
  await Promise.all([world.befriend(alice, bob), world.befriend(alice, mallory), world.befriend(alice, trudy)]);
}, 120_000);

afterAll(async () => {
  await world.stop();
}, 60_000);

/** Sends a raw calls record from `from` to `to`, as that peer's plugin would (inside the encrypted channel). */
async function inject(from: CallPeer, to: CallPeer, record: CallRecord | Uint8Array): Promise<void> {
  await from.channels.send(to.id, `calls/${CALLS_CHANNEL}`, record instanceof Uint8Array ? record : encodeCallRecord(record));
}

async function anOffer(): Promise<string> {
  const session = await new WeriftMediaEngine().createSession({ callId: newCallId(), role: 'offerer', audio: true, video: false, iceServers: [], loopbackOnly: true });
  const sdp = await session.createOffer();
  await session.close();
  return sdp;
}

const logged = (text: string) => world.logger.lines.some((l) => l.message.includes(text));

describe('hostile calls', () => {
  it('refuses a replayed invite (a call id seen before): no ring', async () => {
    const call = await alice.calls.call('bob');
    await waitForCall(bob, (c) => c.callId === call.callId && c.state === 'ringing', 'ring');
    await alice.calls.hangUp(call.callId);
    await waitForCall(bob, (c) => c.callId === call.callId && c.state === 'ended', 'missed');
    const before = bob.changes.length;
    await inject(alice, bob, { t: 'invite', callId: call.callId, video: false, at: Date.now(), sdp: await anOffer() });
    await until('the replay to be refused', () => logged('refused a replayed invite'));
    expect(bob.changes.slice(before)).toEqual([]);
    expect(bob.calls.calls()).toEqual([]);
  }, 60_000);

  it('records a stale invite (sent long ago) as missed instead of ringing', async () => {
    const callId = newCallId();
    await inject(alice, bob, { t: 'invite', callId, video: false, at: Date.now() - 10 * 60_000, sdp: await anOffer() });
    const view = await waitForCall(bob, (c) => c.callId === callId, 'the stale invite');
    expect(view).toMatchObject({ state: 'ended', endReason: 'missed' });
    expect(bob.changes.some((c) => c.callId === callId && c.state === 'ringing')).toBe(false);
  }, 60_000);

  it('drops malformed, oversized and unknown records without effect', async () => {
    const before = bob.changes.length;
    await inject(alice, bob, new TextEncoder().encode('{not json'));
    await inject(alice, bob, new Uint8Array(40_000));
    await inject(alice, bob, new TextEncoder().encode(JSON.stringify({ t: 'invite', callId: 'xyz', video: 'yes' })));
    await inject(alice, bob, { t: 'accept', callId: newCallId(), sdp: 'v=0 no such call', video: false });
    await until('the drops to be logged', () => world.logger.lines.filter((l) => l.message === 'calls: dropped a record').length >= 3);
    expect(bob.changes.slice(before)).toEqual([]);
  }, 60_000);

  it('ends the call when the engine reports a certificate other than the one in the authenticated SDP', async () => {
    const call = await alice.calls.call('mallory');
    await waitForCall(mallory, (c) => c.callId === call.callId && c.state === 'ringing', 'ring');
    await mallory.calls.accept(call.callId);
    const end = await waitForCall(mallory, (c) => c.callId === call.callId && c.state === 'ended', 'mallory to fail closed');
    expect(end).toMatchObject({ endReason: 'failed', error: { code: 'calls/fingerprint-mismatch' } });
    expect(mallory.changes.some((c) => c.callId === call.callId && c.state === 'active')).toBe(false);
    expect(await waitForCall(alice, (c) => c.callId === call.callId && c.state === 'ended', 'alice to end')).toMatchObject({ endReason: 'failed' });
  }, 60_000);

  it('never connects when the answer\'s fingerprint was swapped', async () => {
    const call = await alice.calls.call('trudy');
    await waitForCall(trudy, (c) => c.callId === call.callId && c.state === 'ringing', 'ring');
    await trudy.calls.accept(call.callId);
    const end = await waitForCall(alice, (c) => c.callId === call.callId && c.state === 'ended', 'alice to fail closed');
    expect(end.endReason).toBe('failed');
    expect(['calls/fingerprint-mismatch', 'calls/media-failed']).toContain(end.error?.code);
    expect(alice.changes.some((c) => c.callId === call.callId && c.state === 'active')).toBe(false);
    await waitForCall(trudy, (c) => c.callId === call.callId && c.state === 'ended', 'trudy to end');
  }, 60_000);

  it('ignores a re-answer nobody asked for, and ends the call when a re-offer announces another certificate', async () => {
    const call = await alice.calls.call('bob');
    await waitForCall(bob, (c) => c.callId === call.callId && c.state === 'ringing', 'ring');
    await bob.calls.accept(call.callId);
    await waitForCall(alice, (c) => c.callId === call.callId && c.state === 'active', 'active');
    await inject(bob, alice, { t: 'reanswer', callId: call.callId, seq: 5, sdp: await anOffer() });
    await until('the stray re-answer to be dropped', () => world.logger.lines.some((l) => l.message.includes('does not fit the call state') && l.fields.type === 'reanswer'));
    expect(alice.calls.get(call.callId)?.state).toBe('active');

    await inject(alice, bob, { t: 'reoffer', callId: call.callId, seq: 1, sdp: await anOffer() });
    const end = await waitForCall(bob, (c) => c.callId === call.callId && c.state === 'ended', 'bob to fail closed');
    expect(end).toMatchObject({ endReason: 'failed', error: { code: 'calls/fingerprint-mismatch' } });
    await waitForCall(alice, (c) => c.callId === call.callId && c.state === 'ended', 'alice to hear of it');
  }, 60_000);
});
