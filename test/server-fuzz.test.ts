import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import fc from 'fast-check';
import { z } from 'zod';
import { SignalingEvents, authChallengeMessage, authChallengeSchema, authResponseSchema, nextEvent } from '@discordopus/sdk';
import type { SignalingClient } from '../core/src/node/signaling/signaling-client.ts';
import { connectClient, makeIdentity, startServerProcess, type ServerProcess } from './server-support.ts';

// CI runs ~20 s of fuzzing; DISCORDOPUS_FUZZ_SECONDS=600 makes it a soak.
const FUZZ_MS = Number(process.env.DISCORDOPUS_FUZZ_SECONDS ?? 20) * 1000;
const SEED = Number(process.env.DISCORDOPUS_FUZZ_SEED ?? 20261126);
const FUZZERS = 4;

let server: ServerProcess;
beforeAll(async () => {
  // Everyone shares 127.0.0.1 here, so the per-IP limits are lifted; per-connection limits stay at their defaults.
  server = await startServerProcess([
    '--ip-event-rate', '1000000', '--ip-event-burst', '1000000', '--max-connections-per-ip', '10000', '--connection-rate-per-ip', '10000',
    '--connection-burst-per-ip', '10000', '--max-pending-auth-per-ip', '10000', '--auth-timeout-ms', '2000',
  ]);
});
afterAll(async () => {
  await server?.stop();
});

const known = Object.values(SignalingEvents);
const origin = () => `ws://127.0.0.1:${server.port}`;

function deep(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

/** Raw engine.io messages: malformed socket.io packets the client library would never produce. */
const rawGarbage = [
  '2[', '2["auth"', '2{"a":1}', '9', '5-0["auth",{"_placeholder":true,"num":0}]', '51-["x",{"_placeholder":true,"num":7}]',
  '2/admin,["x"]', '0/nsp,', '2["connect"]', '2[null]', '2[1,2,3]', '3["ack"]', `2${'['.repeat(60_000)}`, `2["${'x'.repeat(70_000)}"]`,
  '2["envelope",{"to":"do1","payload":{"_placeholder":true,"num":0}}]', '451-["envelope",{"payload":{"_placeholder":true,"num":0}}]', '2["__proto__",{"constructor":{"prototype":{"x":1}}}]',
];

async function rawAuthed(): Promise<Socket> {
  const socket = io(server.url, { transports: ['websocket'], reconnection: false, forceNew: true });
  const identity = makeIdentity();
  const challenge = authChallengeSchema.parse(await new Promise((resolve) => socket.once(SignalingEvents.challenge, resolve)));
  await socket.timeout(20_000).emitWithAck(SignalingEvents.auth, z.encode(authResponseSchema, {
    publicKey: identity.publicKey, signature: identity.sign(authChallengeMessage(challenge.nonce, origin())), origin: origin(),
  }));
  return socket;
}

async function serverRssBytes(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/discordopus_process_resident_memory_bytes (\d+)/.exec(text)?.[1]);
}

describe('fuzzing a live server', () => {
  it('stays up with bounded memory while honest clients keep exchanging envelopes', async () => {
    const alice: SignalingClient = await connectClient(server.url);
    const bob: SignalingClient = await connectClient(server.url);
    const echoErrors: unknown[] = [];
    bob.onEnvelope((e) => void bob.send(e.from, e.payload).catch((error: unknown) => echoErrors.push(error)));
    const rssBefore = await serverRssBytes();

    const values = fc.sample(fc.anything({ withTypedArray: true, withMap: false, withSet: false, maxDepth: 4, withNullPrototype: true }), { numRuns: 3000, seed: SEED });
    const names = [...known, ...fc.sample(fc.string({ maxLength: 40 }), { numRuns: 200, seed: SEED })];
    const random = fc.sample(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { numRuns: 1, seed: SEED })[0]!;
    let state = random;
    const next = (n: number) => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };

    let sent = 0;
    let stop = false;
    let honestRoundTrips = 0;
    let peakRss = rssBefore;
    const fuzzer = async (id: number) => {
      while (!stop) {
        const socket = id % 2 === 0 ? await rawAuthed().catch(() => undefined) : io(server.url, { transports: ['websocket'], reconnection: false, forceNew: true });
        if (!socket) continue;
        const closed = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
        let open = true;
        void closed.then(() => (open = false));
        for (let burst = 0; open && !stop && burst < 600; burst++) {
          const kind = next(10);
          const event = names[next(names.length)]!;
          if (kind === 0) socket.io.engine.write(rawGarbage[next(rawGarbage.length)]!);
          else if (kind === 1) socket.emit(event, deep(1 + next(1500), 'x'));
          else if (kind === 2) socket.emit(event, 'y'.repeat(next(90_000)));
          else if (kind === 3) socket.emit(event, Buffer.alloc(next(80_000)));
          else if (kind === 4) for (let i = 0; i < 50; i++) socket.emit(SignalingEvents.envelope, { to: alice.userId, payload: 'AAAAAAAAAAAAAA' });
          else if (kind === 5) socket.emit(event, values[next(values.length)], values[next(values.length)], () => undefined);
          else socket.emit(event, values[next(values.length)], () => undefined);
          sent += kind === 4 ? 50 : 1;
          // Paced so that test files running beside this one on a 2-core machine keep their share of CPU.
          if (burst % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
        }
        socket.close();
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 100))]);
      }
    };
    const honest = async () => {
      while (!stop) {
        const payload = new Uint8Array(200).fill(honestRoundTrips & 0xff);
        const echoed = nextEvent(alice.onEnvelope, (e) => e.from === bob.userId && e.payload[0] === payload[0], 20_000);
        expect(await alice.send(bob.userId, payload)).toBe('delivered');
        await echoed;
        honestRoundTrips++;
        // An honest client paces itself well under the per-connection event rate; unpaced, the
        // pair ran at the limit and an echo could be refused as rate-limited.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const watchMemory = async () => {
      while (!stop) {
        peakRss = Math.max(peakRss, await serverRssBytes());
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    };

    const running = [...Array.from({ length: FUZZERS }, (_, i) => fuzzer(i)), honest(), watchMemory()];
    await new Promise((resolve) => setTimeout(resolve, FUZZ_MS));
    stop = true;
    await Promise.all(running);

    expect(sent).toBeGreaterThan(5_000);
    expect(honestRoundTrips).toBeGreaterThan(20);
    expect(echoErrors).toEqual([]);
    expect(server.proc.exitCode).toBeNull();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    // Bounded: far below what buffering the fuzz traffic would take.
    expect(peakRss - rssBefore).toBeLessThan(250 * 1024 * 1024);
    expect(server.logs.filter((l) => Number(l.level) >= 50)).toEqual([]);
    // And the honest pair still works afterwards.
    const last = nextEvent(alice.onEnvelope, undefined, 20_000);
    expect(await alice.send(bob.userId, new Uint8Array([9]))).toBe('delivered');
    await last;
    console.log(JSON.stringify({ fuzzEvents: sent, honestRoundTrips, rssBeforeMb: Math.round(rssBefore / 2 ** 20), peakRssMb: Math.round(peakRss / 2 ** 20) }));
    alice.close();
    bob.close();
  }, FUZZ_MS + 120_000);
});
