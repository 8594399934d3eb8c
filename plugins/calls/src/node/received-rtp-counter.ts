/**
 * Packets, bytes and loss of one received RTP stream, counted as RFC 3550 (A.3) does: lost =
 * packets expected from the lowest to the highest sequence number seen, minus packets received.
 * Counting gaps between consecutive packets instead would count a reordered or retransmitted
 * (RTX, unwrapped by werift to the original sequence number) packet as a loss twice over.
 */
export class ReceivedRtpCounter {
  packets = 0;
  bytes = 0;
  /** Extended (wrap-free) sequence numbers: the lowest and highest seen. */
  private lowest: number | undefined;
  private highest: number | undefined;

  push(sequenceNumber: number, payloadBytes: number): void {
    this.packets++;
    this.bytes += payloadBytes;
    if (this.highest === undefined || this.lowest === undefined) {
      this.lowest = this.highest = sequenceNumber;
      return;
    }
    // The signed distance from the highest seen, in [-32768, 32767]: wraps land on the right side.
    const delta = ((sequenceNumber - (this.highest & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    const extended = this.highest + delta;
    if (extended > this.highest) this.highest = extended;
    if (extended < this.lowest) this.lowest = extended;
  }

  get lost(): number {
    if (this.highest === undefined || this.lowest === undefined) return 0;
    return Math.max(0, this.highest - this.lowest + 1 - this.packets);
  }

  /** Lost over expected, 0..1. */
  get lossFraction(): number {
    const expected = this.packets + this.lost;
    return expected === 0 ? 0 : this.lost / expected;
  }
}
