import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * The real `discordopus` bin, run as child processes on temp profiles. Each run pays tsx start-up
 * and a real scrypt, so the scenario reuses its profiles and runs independent commands in parallel.
 */

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../core/bin/discordopus.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'discordopus-cli-'));
const profileA = path.join(dir, 'alice');
const profileB = path.join(dir, 'bob');
const profileC = path.join(dir, 'restored');
const PASS = 'cli test passphrase';
// Generous: each run pays tsx start-up and a real scrypt (N=2^17) on a shared, loaded 2-core machine.
const TIMEOUT = 600_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('DISCORDOPUS_') || name === 'DEBUG') delete env[name];
  return env;
}

function run(args: string[], env: Record<string, string> = { DISCORDOPUS_PASSPHRASE: PASS }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const USER_ID = /^do1[02-9ac-hj-np-z]{32}$/;
let alice: { userId: string; publicKey: string };
let bob: { userId: string; publicKey: string };

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectCleanError(result: Run, code: number, message: RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).toMatch(/^error: /m);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

function groupsOf(output: string): string[] {
  return output.split('\n').filter((l) => /^\s+(\d{5} ){3}\d{5}$/.test(l)).flatMap((l) => l.trim().split(' '));
}

describe('discordopus CLI', () => {
  it('init prints the new user ID and id prints it alone on one line', async () => {
    const [a, b] = await Promise.all([
      run(['--profile', profileA, 'init', '--name', 'Alice']),
      run(['--profile', profileB, '--json', 'init', '--name', 'Bob']),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^do1\w+\n$/);
    expect(b.code, b.stderr).toBe(0);
    bob = JSON.parse(b.stdout);
    expect(bob.userId).toMatch(USER_ID);
    expect(bob.publicKey).toMatch(/^[0-9a-f]{64}$/);

    const [id, idJson] = await Promise.all([run(['--profile', profileA, 'id']), run(['--profile', profileA, 'id', '--json'])]);
    expect(id.code, id.stderr).toBe(0);
    expect(id.stdout).toBe(a.stdout);
    expect(id.stdout.trim()).toMatch(USER_ID);
    alice = JSON.parse(idJson.stdout);
    expect(alice).toMatchObject({ userId: id.stdout.trim(), displayName: 'Alice' });
  }, TIMEOUT);

  it('refuses to overwrite a profile, to open a missing one, and a wrong passphrase', async () => {
    const before = readFileSync(path.join(profileA, 'profile.json'));
    const [again, missing, wrong, noPass] = await Promise.all([
      run(['--profile', profileA, 'init']),
      run(['--profile', path.join(dir, 'nothing-here'), 'id']),
      run(['--profile', profileA, 'id'], { DISCORDOPUS_PASSPHRASE: 'not the passphrase' }),
      run(['--profile', profileA, 'id'], {}),
    ]);
    expectCleanError(again, 6, /already exists/);
    expect(readFileSync(path.join(profileA, 'profile.json'))).toEqual(before);
    expectCleanError(missing, 4, /no profile.*discordopus init/i);
    expectCleanError(wrong, 3, /passphrase is wrong/);
    expectCleanError(noPass, 2, /DISCORDOPUS_PASSPHRASE/);
  }, TIMEOUT);

  it('rejects unknown commands and bad arguments with the usage and a non-zero exit', async () => {
    const [unknown, missingArg, badKey] = await Promise.all([
      run(['--profile', profileA, 'frobnicate']),
      run(['--profile', profileA, 'contacts', 'add']),
      run(['--profile', profileA, 'contacts', 'add', 'do1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq', '--key', 'xyz']),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(unknown.stderr).toMatch(/Usage: discordopus/);
    expect(unknown.stdout).toBe('');
    expect(missingArg.code).toBe(2);
    expect(missingArg.stderr).toMatch(/missing required argument 'userId'/);
    expectCleanError(badKey, 2, /--key expects/);
  }, TIMEOUT);

  it('adds contacts, rejects a mistyped ID with the checksum message, lists and verifies', async () => {
    const typo = bob.userId.slice(0, 12) + (bob.userId[12] === 'q' ? 'p' : 'q') + bob.userId.slice(13);
    const [mistyped, added, addedBack] = await Promise.all([
      run(['--profile', profileA, 'contacts', 'add', typo]),
      run(['--profile', profileA, 'contacts', 'add', bob.userId, '--name', 'bob', '--key', bob.publicKey]),
      run(['--profile', profileB, 'contacts', 'add', alice.userId.toUpperCase(), '--key', alice.publicKey]),
    ]);
    expectCleanError(mistyped, 2, /Checksum mismatch/);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain(`added bob ${bob.userId}`);
    expect(addedBack.code, addedBack.stderr).toBe(0);

    const [duplicate, verified] = await Promise.all([
      run(['--profile', profileA, 'contacts', 'add', bob.userId]),
      run(['--profile', profileA, 'contacts', 'verify', 'bob']),
    ]);
    expectCleanError(duplicate, 6, /already in your contacts/);
    expect(verified.code, verified.stderr).toBe(0);
    const [table, json, unknownContact] = await Promise.all([
      run(['--profile', profileA, 'contacts', 'list']),
      run(['--profile', profileA, '--json', 'contacts', 'list']),
      run(['--profile', profileA, 'contacts', 'verify', 'nobody']),
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+USER ID\s+VERIFIED\s+KEY\s+PRESENCE$/);
    expect(table.stdout).toMatch(new RegExp(`^bob\\s+${bob.userId}\\s+yes\\s+known\\s+unknown$`, 'm'));
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ userId: bob.userId, name: 'bob', verified: true, identityKey: bob.publicKey })]);
    expectCleanError(unknownContact, 4, /No contact is named "nobody"/);
  }, TIMEOUT);

  it('shows the same safety number on both sides, with a QR code and its payload', async () => {
    const [fromA, fromB] = await Promise.all([
      run(['--profile', profileA, 'safety-number', 'bob']),
      run(['--profile', profileB, 'safety-number', alice.userId]),
    ]);
    expect(fromA.code, fromA.stderr).toBe(0);
    expect(fromB.code, fromB.stderr).toBe(0);
    const groups = groupsOf(fromA.stdout);
    expect(groups).toHaveLength(12);
    expect(groupsOf(fromB.stdout)).toEqual(groups);
    expect(fromA.stdout).toMatch(/[▄▀█]/);
    const payload = /^payload: ([A-Za-z0-9_-]+)$/m.exec(fromA.stdout)?.[1];
    expect(payload).toBeDefined();
    expect(fromB.stdout).toContain(`payload: ${payload}`);
    const compared = await run(['--profile', profileB, 'safety-number', alice.userId, '--compare', payload!]);
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stdout).toMatch(/^match/);
  }, TIMEOUT);

  it('exports a backup and imports it into a new profile with the same user ID', async () => {
    const file = path.join(dir, 'alice.backup');
    const backupEnv = { DISCORDOPUS_PASSPHRASE: PASS, DISCORDOPUS_BACKUP_PASSPHRASE: 'backup passphrase 1' };
    const exported = await run(['--profile', profileA, 'backup', 'export', file], backupEnv);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toContain(`backup of ${alice.userId} (1 contacts)`);
    expect(existsSync(file)).toBe(true);

    const [wrong, again] = await Promise.all([
      run(['--profile', profileC, 'backup', 'import', file], { DISCORDOPUS_PASSPHRASE: 'new profile pass', DISCORDOPUS_BACKUP_PASSPHRASE: 'not the backup pass' }),
      run(['--profile', profileA, 'backup', 'export', file], backupEnv),
    ]);
    expectCleanError(wrong, 3, /backup passphrase is wrong/);
    expect(existsSync(profileC) && readdirSync(profileC).length > 0).toBe(false);
    expectCleanError(again, 6, /already exists/);

    const imported = await run(['--profile', profileC, 'backup', 'import', file], { DISCORDOPUS_PASSPHRASE: 'new profile pass', DISCORDOPUS_BACKUP_PASSPHRASE: 'backup passphrase 1' });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout.trim()).toBe(alice.userId);
    const [id, contacts] = await Promise.all([
      run(['--profile', profileC, 'id'], { DISCORDOPUS_PASSPHRASE: 'new profile pass' }),
      run(['--profile', profileC, '--json', 'contacts', 'list'], { DISCORDOPUS_PASSPHRASE: 'new profile pass' }),
    ]);
    expect(id.stdout.trim()).toBe(alice.userId);
    expect(JSON.parse(contacts.stdout)).toEqual([expect.objectContaining({ userId: bob.userId, name: 'bob', verified: true })]);
  }, TIMEOUT);

  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('asks for the passphrase on a terminal without echoing it, and draws progress there', async () => {
    // util-linux `script` gives the CLI a pseudo-terminal; we type once the prompt is shown.
    const command = [bin, '--profile', profileA, 'id'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', `${process.execPath} ${command}`, '/dev/null'], { env: { ...baseEnv(), TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let typed = false;
    child.stdout.on('data', (d) => {
      output += d;
      if (!typed && output.includes(`Passphrase for ${profileA}: `)) {
        typed = true;
        child.stdin.write(`${PASS}\r`);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, output).toBe(0);
    expect(output).toContain(alice.userId);
    expect(output).toMatch(/Unlocking profile \[#+\] 100%/);
    expect(output).not.toContain(PASS);
  }, TIMEOUT);

  it('serves JSON-RPC as a daemon until SIGTERM', async () => {
    const socketPath = path.join(dir, 'cli-daemon.sock');
    const child = spawn(process.execPath, [bin, '--profile', profileA, 'daemon', '--socket', socketPath], {
      env: { ...baseEnv(), DISCORDOPUS_PASSPHRASE: PASS }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('daemon listening on')) resolve();
      });
      exited.then(() => reject(new Error(`daemon exited early: ${stderr}`)));
    });
    const reply = await new Promise<any>((resolve, reject) => {
      const socket = net.connect(socketPath, () => socket.write('{"jsonrpc":"2.0","id":1,"method":"identity.get"}\n'));
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => {
        data += d;
        if (data.includes('\n')) {
          socket.end();
          resolve(JSON.parse(data));
        }
      });
      socket.on('error', reject);
    });
    expect(reply).toMatchObject({ jsonrpc: '2.0', id: 1, result: { userId: alice.userId, displayName: 'Alice' } });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
  }, TIMEOUT);
});
