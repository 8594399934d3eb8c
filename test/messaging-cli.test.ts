/*
 * The real thing: a signaling server process and `discordopus send` / `listen` processes on two
 * profiles, talking end to end encrypted through the server's relay. Profiles are made in this
 * process with a cheap scrypt (stored in the profile, so the CLI opens them at that cost too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagingApi } from '../plugins/messaging/src/index.ts';
import { createClient } from '../core/src/node/client/create-client.ts';
import { createLogger } from '../core/src/node/kernel/kernel.ts';
import { firstPartyPlugins } from '../core/src/node/client/first-party-plugins.ts';
import { tempDir } from '../core/src/node/client/test-profiles.ts';
import { CLI_BIN, cliEnv, makeFriendProfiles, type CliProfile } from './cli-profiles.ts';
import { CliListener } from './cli-listen.ts';
import { startServerProcess, type ServerProcess } from './server-support.ts';

const bin = CLI_BIN;
const temp = tempDir('discordopus-messaging-cli-');
const PASS = 'messaging cli passphrase';
const LONG = 180_000;

type Profile = CliProfile;

let server: ServerProcess;
let alice: Profile;
let bob: Profile;
const children = new Set<ChildProcess>();

function env(): NodeJS.ProcessEnv {
  return cliEnv(PASS, server.url);
}

function run(profile: Profile, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, '--profile', profile.dir, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A running `listen --json`, once it is ready; its output must be only JSON lines. */
async function startListener(profile: Profile): Promise<CliListener> {
  const listener = CliListener.spawn(['--profile', profile.dir, 'listen', '--json'], { env: env(), children, strict: true });
  await listener.until('ready', (events) => events.some((e) => e.type === 'ready'));
  return listener;
}

/** A running `listen` without --json: the lines it printed, and a way to wait for one. */
function listenHuman(profile: Profile): CliListener {
  return CliListener.spawn(['--profile', profile.dir, 'listen'], { env: env(), children });
}


/** Opens a profile in this process (no server) to queue messages or read its history. */
async function withMessaging<T>(profile: Profile, fn: (api: MessagingApi) => Promise<T>): Promise<T> {
  const client = await createClient({ profileDir: profile.dir, passphrase: PASS, plugins: firstPartyPlugins() });
  try {
    return await fn(client.kernel.pluginApi<MessagingApi>('messaging')!);
  } finally {
    await client.close();
  }
}


beforeAll(async () => {
  server = await startServerProcess();
  [alice, bob] = await makeFriendProfiles(temp.dir, PASS);
}, LONG);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await server?.stop();
  temp.cleanup();
});

