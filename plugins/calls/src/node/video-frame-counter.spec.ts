import { RtpHeader, RtpPacket } from 'werift';
import { describe, expect, it } from 'vitest';
import { VideoFrameCounter } from './video-frame-counter.ts';

/** An RTP packet with a minimal VP8 payload descriptor (RFC 7741) and, at a partition start, the VP8 header's P bit. */
function vp8(seq: number, timestamp: number, options: { start: boolean; key?: boolean; marker: boolean }): RtpPacket {
  const descriptor = options.start ? 0x10 : 0x00; // S bit, PID 0
  const firstByte = options.key ? 0x00 : 0x01; // P bit clear = keyframe
  const payload = Buffer.from([descriptor, firstByte, 0x00, 0x00, 0x9d, 0x01, 0x2a]);
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp, marker: options.marker, payloadType: 96, ssrc: 1 }), payload);
}

describe('VideoFrameCounter', () => {
  it('counts complete frames and fires on the first keyframe', () => {
    const counter = new VideoFrameCounter();
    const firsts: number[] = [];
    counter.onFirstKeyframe((at) => firsts.push(at));
    expect(counter.push(vp8(1, 100, { start: true, key: true, marker: false }), 10)).toBe('ok');
    expect(counter.push(vp8(2, 100, { start: false, marker: true }), 11)).toBe('ok');
    expect(counter.push(vp8(3, 200, { start: true, marker: true }), 12)).toBe('ok');
    expect(counter).toMatchObject({ frames: 2, keyframes: 1 });
    expect(firsts).toEqual([11]);
  });

  it('asks for a keyframe when video starts with deltas or loses a packet, at most once a second', () => {
    const counter = new VideoFrameCounter();
    expect(counter.push(vp8(1, 100, { start: true, marker: true }), 0)).toBe('need-keyframe');
    expect(counter.push(vp8(2, 200, { start: true, marker: true }), 10)).toBe('ok');
    expect(counter.frames).toBe(0);
    counter.push(vp8(3, 300, { start: true, key: true, marker: true }), 20);
    // Packet 5 is lost: the frame at 400 is incomplete.
    counter.push(vp8(4, 400, { start: true, marker: false }), 1_500);
    expect(counter.push(vp8(6, 400, { start: false, marker: true }), 1_501)).toBe('need-keyframe');
    expect(counter).toMatchObject({ frames: 1, keyframes: 1 });
  });

  it('ignores packets it cannot parse', () => {
    const counter = new VideoFrameCounter();
    const empty = new RtpPacket(new RtpHeader({ sequenceNumber: 1, timestamp: 1, marker: true }), Buffer.alloc(0));
    expect(counter.push(empty)).toBe('ok');
    expect(counter.frames).toBe(0);
  });
});
