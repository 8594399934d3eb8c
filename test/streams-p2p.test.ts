/**
 * Peer streams between two real clients in two processes (this one and streams-child.ts), over a
 * real signaling server, with the plugin API (`ctx.streams`) on both ends: open/accept/echo,
 * bulk data, a refused name, and a peer process killed mid-stream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextEvent, parseUserId, type PeerStream, type UserId } from '@discordopus/sdk';
import { createSignalingServer, type SignalingServer } from '../server/src/index.ts';
import { createClient, type DiscordOpusClient } from '../core/src/node/client/create-client.ts';
import { TEST_PEER_LINKS, TEST_PROFILE_KDF, tempDir } from '../core/src/node/client/test-profiles.ts';
import { streamTestPlugin, type StreamTestApi } from './streams-support.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const temp = tempDir('discordopus-streams-');
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

let server: SignalingServer;
let alice: DiscordOpusClient;
let api: StreamTestApi;

/** Bob: a client in a child process. */
class ChildClient {
  readonly id: Promise<UserId>;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly added = new Map<string, () => void>();

  constructor(name: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'streams-child.ts'), path.join(temp.dir, name), server.url], {
      cwd: path.resolve(here, '..'),
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    let gotId!: (id: UserId) => void;
    this.id = new Promise((resolve) => (gotId = resolve));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const record = JSON.parse(line) as { id?: string; added?: string };
      if (record.id) gotId(parseUserId(record.id));
      if (record.added) this.added.get(record.added)?.();
    });
  }

  addContact(id: UserId): Promise<void> {
    return new Promise((resolve) => {
      this.added.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ addContact: id })}\n`);
    });
  }

  async stop(): Promise<void> {
    this.child.stdin?.end();
    await this.exited;
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

const children: ChildClient[] = [];

async function startBob(name: string): Promise<{ bob: ChildClient; bobId: UserId }> {
  const bob = new ChildClient(name);
  children.push(bob);
  const bobId = await bob.id;
  await bob.addContact(alice.identity.userId);
  await alice.contacts.add(bobId);
  return { bob, bobId };
}

function collect(stream: PeerStream): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  stream.onData((d) => chunks.push(Uint8Array.from(d)));
  return chunks;
}

beforeAll(async () => {
  server = await createSignalingServer({ logger: pino({ level: 'silent' }), processMetrics: false });
  alice = await createClient({
    profileDir: path.join(temp.dir, 'alice'), passphrase: 'alice streams', create: true, profileKdf: TEST_PROFILE_KDF,
    serverUrl: server.url, connectSignaling: true, peerLinks: TEST_PEER_LINKS, plugins: [streamTestPlugin()],
  });
  api = alice.kernel.pluginApi<StreamTestApi>('streamtest')!;
}, 60_000);

afterAll(async () => {
  for (const child of children) await child.kill().catch(() => {});
  await alice?.close();
  await server?.close();
  temp.cleanup();
});

describe('peer streams between two client processes', () => {
  it('opens a stream to a client in another process, echoes 1 MiB, refuses an unclaimed name, closes', async () => {
    const { bob, bobId } = await startBob('bob');
    const echo = await api.open(bobId, 'echo', 60_000);
    expect(echo.peer).toBe(bobId);
    expect(echo.name).toBe('echo');
    expect(echo.maxWriteBytes).toBe(256 * 1024);
    const echoed = collect(echo);
    await echo.write(enc('hello from another process'));
    const big = randomBytes(1024 * 1024);
    const sent = createHash('sha256').update(big).digest('hex');
    for (let offset = 0; offset < big.length; offset += echo.maxWriteBytes) await echo.write(big.subarray(offset, offset + echo.maxWriteBytes));
    const closed = nextEvent(echo.onDidClose, () => true, 120_000);
    await echo.close();
    expect(await closed).toBeUndefined();
    expect(dec(echoed[0]!)).toBe('hello from another process');
    expect(createHash('sha256').update(Buffer.concat(echoed.slice(1))).digest('hex')).toBe(sent);

    await expect(api.open(bobId, 'nobody-listens', 30_000)).rejects.toMatchObject({ code: 'streams/refused', details: { reason: 'no-handler' } });
    await bob.stop();
  }, 240_000);

  it('breaks the stream with streams/link-lost when the peer process is killed mid-stream', async () => {
    const { bob, bobId } = await startBob('bob2');
    const sink = await api.open(bobId, 'sink', 60_000);
    const lost = nextEvent(sink.onDidClose, () => true, 120_000);
    const chunk = randomBytes(sink.maxWriteBytes);
    let failure: unknown;
    const writer = (async () => {
      try {
        for (;;) await sink.write(chunk);
      } catch (error) {
        failure = error;
      }
    })();
    // Some data flowed, then bob vanishes without a word.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(failure).toBeUndefined();
    await bob.kill();
    expect((await lost)?.code).toBe('streams/link-lost');
    await writer;
    expect(failure).toMatchObject({ code: 'streams/link-lost' });
    expect(sink.closed).toBe(true);
  }, 240_000);
});
