import { describe, expect, it } from 'vitest';
import { isAppError, nextEvent } from '@discordopus/sdk';
import { BridgedMediaEngine, serveMediaEngine } from '../common/engine-bridge.ts';
import { newCallId, sdpFingerprint } from '../common/calls-protocol.ts';
import type { EngineBridgeRequest, MediaEngine, MediaSession } from '../common/media-engine.ts';
import { WeriftMediaEngine } from './werift-media-engine.ts';

const LONG = 60_000;

async function connectPair(offerEngine: MediaEngine, answerEngine: MediaEngine): Promise<[MediaSession, MediaSession, { offer: string; answer: string }]> {
  const base = { callId: newCallId(), audio: true, video: true, iceServers: [], loopbackOnly: true };
  const a = await offerEngine.createSession({ ...base, role: 'offerer' });
  const b = await answerEngine.createSession({ ...base, role: 'answerer' });
  a.onLocalCandidate((c) => void b.addRemoteCandidate(c).catch(() => undefined));
  b.onLocalCandidate((c) => void a.addRemoteCandidate(c).catch(() => undefined));
  const connected = Promise.all([nextEvent(a.onState, (s) => s === 'connected'), nextEvent(b.onState, (s) => s === 'connected')]);
  const offer = await a.createOffer();
  const answer = await b.acceptOffer(offer);
  await a.acceptAnswer(answer);
  await connected;
  return [a, b, { offer, answer }];
}

async function until(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('WeriftMediaEngine', () => {
  it('connects, reports the certificate the peer presented, and routes the peer\'s PLI to its sending side', async () => {
    const [a, b, { offer, answer }] = await connectPair(new WeriftMediaEngine(), new WeriftMediaEngine());
    try {
      // Each side saw the certificate the other announced in its SDP.
      expect(await a.remoteFingerprint()).toBe(sdpFingerprint(answer));
      expect(await b.remoteFingerprint()).toBe(sdpFingerprint(offer));
      await until(async () => ((await b.stats()).video?.framesDecoded ?? 0) > 5);
      // The callee asks for a keyframe; werift hands the PLI to the caller's receiver on the
      // sendrecv transceiver, and the engine must still treat it as a request for its own video.
      const internals = b as unknown as { kinds: Map<string, { transceiver: { receiver: { track?: { ssrc: number } } } }>; requestRemoteKeyframe(ssrc: number): void };
      const ssrc = internals.kinds.get('video')!.transceiver.receiver.track?.ssrc ?? 0;
      internals.requestRemoteKeyframe(ssrc);
      await until(async () => (a as unknown as { keyframeRequestsReceived: number }).keyframeRequestsReceived > 0);
      expect((await a.stats()).level).toBe('good');
      // Muting stops audio leaving this side.
      await a.setMuted('audio', true);
      const sent = (await a.stats()).sent!.audioPackets;
      await new Promise((r) => setTimeout(r, 300));
      expect((await a.stats()).sent!.audioPackets).toBe(sent);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, LONG);

  it('refuses what a session of the other role must do, screen sharing, and an unreadable source', async () => {
    const engine = new WeriftMediaEngine();
    const s = await engine.createSession({ callId: newCallId(), role: 'answerer', audio: true, video: false, iceServers: [] });
    await expect(s.createOffer()).rejects.toThrow(TypeError);
    await expect(s.startScreenShare()).rejects.toMatchObject({ code: 'calls/unsupported' });
    await s.close();
    await s.close();
    const bad = new WeriftMediaEngine({ source: '/nonexistent/clip.webm' });
    await expect(bad.createSession({ callId: newCallId(), role: 'offerer', audio: true, video: true, iceServers: [] })).rejects.toMatchObject({ code: 'calls/bad-source' });
    const notMedia = new WeriftMediaEngine({ source: new URL(import.meta.url).pathname });
    await expect(notMedia.createSession({ callId: newCallId(), role: 'offerer', audio: true, video: true, iceServers: [] })).rejects.toMatchObject({ code: 'calls/bad-source' });
  }, LONG);
});

describe('engine bridge', () => {
  /** A bridged engine whose messages cross as JSON text, asynchronously, both ways. */
  function bridged(inner: MediaEngine, timeoutMs?: number): { engine: BridgedMediaEngine; served: ReturnType<typeof serveMediaEngine> } {
    const kernelSide: { engine?: BridgedMediaEngine } = {};
    const served = serveMediaEngine(inner, (output) => {
      const copy = JSON.parse(JSON.stringify(output));
      setImmediate(() => ('response' in copy ? kernelSide.engine!.handleResponse(copy.response) : kernelSide.engine!.handleEvent(copy.event)));
    });
    const engine = new BridgedMediaEngine('bridged', (request) => {
      const copy = JSON.parse(JSON.stringify(request)) as EngineBridgeRequest;
      setImmediate(() => void served.handleRequest(copy));
    }, timeoutMs);
    kernelSide.engine = engine;
    return { engine, served };
  }

  it('drives a werift engine through JSON messages: a full connection with a direct peer', async () => {
    const { engine, served } = bridged(new WeriftMediaEngine());
    const [a, b, { answer }] = await connectPair(engine, new WeriftMediaEngine());
    try {
      expect(await a.remoteFingerprint()).toBe(sdpFingerprint(answer));
      await until(async () => ((await a.stats()).video?.framesDecoded ?? 0) > 0);
    } finally {
      await Promise.all([a.close(), b.close()]);
      served.dispose();
    }
  }, LONG);

  it('reports engine errors, a vanished engine and a silent one as AppErrors', async () => {
    const { engine, served } = bridged(new WeriftMediaEngine());
    const s = await engine.createSession({ callId: newCallId(), role: 'answerer', audio: true, video: true, iceServers: [] });
    const failure = await s.createOffer().catch((e: unknown) => e);
    expect(isAppError(failure, 'calls/engine-failed')).toBe(true);
    const states: string[] = [];
    s.onState((state) => states.push(state));
    engine.dispose();
    expect(states).toEqual(['failed']);
    await expect(s.stats()).rejects.toMatchObject({ code: 'calls/engine-gone' });
    served.dispose();

    const silent = new BridgedMediaEngine('silent', () => {}, 50);
    await expect(silent.createSession({ callId: newCallId(), role: 'offerer', audio: true, video: true, iceServers: [] })).rejects.toMatchObject({ code: 'calls/engine-timeout' });
    // A late or unknown response is ignored.
    silent.handleResponse({ id: 99, result: null });
    silent.handleEvent({ callId: newCallId(), event: 'negotiationNeeded' });
  }, LONG);
});
