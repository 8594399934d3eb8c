import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../core/src/node/client/test-profiles.ts';
import { CliListener } from './cli-listen.ts';
import { writeRandomFile } from './support/random-file.ts';

/*
 * The helpers the CLI tests and the files benchmark share, on small real processes: a script
 * that prints what each case needs and then waits for stdin to close or a signal.
 */

const temp = tempDir('discordopus-cli-helpers-');
afterAll(() => temp.cleanup());

/** A script printing `lines` to stdout (and `err` to stderr), then staying up until killed unless `exit`. */
function script(name: string, lines: string[], options: { err?: string; exit?: number } = {}): string {
  const file = path.join(temp.dir, `${name}.mjs`);
  writeFileSync(file, [
    `process.stdout.write(${JSON.stringify(lines.map((l) => `${l}\n`).join(''))});`,
    options.err ? `process.stderr.write(${JSON.stringify(options.err)});` : '',
    options.exit === undefined ? 'setInterval(() => {}, 1000);' : `process.exitCode = ${options.exit};`,
  ].join('\n'));
  return file;
}

const spawnScript = (file: string, strict?: boolean) => CliListener.spawn([], { env: process.env, script: file, ...(strict === undefined ? {} : { strict }) });

describe('CliListener', () => {
  it('parses JSON lines into events and keeps every line; waits wake on output', async () => {
    const listener = spawnScript(script('mixed', ['{"type":"ready"}', 'a human line', '[1,2]', '{"type":"message","text":"hi"}']));
    await listener.until('the message', (events) => events.some((e) => e.type === 'message'));
    expect(listener.events).toEqual([{ type: 'ready' }, { type: 'message', text: 'hi' }]);
    expect(listener.ofType('message')).toEqual([{ type: 'message', text: 'hi' }]);
    await listener.untilLine('the human line', (line) => line === 'a human line');
    expect(listener.lines).toEqual(['{"type":"ready"}', 'a human line', '[1,2]', '{"type":"message","text":"hi"}']);
    expect(await listener.stop()).toBeNull();
  }, 60_000);

  it('strict: a line that is not a JSON object fails the wait, naming the line', async () => {
    const listener = spawnScript(script('strict', ['{"type":"ready"}', 'not json', '{"type":"message"}']), true);
    await expect(listener.until('the message', (events) => events.some((e) => e.type === 'message'))).rejects.toThrow(/not a JSON object: "not json"/);
    // Every later wait fails too, even for what did arrive.
    await expect(listener.until('ready', (events) => events.length > 0)).rejects.toThrow(/not a JSON object/);
    await listener.stop();
  }, 60_000);

  it('fails a wait when the process exits first, with its stderr; resolves the exit code after the last line', async () => {
    const listener = spawnScript(script('exits', ['{"type":"ready"}', '{"type":"bye"}'], { err: 'error: going away\n', exit: 3 }));
    await expect(listener.until('a message', (events) => events.some((e) => e.type === 'message'))).rejects.toThrow(/exited while waiting for a message: error: going away/);
    expect(await listener.exited).toBe(3);
    expect(listener.ofType('bye')).toHaveLength(1);
    expect(listener.stderr).toBe('error: going away\n');
  }, 60_000);

  it('fails a wait that nothing satisfies after its timeout', async () => {
    const listener = spawnScript(script('quiet', ['{"type":"ready"}']));
    await expect(listener.until('a message', (events) => events.some((e) => e.type === 'message'), 300)).rejects.toThrow(/timed out waiting for a message/);
    await listener.stop('SIGKILL');
  }, 60_000);
});

describe('writeRandomFile', () => {
  it('writes the size asked for, across block boundaries, and returns its SHA-256', () => {
    for (const size of [0, 1, 1024 * 1024, 1024 * 1024 + 3]) {
      const file = path.join(temp.dir, `r${size}.bin`);
      const sha = writeRandomFile(file, size);
      expect(statSync(file).size).toBe(size);
      expect(sha).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    }
    const a = writeRandomFile(path.join(temp.dir, 'a.bin'), 64);
    const b = writeRandomFile(path.join(temp.dir, 'b.bin'), 64);
    expect(a).not.toBe(b);
  });

  it('rejects a size that is not a whole number of bytes', () => {
    for (const size of [-1, 1.5, Number.NaN]) {
      expect(() => writeRandomFile(path.join(temp.dir, 'bad.bin'), size)).toThrow(RangeError);
    }
  });
});
