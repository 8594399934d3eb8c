/**
 * Token bucket: `ratePerSecond` tokens refill continuously up to `burst`. `take()` spends one
 * and says whether it was there. The clock is injected so tests need no sleeps.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new RangeError('TokenBucket: rate must be > 0 and burst >= 1');
    this.tokens = burst;
    this.last = now();
  }

  take(cost = 1): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** True once the bucket has refilled completely (it then carries no state worth keeping). */
  isFull(): boolean {
    return this.tokens + ((this.now() - this.last) / 1000) * this.ratePerSecond >= this.burst;
  }
}

/**
 * One bucket per key (an IP address), created on demand. Full buckets are dropped by `sweep()`
 * so the map cannot grow with every address that ever connected.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  take(key: string, cost = 1): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.ratePerSecond, this.burst, this.now);
      this.buckets.set(key, bucket);
    }
    return bucket.take(cost);
  }

  sweep(): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull()) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}
