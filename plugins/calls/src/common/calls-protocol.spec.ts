import { describe, expect, it } from 'vitest';
import { CallRecordRejected, MAX_CALL_RECORD_BYTES, decodeCallRecord, encodeCallRecord, newCallId, sdpFingerprint } from './calls-protocol.ts';

const enc = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const SDP = 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\na=fingerprint:SHA-256 ab:cd:ef\r\n';

function rejection(bytes: Uint8Array): string {
  try {
    decodeCallRecord(bytes);
  } catch (error) {
    if (error instanceof CallRecordRejected) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe('calls protocol', () => {
  it('round-trips every record type', () => {
    const callId = newCallId();
    const records = [
      { t: 'invite', callId, video: true, at: 1, sdp: SDP },
      { t: 'ringing', callId },
      { t: 'accept', callId, sdp: SDP, video: false },
      { t: 'decline', callId },
      { t: 'busy', callId },
      { t: 'cancel', callId },
      { t: 'hangup', callId, reason: 'failed' },
      { t: 'candidate', callId, candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
      { t: 'reoffer', callId, seq: 1, sdp: SDP },
      { t: 'reanswer', callId, seq: 1, sdp: SDP },
      { t: 'negotiate', callId, iceRestart: true },
      { t: 'controls', callId, audioMuted: true, camera: false, screenSharing: false },
    ] as const;
    for (const record of records) expect(decodeCallRecord(encodeCallRecord(record))).toEqual(record);
  });

  it('refuses oversized, malformed and invalid records with a reason', () => {
    expect(rejection(new Uint8Array(MAX_CALL_RECORD_BYTES + 1))).toBe('oversized');
    expect(rejection(enc('{nope'))).toBe('malformed');
    expect(rejection(new Uint8Array([0xff, 0xfe]))).toBe('malformed');
    expect(rejection(enc({ t: 'teleport', callId: newCallId() }))).toBe('invalid');
    expect(rejection(enc({ t: 'ringing', callId: 'ABC' }))).toBe('invalid');
    expect(rejection(enc({ t: 'ringing', callId: newCallId(), extra: 1 }))).toBe('invalid');
    expect(rejection(enc({ t: 'reoffer', callId: newCallId(), seq: 0, sdp: SDP }))).toBe('invalid');
    expect(rejection(enc({ t: 'invite', callId: newCallId(), video: true, at: -5, sdp: SDP }))).toBe('invalid');
  });

  it('reads one fingerprint from SDP, normalised, and refuses none or several', () => {
    expect(sdpFingerprint(SDP)).toBe('sha-256 AB:CD:EF');
    expect(sdpFingerprint('v=0\r\n')).toBeUndefined();
    expect(sdpFingerprint(`${SDP}a=fingerprint:sha-256 AB:CD:EF\r\n`)).toBe('sha-256 AB:CD:EF');
    expect(sdpFingerprint(`${SDP}a=fingerprint:sha-256 00:11:22\r\n`)).toBeUndefined();
  });

  it('makes call ids of 32 hex digits', () => {
    const ids = new Set(Array.from({ length: 100 }, newCallId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
  });
});
