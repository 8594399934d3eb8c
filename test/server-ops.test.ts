import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { SignalingEvents, nextEvent, type ShutdownNotice } from '@discordopus/sdk';
import { connectClient, makeIdentity, makeOneTimePrekeys, makeSignedPrekey, repoRoot, startServerProcess, type ServerProcess } from './server-support.ts';

const run = promisify(execFile);
const started: ServerProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function start(args: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess(args, env);
  started.push(server);
  return server;
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'do-server-'));
  dirs.push(dir);
  return dir;
}

describe('operating the server', () => {
  it('documents every flag in --help, through the bin as npx runs it', async () => {
    const { stdout } = await run(process.execPath, [path.join(repoRoot, 'server/bin/discordopus-server.js'), '--help'], { cwd: repoRoot });
    for (const flag of ['--host', '--port', '--tls-cert', '--tls-key', '--origin', '--store', '--redis', '--auth-timeout-ms', '--max-payload-bytes', '--event-rate', '--log-level']) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toContain('DISCORDOPUS_REDIS_URL');
  });

  it('takes its configuration from the environment', async () => {
    const server = await start([], { DISCORDOPUS_MAX_SUBSCRIPTIONS: '2' });
    const client = await connectClient(server.url);
    await expect(client.subscribePresence([makeIdentity().userId, makeIdentity().userId, makeIdentity().userId])).rejects.toMatchObject({ code: 'signaling/too-many-subscriptions' });
    client.close();
  });

  it('serves /healthz and Prometheus /metrics with connection, auth, envelope and byte counters', async () => {
    const server = await start();
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const alice = await connectClient(server.url);
    const bob = await connectClient(server.url);
    expect(await alice.send(bob.userId, new Uint8Array(100))).toBe('delivered');
    const bad = io(server.url, { transports: ['websocket'], reconnection: false });
    await new Promise((resolve) => bad.once(SignalingEvents.challenge, resolve));
    await bad.emitWithAck(SignalingEvents.auth, { publicKey: 'x', signature: 'y', origin: 'z' });
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/discordopus_connections \d+/);
    expect(text).toMatch(/discordopus_authenticated_connections 2/);
    expect(text).toMatch(/discordopus_auth_failures_total\{reason="malformed"\} 1/);
    expect(text).toMatch(/discordopus_envelopes_total\{status="delivered"\} 1/);
    expect(text).toMatch(/discordopus_relayed_bytes_total 100/);
    expect(text).toContain('discordopus_rate_limited_total');
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    alice.close();
    bob.close();
  });

  it('shuts down gracefully on SIGTERM: tells clients, disconnects them, exits 0', async () => {
    const server = await start();
    const client = await connectClient(server.url);
    const raw = io(server.url, { transports: ['websocket'], reconnection: false });
    await new Promise((resolve) => raw.once(SignalingEvents.challenge, resolve));
    const notice = new Promise<ShutdownNotice>((resolve) => raw.once(SignalingEvents.shutdown, resolve));
    const rawClosed = new Promise<string>((resolve) => raw.once('disconnect', resolve));
    const reconnecting = nextEvent(client.onDidChangeState, (s) => s === 'reconnecting', 20_000);
    server.proc.kill('SIGTERM');
    expect((await notice).reconnectAfterMs).toBeGreaterThanOrEqual(0);
    expect(await rawClosed).toBe('io server disconnect');
    await reconnecting;
    expect(await server.exited).toBe(0);
    expect(server.logs.map((l) => l.msg)).toContain('closed');
    client.close();
  });

  it('never logs payloads, keys or signatures', async () => {
    const server = await start(['--log-level', 'debug']);
    const alice = makeIdentity();
    const a = await connectClient(server.url, alice);
    const b = await connectClient(server.url);
    const payload = Buffer.from('secret-payload-0123456789');
    const spk = makeSignedPrekey(alice, 9);
    await a.uploadPrekeys(spk, makeOneTimePrekeys(5, 2));
    await b.fetchPrekeyBundle(alice.userId);
    await a.send(b.userId, payload);
    a.close();
    b.close();
    await server.stop('SIGTERM');
    const out = server.output();
    for (const secret of [payload.toString(), payload.toString('base64'), payload.toString('hex'),
      Buffer.from(alice.publicKey).toString('base64url'), Buffer.from(spk.signature).toString('base64url'), Buffer.from(spk.publicKey).toString('base64url')]) {
      expect(out).not.toContain(secret);
    }
  });

  it('keeps prekeys across restarts with --store sqlite:PATH', async () => {
    const file = path.join(tempDir(), 'prekeys.db');
    const bob = makeIdentity();
    const first = await start(['--store', `sqlite:${file}`]);
    const owner = await connectClient(first.url, bob);
    expect(await owner.uploadPrekeys(makeSignedPrekey(bob, 3), makeOneTimePrekeys(10, 2))).toBe(2);
    owner.close();
    await first.stop('SIGTERM');
    const second = await start(['--store', `sqlite:${file}`]);
    const fetcher = await connectClient(second.url);
    expect((await fetcher.fetchPrekeyBundle(bob.userId)).oneTimePrekey?.keyId).toBe(10);
    expect((await fetcher.fetchPrekeyBundle(bob.userId)).oneTimePrekey?.keyId).toBe(11);
    expect((await fetcher.fetchPrekeyBundle(bob.userId)).oneTimePrekey).toBeUndefined();
    fetcher.close();
  });

  it('serves WSS with --tls-cert/--tls-key and binds auth to the wss origin', async () => {
    const dir = tempDir();
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const server = await start(['--tls-cert', cert, '--tls-key', key]);
    expect(server.url.startsWith('https://')).toBe(true);
    const client = await connectClient(server.url, makeIdentity(), { tls: { ca: readFileSync(cert, 'utf8') } });
    expect(client.state).toBe('connected');
    client.close();
  });

  it('refuses to start with an unknown store, with a clear message', async () => {
    await expect(startServerProcess(['--store', 'mongodb://x'])).rejects.toThrow(/exited with 1/);
  });
});
