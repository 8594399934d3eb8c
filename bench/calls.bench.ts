/**
 * `npm run bench -- calls`: time from the callee's accept to its first complete VP8 keyframe
 * (werift engine: frame depacketized from RTP, all its packets present), p50 over 10 calls.
 * Real path: signaling server on 127.0.0.1, two clients with encrypted profiles, SDP and ICE
 * through the Double-Ratchet channel, werift media on loopback; both clients in this process.
 * Baseline (same run): two werift engine sessions wired directly in memory (no server, no
 * encryption, offer made before the clock starts), from acceptOffer to the first keyframe.
 * Summary keys: accept_to_first_frame_p50_ms (target <= 500), accept_to_first_frame_p90_ms,
 * baseline_p50_ms, calls.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { SecureChannels, type Logger } from '@discordopus/sdk';
import type { BenchOutput } from './run.ts';
import { createSignalingServer } from '../server/src/index.ts';
import { createClient, type DiscordOpusClient } from '../core/src/node/client/create-client.ts';
import { TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { createCallsPlugin, newCallId, WeriftMediaEngine, type CallView, type CallsApi } from '../plugins/calls/src/index.ts';

const CALLS = 10;

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number) => Math.round(n * 10) / 10;

export default async function calls(out: BenchOutput): Promise<void> {
  const baseline = await measureBaseline();
  out.line({ what: 'baseline: two werift sessions wired in memory, acceptOffer -> first keyframe', p50_ms: round(percentile(baseline, 50)), samples: baseline.map(round) });

  const temp = tempDir('discordopus-calls-bench-');
  const server = await createSignalingServer({ origins: [], logger: pino({ level: 'silent' }), processMetrics: false });
  const clients: DiscordOpusClient[] = [];
  try {
    let firstFrame: (at: number) => void = () => {};
    const open = async (name: string, engine: WeriftMediaEngine) => {
      const client = await createClient({
        profileDir: path.join(temp.dir, name), passphrase: `${name} pass`, create: true, profileKdf: TEST_PROFILE_KDF,
        serverUrl: server.url, connectSignaling: true, peerLinks: { link: { loopbackOnly: true } }, logger: silent,
        plugins: [createCallsPlugin({ engine, loopbackOnly: true }) as never],
      });
      clients.push(client);
      await client.kernel.container.get<SecureChannels & { whenReady(): Promise<void> }>(SecureChannels).whenReady();
      return { client, api: client.kernel.pluginApi<CallsApi>('calls')! };
    };
    const alice = await open('alice', new WeriftMediaEngine());
    const bob = await open('bob', new WeriftMediaEngine({ onFirstVideoFrame: (_id, at) => firstFrame(at) }));
    await alice.client.contacts.add(bob.client.identity.userId, { name: 'bob' });
    await bob.client.contacts.add(alice.client.identity.userId, { name: 'alice' });

    const samples: number[] = [];
    const connectSamples: number[] = [];
    for (let i = 0; i < CALLS + 1; i++) {
      const ringing = new Promise<CallView>((resolve) => {
        const sub = bob.api.onDidChange((v) => {
          if (v.direction === 'in' && v.state === 'ringing') {
            sub.dispose();
            resolve(v);
          }
        });
      });
      const placed = await alice.api.call('bob', { video: true });
      await ringing;
      const frame = new Promise<number>((resolve) => (firstFrame = resolve));
      const active = new Promise<number>((resolve) => {
        const sub = bob.api.onDidChange((v) => {
          if (v.callId === placed.callId && v.state === 'active') {
            sub.dispose();
            resolve(performance.now());
          }
        });
      });
      const t0 = performance.now();
      const wall0 = Date.now();
      await bob.api.accept(placed.callId);
      const at = await frame;
      const connectedAt = await active;
      await alice.api.hangUp(placed.callId);
      await Promise.all([alice.api.whenIdle(), bob.api.whenIdle()]);
      // The first call warms up (JIT, the clip's parse); it is not counted.
      if (i === 0) continue;
      samples.push(at - wall0);
      connectSamples.push(connectedAt - t0);
      out.line({ call: i, accept_to_first_frame_ms: at - wall0, accept_to_active_ms: round(connectedAt - t0) });
    }
    out.summary({
      accept_to_first_frame_p50_ms: percentile(samples, 50),
      accept_to_first_frame_p90_ms: percentile(samples, 90),
      accept_to_active_p50_ms: round(percentile(connectSamples, 50)),
      baseline_p50_ms: round(percentile(baseline, 50)),
      calls: samples.length,
      target_ms: 500,
    });
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    await server.close();
    temp.cleanup();
  }
}

/** Two engine sessions connected directly: what the encrypted signalling path adds is the difference. */
async function measureBaseline(): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < CALLS + 1; i++) {
    let firstFrame: (at: number) => void = () => {};
    const caller = new WeriftMediaEngine();
    const callee = new WeriftMediaEngine({ onFirstVideoFrame: (_id, at) => firstFrame(at) });
    const options = { callId: newCallId(), audio: true, video: true, iceServers: [], loopbackOnly: true };
    const a = await caller.createSession({ ...options, role: 'offerer' });
    const b = await callee.createSession({ ...options, role: 'answerer' });
    a.onLocalCandidate((c) => void b.addRemoteCandidate(c));
    b.onLocalCandidate((c) => void a.addRemoteCandidate(c));
    const offer = await a.createOffer();
    const frame = new Promise<number>((resolve) => (firstFrame = resolve));
    const t0 = Date.now();
    await a.acceptAnswer(await b.acceptOffer(offer));
    const at = await frame;
    await Promise.all([a.close(), b.close()]);
    if (i > 0) samples.push(at - t0);
  }
  return samples;
}
