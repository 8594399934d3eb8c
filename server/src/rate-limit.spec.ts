import { describe, expect, it } from 'vitest';
import { KeyedTokenBuckets, TokenBucket } from './rate-limit.ts';

describe('TokenBucket', () => {
  it('allows a burst, refuses beyond it, and refills at the rate', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    now += 100; // one token back at 10/s
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    now += 10_000; // never more than the burst
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
  });

  it('reports when it is full again', () => {
    let now = 0;
    const bucket = new TokenBucket(1, 2, () => now);
    bucket.take();
    expect(bucket.isFull()).toBe(false);
    now += 1000;
    expect(bucket.isFull()).toBe(true);
  });

  it('rejects a non-positive rate or a burst below one', () => {
    expect(() => new TokenBucket(0, 1)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0)).toThrow(RangeError);
    expect(() => new TokenBucket(Number.NaN, 1)).toThrow(RangeError);
  });
});

describe('KeyedTokenBuckets', () => {
  it('keeps one bucket per key and drops full ones on sweep', () => {
    let now = 0;
    const buckets = new KeyedTokenBuckets(1, 1, () => now);
    expect(buckets.take('10.0.0.1')).toBe(true);
    expect(buckets.take('10.0.0.1')).toBe(false);
    expect(buckets.take('10.0.0.2')).toBe(true);
    expect(buckets.size).toBe(2);
    buckets.sweep();
    expect(buckets.size).toBe(2);
    now += 1000;
    buckets.sweep();
    expect(buckets.size).toBe(0);
    expect(buckets.take('10.0.0.1')).toBe(true);
  });
});
