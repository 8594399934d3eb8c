import { Vp8RtpPayload, type RtpPacket } from 'werift';
import { Emitter, type Event } from '@discordopus/sdk';

/**
 * Counts complete VP8 frames in received RTP (RFC 7741): a frame is the packets of one RTP
 * timestamp, from a partition head (S=1, PID=0) to the marker bit, without a sequence gap.
 * The werift engine does not decode, so "a frame decoded" means "a complete frame assembled";
 * the first complete keyframe is what the benchmark times.
 */
export class VideoFrameCounter {
  frames = 0;
  keyframes = 0;
  private readonly firstKeyframe = new Emitter<number>();
  readonly onFirstKeyframe: Event<number> = this.firstKeyframe.event;
  private current: { timestamp: number; nextSeq: number; keyframe: boolean; broken: boolean } | undefined;
  private lastRequest = -Infinity;

  /** @returns `'need-keyframe'` when the stream cannot be decoded until the next keyframe (at most once a second). */
  push(rtp: RtpPacket, now = Date.now()): 'ok' | 'need-keyframe' {
    const { header } = rtp;
    let vp8: Vp8RtpPayload;
    try {
      vp8 = Vp8RtpPayload.deSerialize(rtp.payload);
    } catch {
      return 'ok';
    }
    if (vp8.payloadHeaderExist) {
      this.current = { timestamp: header.timestamp, nextSeq: (header.sequenceNumber + 1) & 0xffff, keyframe: vp8.isKeyframe, broken: false };
    } else if (this.current && this.current.timestamp === header.timestamp && this.current.nextSeq === header.sequenceNumber) {
      this.current.nextSeq = (header.sequenceNumber + 1) & 0xffff;
    } else if (this.current) {
      this.current.broken = true;
    }
    if (!header.marker || !this.current || this.current.timestamp !== header.timestamp) return 'ok';
    const frame = this.current;
    this.current = undefined;
    if (frame.broken) return this.keyframeNeeded(now);
    if (frame.keyframe) {
      this.keyframes++;
      if (this.keyframes === 1) this.firstKeyframe.fire(now);
    } else if (this.keyframes === 0) {
      // Deltas before any keyframe cannot be decoded.
      return this.keyframeNeeded(now);
    }
    this.frames++;
    return 'ok';
  }

  private keyframeNeeded(now: number): 'ok' | 'need-keyframe' {
    if (now - this.lastRequest < 1_000) return 'ok';
    this.lastRequest = now;
    return 'need-keyframe';
  }
}
