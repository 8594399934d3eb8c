/** Transfer rate (exponential moving average over ~2 s) and time left, from byte counts over time. */
export class ProgressMeter {
  private lastBytes: number;
  private lastAt: number;
  private rate = 0;

  constructor(private readonly now: () => number, startBytes = 0, private readonly halfLifeMs = 1_000) {
    this.lastBytes = startBytes;
    this.lastAt = now();
  }

  /** Records that `bytes` are done now. */
  update(bytes: number): void {
    const at = this.now();
    const dt = at - this.lastAt;
    if (dt < 50) return;
    const instant = ((bytes - this.lastBytes) * 1000) / dt;
    const weight = 1 - 0.5 ** (dt / this.halfLifeMs);
    this.rate = this.rate === 0 ? instant : this.rate + weight * (instant - this.rate);
    this.lastBytes = bytes;
    this.lastAt = at;
  }

  /** Restarts the rate after a pause (what happened before says nothing about the new link). */
  reset(bytes: number): void {
    this.rate = 0;
    this.lastBytes = bytes;
    this.lastAt = this.now();
  }

  get rateBytesPerS(): number {
    return Math.max(0, Math.round(this.rate));
  }

  etaMs(bytes: number, size: number): number {
    const rate = this.rateBytesPerS;
    return rate > 0 && size > bytes ? Math.round(((size - bytes) / rate) * 1000) : 0;
  }
}
