/*
 * Real calls between two clients with the werift engine: real signaling server (behind the test
 * relay), encrypted channels, werift media on loopback, WebM recordings checked with ffprobe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeriftMediaEngine } from '../plugins/calls/src/index.ts';
import { CallWorld, probeFrames, until, waitForCall, type CallPeer } from './calls-support.ts';

const world = new CallWorld();
let alice: CallPeer;
let bob: CallPeer;

beforeAll(async () => {
  await world.start();
  const recorder = (name: string) => new WeriftMediaEngine({ record: (callId) => world.file(`${name}-${callId}.webm`) });
  [alice, bob] = await Promise.all([world.peer('alice', { engine: recorder('alice') }), world.peer('bob', { engine: recorder('bob') })]);
  await world.befriend(alice, bob);
}, 120_000);

afterAll(async () => {
  await world.stop();
}, 60_000);

async function videoCall(caller: CallPeer, callee: CallPeer): Promise<void> {
  const placed = await caller.calls.call(callee.name, { video: true });
  expect(placed).toMatchObject({ state: 'ringing', direction: 'out', video: true, peer: callee.id, engine: 'werift' });
  const incoming = await waitForCall(callee, (c) => c.callId === placed.callId && c.state === 'ringing', 'the incoming call');
  expect(incoming).toMatchObject({ direction: 'in', video: true, peer: caller.id });
  await callee.calls.accept(placed.callId);
  await Promise.all([
    waitForCall(caller, (c) => c.callId === placed.callId && c.state === 'active', 'active (caller)'),
    waitForCall(callee, (c) => c.callId === placed.callId && c.state === 'active', 'active (callee)'),
  ]);
  // Both directions carry audio and video: complete VP8 frames and Opus packets on each side.
  for (const side of [caller, callee]) {
    await until(`${side.name} receives video frames and audio`, async () => {
      const q = await side.calls.quality(placed.callId);
      // About three seconds of media, so that the recordings hold several frames past the jitter buffer.
      return (q.video?.framesDecoded ?? 0) >= 45 && (q.audio?.packetsReceived ?? 0) >= 100;
    });
  }
  expect((await callee.calls.quality(placed.callId)).level).not.toBe('unknown');
  const ended = await caller.calls.hangUp(placed.callId);
  expect(ended).toMatchObject({ state: 'ended', endReason: 'hangup' });
  expect(ended.connectedAt).toBeGreaterThan(0);
  await waitForCall(callee, (c) => c.callId === placed.callId && c.state === 'ended', 'the hang-up to arrive');
  expect(callee.calls.get(placed.callId)).toMatchObject({ endReason: 'remote-hangup' });

  // Each side recorded what it received; the recordings decode.
  for (const side of [caller, callee]) {
    const file = world.file(`${side.name}-${placed.callId}.webm`);
    await until(`${side.name}'s recording is finalised`, async () => (await probeFrames(file).catch(() => ({ video: 0, audio: 0 }))).video > 0);
    const frames = await probeFrames(file);
    expect(frames.video, `${side.name} video frames`).toBeGreaterThan(0);
    expect(frames.audio, `${side.name} audio frames`).toBeGreaterThan(0);
  }
  const [log] = await callee.calls.history({ contact: caller.name, limit: 1 });
  expect(log).toMatchObject({ callId: placed.callId, direction: 'in', video: true, endReason: 'remote-hangup' });
}

describe('werift <-> werift calls', () => {
  it('alice calls bob: audio and video both ways, recordings decode', async () => {
    await videoCall(alice, bob);
  }, 180_000);

  it('bob calls alice: the other direction works the same', async () => {
    await videoCall(bob, alice);
  }, 180_000);

  it('mid-call: camera on in an audio call, mute; an ICE restart werift cannot do leaves the call up', async () => {
    const placed = await alice.calls.call('bob');
    await waitForCall(bob, (c) => c.callId === placed.callId && c.state === 'ringing', 'ring');
    await bob.calls.accept(placed.callId);
    await waitForCall(alice, (c) => c.callId === placed.callId && c.state === 'active', 'active');
    const frames = async (side: CallPeer) => (await side.calls.quality(placed.callId)).video?.framesDecoded ?? 0;
    const audio = async (side: CallPeer) => (await side.calls.quality(placed.callId)).audio?.packetsReceived ?? 0;
    await until('audio to bob', async () => (await audio(bob)) > 20);
    expect(await frames(bob)).toBe(0);

    // The caller turns its camera on: no renegotiation needed with werift, the callee sees it.
    expect(await alice.calls.setCamera(placed.callId, true)).toMatchObject({ camera: true, video: true });
    await waitForCall(bob, (c) => c.callId === placed.callId && c.remote.camera, 'bob to see alice\'s camera');
    await until('video to bob', async () => (await frames(bob)) > 5);

    // Mute: the callee stops getting audio from the caller.
    await alice.calls.setMuted(placed.callId, 'audio', true);
    await waitForCall(bob, (c) => c.callId === placed.callId && c.remote.audioMuted, 'bob to see alice muted');

    // werift cannot restart ICE mid-call: asked directly, the caller's engine refuses; asked by the
    // callee, the caller declines quietly. Either way the call and its media stay up.
    await expect(alice.calls.restartIce(placed.callId)).rejects.toMatchObject({ code: 'calls/unsupported' });
    await bob.calls.restartIce(placed.callId);
    await until('the caller to decline the restart', () => world.logger.lines.some((l) => l.message === 'calls: could not renegotiate for the peer'));
    const before = await frames(bob);
    await until('video to keep flowing', async () => (await frames(bob)) > before + 10);
    expect(alice.calls.get(placed.callId)?.state).toBe('active');
    expect(bob.calls.get(placed.callId)?.state).toBe('active');
    await bob.calls.hangUp(placed.callId);
    await waitForCall(alice, (c) => c.callId === placed.callId && c.state === 'ended', 'end');
  }, 180_000);
});
