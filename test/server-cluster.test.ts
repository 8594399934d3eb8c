import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextEvent, type UserId } from '@discordopus/sdk';
import type { SignalingClient } from '../core/src/node/signaling/signaling-client.ts';
import {
  connectClient, eventually, freePort, makeIdentity, makeOneTimePrekeys, makeSignedPrekey, startBalancer, startRedis, startServerProcess,
  type Balancer, type Identity, type RedisProcess, type ServerProcess,
} from './server-support.ts';

// Three server processes sharing one real redis-server, behind one address (a TCP balancer).
let redis: RedisProcess;
let balancer: Balancer;
let servers: ServerProcess[] = [];
let origin: string;
const clients: SignalingClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  balancer = await startBalancer(ports);
  origin = `ws://127.0.0.1:${balancer.port}`;
  servers = await Promise.all(ports.map((port) => startServerProcess([
    '--port', String(port), '--redis', redis.url, '--origin', origin, '--presence-heartbeat-ms', '300',
  ])));
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.stop()));
  await balancer?.close();
  await redis?.stop();
});

/** A client pinned to one process (dialled directly, signing the shared public origin). */
async function on(server: ServerProcess, identity: Identity = makeIdentity(), reconnect = true): Promise<SignalingClient> {
  const client = await connectClient(server.url, identity, { origin, reconnect });
  clients.push(client);
  return client;
}

describe('scale-out with Redis', () => {
  it('relays an envelope from a client on process A to a client on process B', async () => {
    const [a, b] = servers;
    const alice = await on(a!);
    const bob = await on(b!);
    const got = nextEvent(bob.onEnvelope, undefined, 10_000);
    expect(await alice.send(bob.userId, new Uint8Array([7, 7]))).toBe('delivered');
    expect((await got).from).toBe(alice.userId);
    expect(await bob.send(makeIdentity().userId, new Uint8Array([1]))).toBe('offline');
  });

  it('reports each outcome of a burst (protocol 2) in order, also when recipients are looked up in Redis', async () => {
    const [a, b] = servers;
    const alice = await on(a!);
    const bob = await on(b!);
    const local = await on(a!);
    const nobody = makeIdentity().userId;
    const got: number[] = [];
    bob.onEnvelope((e) => got.push(e.payload[0]!));
    // Remote (Redis lookup), offline (Redis lookup) and local (no lookup) recipients interleaved.
    const targets = Array.from({ length: 30 }, (_, i) => [bob.userId, nobody, local.userId][i % 3]!);
    const outcomes = await Promise.all(targets.map((to, i) => alice.send(to, new Uint8Array([i]))));
    expect(outcomes).toEqual(targets.map((to) => (to === nobody ? 'offline' : 'delivered')));
    await eventually(() => got.length === 10, 10_000, 'remote deliveries');
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => i * 3));
  });

  it('keeps presence consistent across processes', async () => {
    const [a, b, c] = servers;
    const watcher = await on(a!);
    const bobId = makeIdentity();
    const bob1 = await on(b!, bobId);
    expect(await watcher.subscribePresence([bobId.userId])).toEqual([bobId.userId]);
    const bob2 = await on(c!, bobId);
    bob1.close();
    // Still online through process C: a fresh watcher on B agrees.
    const second = await on(b!);
    expect(await second.subscribePresence([bobId.userId])).toEqual([bobId.userId]);
    const offline = nextEvent(watcher.onPresence, (e) => !e.online, 10_000);
    bob2.close();
    expect((await offline).userId).toBe(bobId.userId);
    const online = nextEvent(second.onPresence, (e) => e.online, 10_000);
    await on(c!, bobId);
    expect((await online).userId).toBe(bobId.userId);
  });

  it('converges on the true presence when a user drops on one process and reconnects on another at once', async () => {
    const bob = makeIdentity();
    const watchers = await Promise.all(servers.map((s) => on(s)));
    for (const w of watchers) expect(await w.subscribePresence([bob.userId])).toEqual([]);
    let current = await on(servers[0]!, bob);
    // Each hop: the old connection closes while the new one authenticates on the next process,
    // so the two processes report the transitions concurrently.
    for (let hop = 1; hop <= 8; hop++) {
      const old = current;
      const next = on(servers[hop % servers.length]!, bob);
      old.close();
      current = await next;
    }
    // Online everywhere, as Redis says, and it stays so (no late "offline" overtakes).
    await eventually(() => watchers.every((w) => w.isOnline(bob.userId) === true), 20_000, 'watchers see bob online');
    const fresh = await on(servers[1]!);
    expect(await fresh.subscribePresence([bob.userId])).toEqual([bob.userId]);
    for (const w of watchers) expect(w.isOnline(bob.userId)).toBe(true);
    current.close();
    await eventually(() => watchers.every((w) => w.isOnline(bob.userId) === false), 20_000, 'watchers see bob offline');
  });

  it('never hands out a one-time prekey twice under concurrent fetches from all processes', async () => {
    const owner = makeIdentity();
    const ownerClient = await on(servers[0]!, owner);
    await ownerClient.uploadPrekeys(makeSignedPrekey(owner, 1), makeOneTimePrekeys(0, 200));
    expect(await ownerClient.uploadPrekeys(undefined, makeOneTimePrekeys(200, 100))).toBe(300);
    const fetchers = await Promise.all(servers.flatMap((s) => [on(s), on(s)]));
    const bundles = await Promise.all(Array.from({ length: 330 }, (_, i) => fetchers[i % fetchers.length]!.fetchPrekeyBundle(owner.userId)));
    const ids = bundles.flatMap((b) => (b.oneTimePrekey ? [b.oneTimePrekey.keyId] : []));
    expect(ids).toHaveLength(300);
    expect(new Set(ids).size).toBe(300);
    expect(bundles.filter((b) => !b.oneTimePrekey)).toHaveLength(30);
  });

  it('when a process is killed, its clients reconnect to another through the balancer and presence converges', async () => {
    const [a, b, c] = servers;
    const users = Array.from({ length: 6 }, () => makeIdentity());
    const viaBalancer = await Promise.all(users.map((u) => on({ url: balancer.url } as ServerProcess, u)));
    const ghost = makeIdentity();
    await on(c!, ghost, false);
    const watched: UserId[] = [...users.map((u) => u.userId), ghost.userId];
    const watcher = await on(a!);
    expect(new Set(await watcher.subscribePresence(watched))).toEqual(new Set(watched));

    const dropped = new Set<SignalingClient>();
    for (const client of viaBalancer) client.onDidChangeState((state) => state === 'reconnecting' && dropped.add(client));
    const ghostOffline = nextEvent(watcher.onPresence, (e) => e.userId === ghost.userId && !e.online, 30_000);
    await c!.stop('SIGKILL');
    servers = [a!, b!];
    // The ghost does not come back: the survivors sweep the dead process and report it offline.
    await ghostOffline;
    // The others (two of them were on C) are connected again, through A or B.
    await eventually(() => dropped.size === 2 && viaBalancer.every((client) => client.state === 'connected'), 30_000, 'clients reconnected');
    for (const client of viaBalancer) expect(await client.send(client.userId, new Uint8Array([0]))).toBeDefined();
    const fresh = await on(b!);
    await eventually(async () => (await fresh.subscribePresence(watched)).length === users.length, 20_000, 'presence converged');
    expect(new Set(await fresh.subscribePresence(watched))).toEqual(new Set(users.map((u) => u.userId)));
    for (const user of users) expect(watcher.isOnline(user.userId)).toBe(true);
    expect(watcher.isOnline(ghost.userId)).toBe(false);
  });
});
