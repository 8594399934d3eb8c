import { describe, expect, it } from 'vitest';
import { ProgressMeter } from './progress-meter.ts';

describe('ProgressMeter', () => {
  it('measures a steady rate and the time left', () => {
    let now = 0;
    const meter = new ProgressMeter(() => now);
    for (let i = 1; i <= 20; i++) {
      now = i * 250;
      meter.update(i * 250_000); // 1 MB/s
    }
    expect(meter.rateBytesPerS).toBe(1_000_000);
    expect(meter.etaMs(5_000_000, 10_000_000)).toBe(5_000);
    expect(meter.etaMs(10_000_000, 10_000_000)).toBe(0);
  });

  it('ignores updates too close together, and restarts after reset', () => {
    let now = 0;
    const meter = new ProgressMeter(() => now);
    now = 10;
    meter.update(1_000_000);
    expect(meter.rateBytesPerS).toBe(0);
    now = 1000;
    meter.update(1_000_000);
    expect(meter.rateBytesPerS).toBeGreaterThan(0);
    meter.reset(1_000_000);
    expect(meter.rateBytesPerS).toBe(0);
    expect(meter.etaMs(0, 10)).toBe(0);
  });
});
