import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { nextEvent, type AppError } from '@discordopus/sdk';
import { PeerLink } from './peer-link.ts';
import { PeerChildProcess } from './peer-child-process.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** alice here, bob in a child process, signals relayed over the child's stdin/stdout. */
function spawnPair() {
  const child = new PeerChildProcess('bob', 'alice');
  const link = new PeerLink({ localId: 'alice', remoteId: 'bob', loopbackOnly: true, sendSignal: (s) => child.signal(s), keepaliveMs: 300, deadAfterMs: 2_500 });
  child.onSignal((s) => void link.handleSignal(s));
  cleanups.push(() => child.kill().catch(() => {}).then(() => undefined));
  cleanups.push(() => link.close());
  return { child, link };
}

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('PeerLink across processes', () => {
  it('connects to a peer in another process and exchanges small and large messages', async () => {
    const { child, link } = spawnPair();
    const childConnected = nextEvent(child.onState, (s) => s === 'connected', 30_000);
    await link.connect();
    await childConnected;
    expect(link.remoteFingerprint()).toMatch(/^sha-256 /);

    const small = Array.from({ length: 50 }, (_, i) => new TextEncoder().encode(`m${i}`));
    const big = randomBytes(2 * 1024 * 1024 + 5);
    const echoes: Uint8Array[] = [];
    const all = new Promise<void>((resolve) =>
      link.onMessage(({ channel, data }) => {
        if (channel === 'echo') echoes.push(data);
        if (echoes.length === small.length + 1) resolve();
      }),
    );
    await Promise.all([...small.map((m) => link.send('echo', m)), link.send('echo', big)]);
    await all;
    expect(echoes.slice(0, 50).map((d) => new TextDecoder().decode(d))).toEqual(small.map((_, i) => `m${i}`));
    expect(sha(echoes[50]!)).toBe(sha(big));
  }, 120_000);

  it('sees a killed peer as disconnected and rejects pending sends with an AppError', async () => {
    const { child, link } = spawnPair();
    await link.connect();
    const dropped = nextEvent(link.onDidChangeState, (s) => s === 'disconnected', 30_000);
    const chunk = randomBytes(1024 * 1024);
    const sends = Array.from({ length: 64 }, () => link.send('sink', chunk));
    await child.kill();
    await dropped;
    const results = await Promise.allSettled(sends);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect((r.reason as AppError).code).toBe('peer/link-lost');
  }, 120_000);
});
