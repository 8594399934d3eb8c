import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';

/*
 * The bins' fast start (scripts/bin-bundle.js), on a small temp workspace with the same layout as
 * ours: a TypeScript entry importing a local module, a decorator and an npm package. Each case
 * runs the real launcher in child processes, as `node core/bin/discordopus.js` does.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const launcher = pathToFileURL(path.join(repoRoot, 'scripts/bin-bundle.js')).href;
const root = mkdtempSync(path.join(os.tmpdir(), 'discordopus-bin-'));
const src = path.join(root, 'src');
const cacheDir = path.join(root, 'node_modules/.cache/bin');
const TIMEOUT = 180_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(env: Record<string, string> = {}): Promise<Run> {
  const clean = { ...process.env };
  for (const name of Object.keys(clean)) if (name.startsWith('DISCORDOPUS_')) delete clean[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin.js')], {
      cwd: root,
      env: { ...clean, DISCORDOPUS_BIN_DEBUG: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** How the launcher started the program: "built", "reused" or "tsx". */
function modeOf(result: Run): string | undefined {
  return /^bin: (?:bundle (built|reused)|source via (tsx))/m.exec(result.stderr)?.slice(1).find(Boolean);
}

function writeDep(text: string): void {
  writeFileSync(path.join(src, 'dep.ts'), text);
}

