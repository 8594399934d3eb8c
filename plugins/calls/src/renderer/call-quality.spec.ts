import { describe, expect, it } from 'vitest';
import { callQualityFromStats } from './call-quality.ts';

// Shapes as Chromium's getStats() reports them (trimmed to the fields that are read).
const pair = (rtt: number) => ({ type: 'candidate-pair', id: 'cp', nominated: true, state: 'succeeded', currentRoundTripTime: rtt });
const audioIn = (received: number, lost: number, extra: Record<string, unknown> = {}) => ({ type: 'inbound-rtp', id: 'ia', kind: 'audio', packetsReceived: received, packetsLost: lost, bytesReceived: received * 100, jitter: 0.004, totalSamplesReceived: received * 960, concealedSamples: 960, ...extra });
const videoIn = (received: number, lost: number) => ({ type: 'inbound-rtp', id: 'iv', kind: 'video', packetsReceived: received, packetsLost: lost, bytesReceived: received * 1000, framesDecoded: received / 2, framesPerSecond: 30, frameWidth: 640, frameHeight: 480 });

describe('callQualityFromStats', () => {
  it('reads the figures of a healthy call as good', () => {
    const { quality, counters } = callQualityFromStats([pair(0.012), audioIn(500, 0), videoIn(1000, 2), { type: 'outbound-rtp', kind: 'audio', packetsSent: 480, bytesSent: 48_000 }], undefined, 1234);
    expect(quality).toMatchObject({
      level: 'good', rttMs: 12, at: 1234,
      audio: { packetsReceived: 500, packetsLost: 0, jitterMs: 4, totalSamplesReceived: 480_000, concealedSamples: 960 },
      video: { packetsReceived: 1000, framesDecoded: 500, framesPerSecond: 30, frameWidth: 640, frameHeight: 480 },
      sent: { audioPackets: 480, videoPackets: 0, bytes: 48_000 },
    });
    expect(counters).toEqual({ packetsReceived: 1500, packetsLost: 2 });
  });

  it('judges the last interval, not the whole call: loss and delay lower the level', () => {
    const first = callQualityFromStats([pair(0.02), audioIn(1000, 0)]);
    // 100 more packets of which 20 were lost since the previous sample: 20 / 120 is poor.
    expect(callQualityFromStats([pair(0.02), audioIn(1100, 20)], first.counters).quality.level).toBe('poor');
    // 5 lost in 105: fair.
    expect(callQualityFromStats([pair(0.02), audioIn(1100, 5)], first.counters).quality.level).toBe('fair');
    expect(callQualityFromStats([pair(0.4), audioIn(1100, 0)], first.counters).quality.level).toBe('fair');
    expect(callQualityFromStats([pair(0.7), audioIn(1100, 0)], first.counters).quality.level).toBe('poor');
    expect(callQualityFromStats([pair(0.02), audioIn(1100, 0, { jitter: 0.2 })], first.counters).quality.level).toBe('poor');
  });

  it('says unknown before anything arrived, and ignores malformed or foreign entries', () => {
    expect(callQualityFromStats([]).quality.level).toBe('unknown');
    const { quality } = callQualityFromStats([
      { type: 'candidate-pair', nominated: false, state: 'succeeded', currentRoundTripTime: 9 },
      { type: 'inbound-rtp', kind: 'audio', packetsReceived: 'many', packetsLost: -3, jitter: Number.NaN },
      { type: 'inbound-rtp', kind: 'data', packetsReceived: 5 },
      { type: 'codec', mimeType: 'audio/opus' },
    ]);
    expect(quality.level).toBe('unknown');
    expect(quality.rttMs).toBeUndefined();
    expect(quality.audio).toEqual({ packetsReceived: 0, packetsLost: 0, bytesReceived: 0, totalSamplesReceived: 0, concealedSamples: 0 });
  });
});
