import { describe, expect, it } from 'vitest';
import { KeyedQueue } from './keyed-queue.ts';

describe('KeyedQueue', () => {
  it('runs tasks of one key one at a time, in order, even when one fails', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    let running = 0;
    const task = (name: string, fail = false) => queue.run('a', async () => {
      running++;
      expect(running).toBe(1);
      log.push(`start ${name}`);
      await new Promise((r) => setImmediate(r));
      log.push(`end ${name}`);
      running--;
      if (fail) throw new Error(name);
      return name;
    });
    const results = await Promise.allSettled([task('1'), task('2', true), task('3')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it('runs different keys concurrently and drains', async () => {
    const queue = new KeyedQueue();
    let release!: () => void;
    const blocked = queue.run('a', () => new Promise<void>((r) => (release = r)));
    const other = await queue.run('b', async () => 'b');
    expect(other).toBe('b');
    let drained = false;
    const draining = queue.drain().then(() => (drained = true));
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    release();
    await blocked;
    await draining;
    expect(drained).toBe(true);
  });
});
