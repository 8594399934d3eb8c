import type { CallQuality, InboundMediaStats } from '../common/media-engine.ts';

/*
 * The call quality indicator from an RTCStatsReport's values. Pure, so it is tested in Node with
 * recorded stats; the renderer engine feeds it Chromium's getStats().
 */

/** Cumulative inbound packet counters, kept between samples so the loss covers the interval. */
export interface QualityCounters {
  packetsReceived: number;
  packetsLost: number;
}

type Stat = { type: string; [key: string]: unknown };

const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/**
 * Reads one getStats() report into a {@link CallQuality}. `previous` holds the counters of the
 * last sample, so the level reflects the last interval rather than the whole call.
 */
export function callQualityFromStats(stats: Iterable<Stat>, previous?: QualityCounters, now = Date.now()): { quality: CallQuality; counters: QualityCounters } {
  const all = [...stats];
  let rttMs: number | undefined;
  const sent = { audioPackets: 0, videoPackets: 0, bytes: 0 };
  const inbound: { audio?: InboundMediaStats; video?: InboundMediaStats } = {};
  for (const s of all) {
    if (s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded') {
      const rtt = num(s.currentRoundTripTime);
      if (rtt !== undefined) rttMs = Math.round(rtt * 1000);
    } else if (s.type === 'outbound-rtp') {
      if (s.kind === 'audio') sent.audioPackets += num(s.packetsSent) ?? 0;
      else if (s.kind === 'video') sent.videoPackets += num(s.packetsSent) ?? 0;
      sent.bytes += num(s.bytesSent) ?? 0;
    } else if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) {
      const into = (inbound[s.kind] ??= { packetsReceived: 0, packetsLost: 0, bytesReceived: 0 });
      into.packetsReceived += num(s.packetsReceived) ?? 0;
      into.packetsLost += Math.max(0, num(s.packetsLost) ?? 0);
      into.bytesReceived += num(s.bytesReceived) ?? 0;
      const jitter = num(s.jitter);
      if (jitter !== undefined) into.jitterMs = Math.round(jitter * 10_000) / 10;
      if (s.kind === 'audio') {
        into.totalSamplesReceived = (into.totalSamplesReceived ?? 0) + (num(s.totalSamplesReceived) ?? 0);
        into.concealedSamples = (into.concealedSamples ?? 0) + (num(s.concealedSamples) ?? 0);
      } else {
        into.framesDecoded = (into.framesDecoded ?? 0) + (num(s.framesDecoded) ?? 0);
        for (const key of ['framesPerSecond', 'frameWidth', 'frameHeight'] as const) {
          const value = num(s[key]);
          if (value !== undefined) into[key] = value;
        }
      }
    }
  }
  const counters: QualityCounters = {
    packetsReceived: (inbound.audio?.packetsReceived ?? 0) + (inbound.video?.packetsReceived ?? 0),
    packetsLost: (inbound.audio?.packetsLost ?? 0) + (inbound.video?.packetsLost ?? 0),
  };
  const received = counters.packetsReceived - (previous?.packetsReceived ?? 0);
  const lost = counters.packetsLost - (previous?.packetsLost ?? 0);
  const loss = received + lost > 0 ? Math.max(0, lost) / (received + lost) : undefined;
  const jitterMs = inbound.audio?.jitterMs;
  const quality: CallQuality = { level: levelOf(received, rttMs, loss, jitterMs), at: now, sent };
  if (rttMs !== undefined) quality.rttMs = rttMs;
  if (inbound.audio) quality.audio = inbound.audio;
  if (inbound.video) quality.video = inbound.video;
  return { quality, counters };
}

// Rules of thumb for interactive voice (ITU-T G.114 for delay; Opus copes with a few % loss).
function levelOf(received: number, rttMs: number | undefined, loss: number | undefined, jitterMs: number | undefined): CallQuality['level'] {
  if (received <= 0) return 'unknown';
  if ((rttMs ?? 0) > 600 || (loss ?? 0) > 0.1 || (jitterMs ?? 0) > 100) return 'poor';
  if ((rttMs ?? 0) > 300 || (loss ?? 0) > 0.03 || (jitterMs ?? 0) > 40) return 'fair';
  return 'good';
}