describe('discordopus send / listen', () => {
  it('exchanges messages both ways: send prints "delivered", listen prints the message as JSON', async () => {
    const bobListens = await startListener(bob);
    const sent = await run(alice, ['send', 'bob', 'hello bob', '--timeout', '60']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toBe('delivered\n');
    await bobListens.until('the message', (events) => events.some((e) => e.type === 'message'));
    expect(bobListens.ofType('message')).toEqual([{ type: 'message', from: alice.userId, text: 'hello bob', id: expect.stringMatching(/^[0-9a-f]{32}$/), sentAt: expect.any(Number) }]);
    expect(await bobListens.stop()).toBe(0);

    const aliceListens = await startListener(alice);
    const back = await run(bob, ['--json', 'send', alice.userId, 'hello alice', '--timeout', '60']);
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ status: 'delivered', to: alice.userId });
    await aliceListens.until('the reply', (events) => events.some((e) => e.type === 'message'));
    expect(aliceListens.ofType('message')).toMatchObject([{ from: bob.userId, text: 'hello alice' }]);
    expect(await aliceListens.stop()).toBe(0);
  }, LONG);

  it('queues for an offline recipient, keeps it across a sender restart, and delivers it once both are online', async () => {
    const queued = await run(alice, ['send', 'bob', 'while you were away', '--timeout', '2']);
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.stdout).toBe('queued\n');
    // The sender comes back and goes again while the recipient is still offline.
    const interim = await startListener(alice);
    expect(await interim.stop()).toBe(0);

    const bobListens = await startListener(bob);
    const aliceListens = await startListener(alice);
    await bobListens.until('the queued message', (events) => events.some((e) => e.type === 'message'));
    await aliceListens.until('the delivered status', (events) => events.some((e) => e.type === 'status' && e.status === 'delivered'));
    expect(bobListens.ofType('message').map((m) => m.text)).toEqual(['while you were away']);
    await Promise.all([bobListens.stop(), aliceListens.stop()]);
  }, LONG);

  it('loses nothing and duplicates nothing when the recipient is killed mid-stream', async () => {
    // Several batches' worth (64 records each), so the kill lands between batches.
    const texts = Array.from({ length: 300 }, (_, i) => `burst ${i + 1}`);
    await withMessaging(alice, async (api) => {
      for (const text of texts) await api.sendText('bob', text);
    });
    const first = await startListener(bob);
    const aliceListens = await startListener(alice);
    await first.until('the first of the burst', () => first.ofType('message').length >= 1);
    await first.stop('SIGKILL');
    const second = await startListener(bob);
    await aliceListens.until('every message delivered', (events) => {
      const delivered = new Set(events.filter((e) => e.type === 'status' && (e.status === 'delivered' || e.status === 'read')).map((e) => e.id));
      return delivered.size >= texts.length;
    }, 150_000);
    await Promise.all([second.stop(), aliceListens.stop()]);

    const printed = [...first.ofType('message'), ...second.ofType('message')].map((m) => m.text);
    expect(new Set(printed).size).toBe(printed.length);
    const history = await withMessaging(bob, (api) => api.history('alice', { limit: 500 }));
    const burst = history.messages.filter((m) => m.text?.startsWith('burst '));
    expect(burst.map((m) => m.text)).toEqual(texts);
    expect(new Set(burst.map((m) => m.id)).size).toBe(texts.length);
  }, LONG);

  it('serves the messaging methods and events over the daemon\'s JSON-RPC', async () => {
    const socketPath = path.join(temp.dir, 'bob.sock');
    const daemon = spawn(process.execPath, [bin, '--profile', bob.dir, 'daemon', '--socket', socketPath], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(daemon);
    let daemonErr = '';
    daemon.stderr!.on('data', (d) => (daemonErr += d));
    await new Promise<void>((resolve, reject) => {
      daemon.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
      daemon.once('exit', (code) => reject(new Error(`daemon exited with ${code}: ${daemonErr}`)));
    });
    const socket = net.connect(socketPath);
    const replies: any[] = [];
    let wake = () => {};
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let at: number;
      while ((at = buffered.indexOf('\n')) >= 0) {
        replies.push(JSON.parse(buffered.slice(0, at)));
        buffered = buffered.slice(at + 1);
      }
      wake();
    });
    const waitFor = async (match: (m: any) => boolean) => {
      const deadline = Date.now() + 120_000;
      while (!replies.some(match)) {
        if (Date.now() > deadline) throw new Error(`no reply; got ${JSON.stringify(replies)}; daemon: ${daemonErr}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 1_000);
        });
      }
      return replies.find(match);
    };
    let nextId = 1;
    const call = async (method: string, params: Record<string, unknown> = {}) => {
      const id = nextId++;
      socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
      const reply = await waitFor((m) => m.id === id);
      if (reply.error) throw Object.assign(new Error(reply.error.message), reply.error);
      return reply.result;
    };

    await call('subscribe', { topics: ['messaging.received', 'messaging.status'] });
    const sent = await run(alice, ['send', 'bob', 'to the daemon', '--timeout', '60']);
    expect(sent.stdout, sent.stderr).toBe('delivered\n');
    const event = await waitFor((m) => m.method === 'event' && m.params.topic === 'messaging.received');
    expect(event.params.payload).toMatchObject({ from: alice.userId, text: 'to the daemon' });
    const page = await call('messaging.history', { contact: 'alice', limit: 1 });
    expect(page.messages).toMatchObject([{ text: 'to the daemon', direction: 'in' }]);
    expect((await call('messaging.search', { query: 'daemon' })).map((m: any) => m.text)).toEqual(['to the daemon']);
    // Everything Alice sent in the earlier cases is unread too.
    expect((await call('messaging.markRead', { contact: 'alice' })).marked).toBeGreaterThanOrEqual(1);
    // Alice is offline: the reply waits in the daemon's outbox.
    expect(await call('messaging.send', { contact: 'alice', text: 'got it' })).toMatchObject({ status: 'queued', direction: 'out' });
    await expect(call('messaging.send', { contact: 'alice', text: '' })).rejects.toMatchObject({ message: expect.any(String) });
    await expect(call('messaging.edit', { id: 'zz', text: 'x' })).rejects.toMatchObject({ message: expect.any(String) });
    expect(await call('messaging.conversations')).toMatchObject([{ peer: alice.userId, unread: 0, queued: 1 }]);

    socket.destroy();
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon.once('exit', resolve));
  }, LONG);

  it('goes on after the server is killed and restarted mid-conversation: both reconnect, the outbox drains, nothing lost or doubled', async () => {
    const bobListens = await startListener(bob);
    // Alice in this process (a separate process from Bob's listen), relay only: the envelopes
    // must cross the restarted server, not a direct link that would outlive it.
    const client = await createClient({
      profileDir: alice.dir, passphrase: PASS, serverUrl: server.url, connectSignaling: true, peerLinks: false,
      plugins: firstPartyPlugins(), logger: createLogger({ level: 'error', destination: 2 }),
    });
    try {
      const api = client.kernel.pluginApi<MessagingApi>('messaging')!;
      const delivered = new Set<string>();
      api.onDidChange((c) => {
        if (c.kind === 'status' && (c.status === 'delivered' || c.status === 'read')) delivered.add(c.id);
      });
      // Alice's side is in this process: poll the state her events build.
      const until = async (what: string, condition: () => boolean) => {
        const deadline = Date.now() + 120_000;
        while (!condition()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; bob printed ${JSON.stringify(bobListens.events)}; ${bobListens.stderr}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      const before = await api.sendText('bob', 'before the restart');
      await until('the first message delivered', () => delivered.has(before.id));

      const port = server.port;
      await server.stop('SIGKILL');
      // Sent while there is no server: queued in Alice's outbox.
      const during: string[] = [];
      for (let i = 1; i <= 20; i++) during.push((await api.sendText('bob', `while the server was down ${i}`)).id);
      server = await startServerProcess(['--port', String(port)]);
      const after = await api.sendText('bob', 'after the restart');
      const ids = [...during, after.id];
      // Delivered receipts come from Bob's listen: it reconnected on its own too.
      await until('every message delivered', () => ids.every((id) => delivered.has(id)));
      await bobListens.until('every message printed', (events) => ids.every((id) => events.some((e) => e.type === 'message' && e.id === id)));
      const printed = bobListens.ofType('message').filter((m) => ids.includes(m.id) || m.id === before.id).map((m) => m.text);
      expect(printed).toEqual(['before the restart', ...during.map((_, i) => `while the server was down ${i + 1}`), 'after the restart']);
    } finally {
      await client.close();
    }
    expect(await bobListens.stop()).toBe(0);
  }, LONG);

  it('prints readable lines without --json: who wrote what, delivery status, readiness', async () => {
    // Alice is offline: the message waits in Bob's outbox.
    const queued = await run(bob, ['send', 'alice', 'plain words for alice', '--timeout', '2']);
    expect(queued.stdout, queued.stderr).toBe('queued\n');
    const aliceListens = listenHuman(alice);
    await aliceListens.untilLine('ready', (line) => line === `listening as ${alice.userId} (Ctrl+C to stop)`);
    const bobListens = listenHuman(bob);
    await aliceListens.untilLine('the message, with the contact name', (line) => line === 'bob: plain words for alice');
    await bobListens.untilLine('the delivered status', (line) => /^\[delivered\] message [0-9a-f]{8} to alice$/.test(line));
    expect(bobListens.lines).toContain(`listening as ${bob.userId} (Ctrl+C to stop)`);
    expect(bobListens.lines).toContain('alice is online');
    // No JSON in human mode.
    expect([...aliceListens.lines, ...bobListens.lines].some((line) => line.startsWith('{'))).toBe(false);
    expect(await aliceListens.stop()).toBe(0);
    expect(await bobListens.stop()).toBe(0);
  }, LONG);

  it('rejects bad input with a clear error', async () => {
    const [unknown, badTimeout, empty] = await Promise.all([
      run(alice, ['send', 'carol', 'hi']),
      run(alice, ['send', 'bob', 'hi', '--timeout', 'soon']),
      run(alice, ['send', 'bob', '  ']),
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/^error: .*not one of your contacts/m);
    expect(badTimeout.code).not.toBe(0);
    expect(badTimeout.stderr).toMatch(/--timeout expects/);
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toMatch(/empty/);
  }, LONG);
});
