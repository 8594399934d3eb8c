import { describe, expect, it } from 'vitest';
import { ReceivedRtpCounter } from './received-rtp-counter.ts';

function feed(seqs: number[]): ReceivedRtpCounter {
  const counter = new ReceivedRtpCounter();
  for (const seq of seqs) counter.push(seq, 100);
  return counter;
}

describe('ReceivedRtpCounter', () => {
  it('counts packets, bytes and no loss for an unbroken stream, also across the 16-bit wrap', () => {
    const counter = feed([65533, 65534, 65535, 0, 1, 2]);
    expect(counter).toMatchObject({ packets: 6, bytes: 600, lost: 0, lossFraction: 0 });
  });

  it('counts a gap as lost packets', () => {
    const counter = feed([10, 11, 15, 16]);
    expect(counter.lost).toBe(3);
    expect(counter.lossFraction).toBeCloseTo(3 / 7);
  });

  it('does not count reordered or late (retransmitted) packets as losses', () => {
    expect(feed([10, 12, 11, 13]).lost).toBe(0);
    // A retransmission fills the gap it left: nothing is lost in the end.
    expect(feed([10, 11, 13, 14, 15, 12, 16]).lost).toBe(0);
    // A packet older than the first one seen widens the range it covers.
    expect(feed([20, 21, 19, 22]).lost).toBe(0);
  });

  it('never reports a negative loss for duplicates', () => {
    expect(feed([5, 5, 6, 6, 7]).lost).toBe(0);
  });

  it('reports nothing before the first packet', () => {
    expect(new ReceivedRtpCounter()).toMatchObject({ packets: 0, lost: 0, lossFraction: 0 });
  });
});
