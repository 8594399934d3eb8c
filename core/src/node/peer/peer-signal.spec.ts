import { describe, expect, it } from 'vitest';
import { parsePeerSignal, sdpFingerprint } from './peer-signal.ts';

const session = 'AbCdEfGh1234_-';

describe('peer signals', () => {
  it('accepts each kind of signal', () => {
    const good = [
      { kind: 'offer', session, sdp: 'v=0\r\n' },
      { kind: 'answer', session, sdp: 'v=0\r\n' },
      { kind: 'candidate', session, candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 },
      { kind: 'candidate', session, candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host' },
      { kind: 'restart' },
      { kind: 'restart', session },
      { kind: 'bye', session },
    ];
    for (const signal of good) expect(parsePeerSignal(signal)).toEqual({ signal });
  });

  it('rejects malformed signals and says which field', () => {
    const bad: unknown[] = [
      undefined,
      null,
      [],
      'bye',
      { kind: 'hello', session },
      { kind: 'offer', session },
      { kind: 'offer', session: 'short', sdp: 'v=0' },
      { kind: 'offer', session: 'has spaces in it', sdp: 'v=0' },
      { kind: 'offer', session, sdp: '' },
      { kind: 'offer', session, sdp: 'x'.repeat(64 * 1024 + 1) },
      { kind: 'candidate', session, candidate: '' },
      { kind: 'candidate', session, candidate: 'c', sdpMLineIndex: -1 },
      { kind: 'candidate', session, candidate: 'c', sdpMLineIndex: 1.5 },
      { kind: 'bye', session, reason: 'extra fields are refused' },
      { kind: 'restart', session: 42 },
    ];
    for (const value of bad) {
      const result = parsePeerSignal(value);
      expect('error' in result).toBe(true);
    }
    expect(parsePeerSignal({ kind: 'offer', session })).toMatchObject({ error: expect.stringContaining('sdp') });
  });

  it('reads the DTLS fingerprint from an SDP', () => {
    const fp = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0')).join(':');
    const sdp = `v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\na=fingerprint:SHA-256 ${fp}\r\na=setup:actpass\r\n`;
    expect(sdpFingerprint(sdp)).toBe(`sha-256 ${fp.toUpperCase()}`);
    expect(sdpFingerprint('v=0\r\n')).toBeUndefined();
    expect(sdpFingerprint('a=fingerprint:sha-256 not-hex\r\n')).toBeUndefined();
  });
});
