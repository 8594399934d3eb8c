import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../core/src/node/client/test-profiles.ts';
import { befriendCliProfiles, CLI_BIN, makeCliProfile, type CliProfile } from './cli-profiles.ts';
import { CliListener } from './cli-listen.ts';

/*
 * Start-up cost of the real bin (the cached esbuild bundle users run, and the sources through
 * tsx): each command loads only the packages it uses. werift and its media stack cost ~0.6 s of
 * CPU; kysely and zod ~0.4 s, which `--help` does not need. A preload records every module the
 * process loads (ESM through a loader hook as it happens, CommonJS from require.cache at exit).
 */

const temp = tempDir('discordopus-cli-lazy-');
const PASS = 'lazy load passphrase';
const LONG = 180_000;
const preload = path.join(temp.dir, 'record-modules.mjs');
let alice: CliProfile;
let bob: CliProfile;

/** Packages never needed by the commands below (besides `call`): the media stack and the QR renderer. */
const MEDIA = ['werift', 'mediabunny', 'qrcode'];
/** Packages `--help` must not load: the storage, kernel and network stacks. */
const KERNEL = ['kysely', 'zod', 'better-sqlite3-multiple-ciphers', 'inversify', 'pino', 'socket.io-client'];

beforeAll(async () => {
  writeFileSync(path.join(temp.dir, 'record-hooks.mjs'), [
    "import { appendFileSync } from 'node:fs';",
    'export async function load(url, context, next) {',
    '  appendFileSync(process.env.MODULES_LOG, `${url}\\n`);',
    '  return next(url, context);',
    '}',
  ].join('\n'));
  writeFileSync(preload, [
    "import { appendFileSync } from 'node:fs';",
    "import { createRequire, register } from 'node:module';",
    "register('./record-hooks.mjs', import.meta.url);",
    'const require = createRequire(import.meta.url);',
    "process.on('exit', () => appendFileSync(process.env.MODULES_LOG, Object.keys(require.cache).map((f) => `${f}\\n`).join('')));",
  ].join('\n'));
  [alice, bob] = await Promise.all([makeCliProfile(temp.dir, 'alice', PASS), makeCliProfile(temp.dir, 'bob', PASS)]);
  await befriendCliProfiles(alice, bob, PASS);
}, LONG);

afterAll(() => temp.cleanup());

function env(log: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of Object.keys(base)) if (name.startsWith('DISCORDOPUS_') || name === 'DEBUG') delete base[name];
  return { ...base, DISCORDOPUS_PASSPHRASE: PASS, DISCORDOPUS_BIN_DEBUG: '1', DISCORDOPUS_PEER_LINKS: 'off', MODULES_LOG: log, ...extra };
}

let runs = 0;
/** Runs the bin with the preload; returns its output and the packages it loaded. */
function run(args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string; packages: Set<string> }> {
  const log = path.join(temp.dir, `modules-${++runs}.log`);
  writeFileSync(log, '');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', preload, CLI_BIN, ...args], { env: env(log, extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, packages: packagesIn(log) }));
  });
}

/** Every npm package with a module in the log (also those nested in another's node_modules). */
function packagesIn(log: string): Set<string> {
  const found = new Set<string>();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    for (const m of line.matchAll(/node_modules\/((?:@[^/]+\/)?[^/.][^/]*)\//g)) found.add(m[1]!);
  }
  return found;
}

const loaded = (packages: Set<string>, names: string[]) => names.filter((name) => packages.has(name));
const fromBundle = (stderr: string) => /^bin: bundle (built|reused)/m.test(stderr);

describe('CLI start-up loads only what the command uses', () => {
  it('--help loads neither the kernel nor the media stack', async () => {
    const help = await run(['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: discordopus/);
    expect(fromBundle(help.stderr), help.stderr).toBe(true);
    expect(help.packages.has('commander')).toBe(true);
    expect(loaded(help.packages, [...KERNEL, ...MEDIA])).toEqual([]);
  }, LONG);

  it('id, contacts list (text and JSON) and send without a server leave out the media stack', async () => {
    const profile = ['--profile', alice.dir];
    const results = await Promise.all([
      run([...profile, 'id']),
      run([...profile, 'contacts', 'list']),
      run([...profile, '--json', 'contacts', 'list']),
      run([...profile, 'send', 'bob', 'hello', '--timeout', '1']),
    ]);
    const [id, list, listJson, send] = results;
    expect(id!.stdout.trim()).toBe(alice.userId);
    expect(list!.stdout).toContain(bob.userId);
    expect(JSON.parse(listJson!.stdout)).toMatchObject([{ userId: bob.userId, name: 'bob' }]);
    expect(send!.stdout).toBe('queued\n');
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(fromBundle(result.stderr), result.stderr).toBe(true);
      // The kernel did load (the check sees modules), only the media stack did not.
      expect(result.packages.has('kysely')).toBe(true);
      expect(loaded(result.packages, MEDIA)).toEqual([]);
    }
  }, LONG);

  it('the same from the sources through tsx (the path tests and development use)', async () => {
    const id = await run(['--profile', alice.dir, 'id'], { DISCORDOPUS_FROM_SOURCE: '1' });
    expect(id.code, id.stderr).toBe(0);
    expect(id.stderr).toMatch(/^bin: source via tsx/m);
    expect(id.stdout.trim()).toBe(alice.userId);
    expect(loaded(id.packages, MEDIA)).toEqual([]);
  }, LONG);

  it('the daemon serves calls without loading werift, and loads it from its bundle for the first call', async () => {
    const log = path.join(temp.dir, 'daemon-modules.log');
    writeFileSync(log, '');
    const socketPath = path.join(temp.dir, 'alice.sock');
    const daemon = CliListener.spawn(['--profile', alice.dir, 'daemon', '--socket', socketPath], { env: env(log), nodeArgs: ['--import', preload] });
    try {
      await daemon.untilLine('the daemon to listen', (line) => line.startsWith('daemon listening on'));
      expect(fromBundle(daemon.stderr), daemon.stderr).toBe(true);
      const rpc = await connectRpc(socketPath);
      try {
        expect(await rpc.call('calls.list')).toEqual([]);
        expect(loaded(packagesIn(log), ['werift'])).toEqual([]);
        // No server: the media session opens and makes its offer (werift loaded from the
        // bundle's lazy chunk), then ringing bob fails; a failed load would say "call media".
        await expect(rpc.call('calls.call', { contact: 'bob' })).rejects.toThrow(/^Could not ring bob/);
        expect(loaded(packagesIn(log), ['werift'])).toEqual(['werift']);
      } finally {
        rpc.close();
      }
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  }, LONG);
});

/** A JSON-RPC 2.0 client on the daemon's socket (one JSON text per line). */
async function connectRpc(socketPath: string): Promise<{ call(method: string, params?: unknown): Promise<unknown>; close(): void }> {
  const socket = net.connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let buffered = '';
  let nextId = 1;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let at: number;
    while ((at = buffered.indexOf('\n')) >= 0) {
      const reply = JSON.parse(buffered.slice(0, at)) as { id?: number; result?: unknown; error?: { message: string } };
      buffered = buffered.slice(at + 1);
      const w = reply.id === undefined ? undefined : waiting.get(reply.id);
      if (!w) continue;
      waiting.delete(reply.id!);
      if (reply.error) w.reject(new Error(reply.error.message));
      else w.resolve(reply.result);
    }
  });
  return {
    call: (method, params = {}) => new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      socket.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    }),
    close: () => socket.destroy(),
  };
}
