import { describe, expect, it } from 'vitest';
import { DisposableCollection, toDisposable } from './disposable.ts';
import { Emitter, nextEvent } from './event.ts';

describe('DisposableCollection', () => {
  it('disposes in reverse order, once, and keeps going when one throws', () => {
    const order: number[] = [];
    const all = new DisposableCollection();
    all.push(toDisposable(() => order.push(1)));
    all.push(toDisposable(() => { throw new Error('boom'); }));
    all.push(toDisposable(() => order.push(3)));
    expect(() => all.dispose()).toThrow(AggregateError);
    expect(order).toEqual([3, 1]);
    all.dispose();
    expect(order).toEqual([3, 1]);
  });

  it('disposes late additions at once', () => {
    const all = new DisposableCollection();
    all.dispose();
    let done = false;
    all.push(toDisposable(() => (done = true)));
    expect(done).toBe(true);
  });
});

describe('Emitter', () => {
  it('delivers to listeners until they unsubscribe, isolating listener errors', () => {
    const errors: unknown[] = [];
    const emitter = new Emitter<number>((e) => errors.push(e));
    const seen: number[] = [];
    emitter.event(() => { throw new Error('bad listener'); });
    const sub = emitter.event((v) => seen.push(v));
    emitter.fire(1);
    sub.dispose();
    emitter.fire(2);
    expect(seen).toEqual([1]);
    expect(errors).toHaveLength(2);
  });

  it('nextEvent resolves on the first matching value and times out otherwise', async () => {
    const emitter = new Emitter<number>();
    const next = nextEvent(emitter.event, (v) => v > 1);
    emitter.fire(1);
    emitter.fire(2);
    await expect(next).resolves.toBe(2);
    await expect(nextEvent(emitter.event, () => true, 10)).rejects.toThrow(/no matching event/);
  });
});
