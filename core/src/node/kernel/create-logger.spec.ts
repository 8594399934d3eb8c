import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED, redactFields } from './create-logger.ts';
import { captureLogger } from './kernel-test-support.ts';

describe('createLogger', () => {
  it('writes JSON lines with the message, fields and child bindings', () => {
    const captured = captureLogger('info');
    captured.logger.child({ plugin: 'hello' }).info('started', { count: 2 });
    captured.logger.debug('hidden at info level');
    expect(captured.lines).toEqual([expect.objectContaining({ level: 30, msg: 'started', plugin: 'hello', count: 2 })]);
  });

  it('redacts fields named like secrets or message content, at any depth', () => {
    const captured = captureLogger();
    const secret = 'correct horse battery staple';
    captured.logger.child({ passphrase: secret }).warn('oops', {
      privateKey: new Uint8Array([1, 2, 3]),
      plaintext: secret,
      nested: { chainKey: 'abc', list: [{ text: secret }], publicKey: 'pub', userId: 'do1x' },
      bytes: new Uint8Array(48),
      error: new Error('failed'),
    });
    expect(captured.text()).not.toContain(secret);
    const [line] = captured.lines;
    expect(line).toMatchObject({
      passphrase: REDACTED, privateKey: REDACTED, plaintext: REDACTED,
      nested: { chainKey: REDACTED, list: [{ text: REDACTED }], publicKey: 'pub', userId: 'do1x' },
      bytes: '[48 bytes]', error: { type: 'Error', message: 'failed' },
    });
  });

  it('survives cycles and deep nesting', () => {
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    let deep: Record<string, unknown> = { end: true };
    for (let i = 0; i < 10; i++) deep = { deeper: deep };
    expect(redactFields({ loop, deep })).toMatchObject({ loop: { name: 'loop', self: '[circular]' } });
  });

  it('refuses an unknown level', () => {
    expect(() => createLogger({ level: 'loud' })).toThrow(RangeError);
  });
});