beforeEach(() => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  mkdirSync(path.join(root, 'node_modules'));
  symlinkSync(path.join(repoRoot, 'node_modules/commander'), path.join(root, 'node_modules/commander'), 'dir');
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(path.join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { experimentalDecorators: true, target: 'ES2022' } }));
  writeFileSync(path.join(root, 'bin.js'), [
    `import { importBin } from ${JSON.stringify(launcher)};`,
    `const { main } = await importBin({ entry: ${JSON.stringify(path.join(src, 'main.ts'))}, cacheDir: ${JSON.stringify(cacheDir)},`,
    `  tsconfig: ${JSON.stringify(path.join(root, 'tsconfig.json'))}, ...(process.env.TEST_ESBUILD ? { esbuild: process.env.TEST_ESBUILD } : {}) });`,
    'main();',
  ].join('\n'));
  writeFileSync(path.join(src, 'main.ts'), [
    "import path from 'node:path';",
    "import { Command } from 'commander';",
    "import { value } from './dep.ts';",
    'const seen: string[] = [];',
    'const mark = (_target: unknown, key: string) => { seen.push(key); };',
    'class Tagged { @mark run(): void {} }',
    'export function main(): void {',
    '  new Tagged().run();',
    "  const file = path.basename(new URL(import.meta.url).pathname);",
    '  console.log(JSON.stringify({ value, file, decorated: seen, commander: typeof Command }));',
    '}',
  ].join('\n'));
  writeDep("export const value = 'v1';\n");
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('bin start-up from a cached bundle', () => {
  it('builds once, then reuses the bundle; the program behaves as from source', async () => {
    const first = await run();
    expect(first.code, first.stderr).toBe(0);
    expect(modeOf(first)).toBe('built');
    // import.meta.url still names the source file, decorators ran, npm packages load from node_modules.
    expect(JSON.parse(first.stdout)).toEqual({ value: 'v1', file: 'main.ts', decorated: ['run'], commander: 'function' });
    const second = await run();
    expect(modeOf(second)).toBe('reused');
    expect(second.stdout).toBe(first.stdout);
    const viaTsx = await run({ DISCORDOPUS_FROM_SOURCE: '1' });
    expect(modeOf(viaTsx)).toBe('tsx');
    expect(viaTsx.stdout).toBe(first.stdout);
  }, TIMEOUT);

  it('rebuilds after any source change, even one that keeps the size and the old mtime', async () => {
    expect(JSON.parse((await run()).stdout).value).toBe('v1');
    const depFile = path.join(src, 'dep.ts');
    const before = statSync(depFile);
    writeDep("export const value = 'v2';\n");
    // An editor or `cp -p` can restore the mtime; the ctime still moves.
    utimesSync(depFile, before.atime, before.mtime);
    const changed = await run();
    expect(modeOf(changed)).toBe('built');
    expect(JSON.parse(changed.stdout).value).toBe('v2');

    // A new module imported by a changed one.
    writeFileSync(path.join(src, 'extra.ts'), "export const extra = 'v3';\n");
    writeDep("export { extra as value } from './extra.ts';\n");
    const added = await run();
    expect(modeOf(added)).toBe('built');
    expect(JSON.parse(added.stdout).value).toBe('v3');

    // The tsconfig steers compilation: changing it rebuilds too.
    writeFileSync(path.join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { experimentalDecorators: true, target: 'ES2023' } }));
    expect(modeOf(await run())).toBe('built');
    expect(modeOf(await run())).toBe('reused');
  }, TIMEOUT);

  it('never runs an old bundle when a source no longer builds: tsx reports the error', async () => {
    expect(modeOf(await run())).toBe('built');
    writeDep("export const value = 'v2' +;\n");
    const broken = await run();
    expect(broken.code).not.toBe(0);
    expect(modeOf(broken)).toBe('tsx');
    expect(broken.stdout).not.toContain('v1');
    expect(broken.stderr).toMatch(/dep\.ts/);
    writeDep("export const value = 'v4';\n");
    const fixed = await run();
    expect(modeOf(fixed)).toBe('built');
    expect(JSON.parse(fixed.stdout).value).toBe('v4');
  }, TIMEOUT);

  it('runs the sources through tsx when esbuild is not installed', async () => {
    const result = await run({ TEST_ESBUILD: 'esbuild-that-is-not-installed' });
    expect(result.code, result.stderr).toBe(0);
    expect(modeOf(result)).toBe('tsx');
    expect(JSON.parse(result.stdout).value).toBe('v1');
  }, TIMEOUT);

  it('runs a program that fails at start-up once, not again through tsx', async () => {
    const log = path.join(root, 'runs.log');
    writeDep(`import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(log)}, 'run\\n');\nthrow new Error('boom at start');\nexport const value = 'never';\n`);
    const result = await run();
    expect(result.code).not.toBe(0);
    expect(modeOf(result)).toBe('built');
    expect(result.stderr).toContain('boom at start');
    expect(readFileSync(log, 'utf8')).toBe('run\n');
  }, TIMEOUT);

  it('takes over the build lock of a process killed mid-build', async () => {
    const dead = spawn(process.execPath, ['-e', '0']);
    const pid = dead.pid!;
    await new Promise((resolve) => dead.once('exit', resolve));
    mkdirSync(path.join(cacheDir, 'build.lock'), { recursive: true });
    writeFileSync(path.join(cacheDir, 'build.lock', 'pid'), String(pid));
    const result = await run();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`removed an abandoned build lock (pid ${pid} is gone)`);
    expect(modeOf(result)).toBe('built');
    expect(existsSync(path.join(cacheDir, 'build.lock'))).toBe(false);
  }, TIMEOUT);

  it('is safe when several first starts race: all run a complete bundle, one build is published', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => run()));
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).value).toBe('v1');
      expect(['built', 'reused']).toContain(modeOf(result));
    }
    // The lock made the others wait for the first build instead of building again.
    expect(results.filter((r) => modeOf(r) === 'built')).toHaveLength(1);
    const manifest = JSON.parse(readFileSync(path.join(cacheDir, 'current.json'), 'utf8')) as { dir: string };
    expect(existsSync(path.join(cacheDir, manifest.dir, 'main.js'))).toBe(true);
    // No lock or half-written manifest left behind.
    expect(readdirSync(cacheDir).filter((name) => name !== 'current.json' && !name.startsWith('b-'))).toEqual([]);
    expect(modeOf(await run())).toBe('reused');
  }, TIMEOUT);
});
