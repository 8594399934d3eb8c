/**
 * Helpers for the server scenarios: real server processes (the CLI), real redis-server, real
 * Ed25519 identities and SignalingClients. Processes are killed by the tests that start them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signedPrekeyMessage, userIdFromPublicKey, type OneTimePrekey, type SignedPrekey, type UserId } from '@discordopus/sdk';
import { SignalingClient, type SignalingClientOptions } from '../core/src/node/signaling/signaling-client.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Identity {
  publicKey: Uint8Array;
  privateKey: KeyObject;
  userId: UserId;
  sign(message: Uint8Array): Uint8Array;
}

export function makeIdentity(): Identity {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
  return { publicKey: raw, privateKey, userId: userIdFromPublicKey(raw), sign: (m) => new Uint8Array(sign(null, m, privateKey)) };
}

export function makeSignedPrekey(identity: Identity, keyId: number): SignedPrekey {
  const publicKey = new Uint8Array(32).fill(keyId & 0xff);
  return { keyId, publicKey, signature: identity.sign(signedPrekeyMessage(keyId, publicKey)) };
}

export function makeOneTimePrekeys(from: number, count: number): OneTimePrekey[] {
  return Array.from({ length: count }, (_, i) => {
    const publicKey = new Uint8Array(32);
    new DataView(publicKey.buffer).setUint32(0, from + i);
    return { keyId: from + i, publicKey };
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  /** Every JSON log line the server printed. */
  logs: Record<string, unknown>[];
  /** Raw stdout, to check nothing secret was logged. */
  output(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `server/src/cli.ts` in a child process and waits for its `listening` log line. */
export async function startServerProcess(args: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server/src/cli.ts', '--port', '0', ...args], {
    cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stdout = '';
  let stderr = '';
  let buffered = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const listening = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      buffered += chunk.toString();
      let at: number;
      while ((at = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, at);
        buffered = buffered.slice(at + 1);
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          logs.push(record);
          if (record.msg === 'listening') resolve(record);
        } catch {
          // not a log line
        }
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening: ${stderr}`)));
  });
  const record = await listening;
  const url = String(record.url);
  return {
    url, port: Number(new URL(url).port), proc, logs, exited,
    output: () => stdout + stderr,
    stop: async (signal = 'SIGKILL') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export interface RedisProcess {
  url: string;
  stop(): Promise<void>;
}

/** A throwaway redis-server on a free port, no persistence, in a temp dir. */
export async function startRedis(): Promise<RedisProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'do-redis-'));
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    proc.once('error', reject);
    void exited.then(() => reject(new Error(`redis-server exited: ${out}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      proc.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A connected, authenticated SignalingClient for `identity`. */
export async function connectClient(url: string, identity: Identity = makeIdentity(), options: Partial<SignalingClientOptions> = {}): Promise<SignalingClient> {
  const client = new SignalingClient({ url, publicKey: identity.publicKey, sign: identity.sign, reconnectDelayMs: 100, reconnectDelayMaxMs: 1000, ...options });
  await client.connect();
  return client;
}

/** Polls `check` until it returns true (for state spread over processes); fails after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`eventually: ${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Balancer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A round-robin TCP load balancer in front of several server processes: "behind one address".
 * A backend that refuses the connection is skipped, as a real balancer's health check would.
 */
export async function startBalancer(backendPorts: number[]): Promise<Balancer> {
  const { createServer: createTcpServer, connect } = await import('node:net');
  let next = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = createTcpServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const attempt = (tries: number) => {
      if (tries >= backendPorts.length) return client.destroy();
      const port = backendPorts[next++ % backendPorts.length]!;
      const upstream = connect(port, '127.0.0.1');
      sockets.add(upstream);
      upstream.once('connect', () => {
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED') {
          upstream.removeAllListeners('close');
          sockets.delete(upstream);
          attempt(tries + 1);
        }
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`, port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
