import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeFrame, encodeChannelName, encodeFrame, FrameReassembler, KEEPALIVE_FRAME, MAX_FRAME_BYTES } from './peer-frame.ts';

const name = (s: string) => encodeChannelName(s);
// Payloads come back as views into the frame (a Buffer); compare as plain bytes.
const plain = (frame: ReturnType<typeof decodeFrame>) =>
  frame?.kind === 'records' ? { ...frame, records: frame.records.map((r) => ({ ...r, payload: new Uint8Array(r.payload) })) } : frame;

describe('peer frames', () => {
  it('round-trips records of several channels in one frame', () => {
    const frame = encodeFrame([
      { name: name('chat'), payload: Uint8Array.of(1, 2, 3), more: false },
      { name: name('files'), payload: new Uint8Array(0), more: true },
      { name: name('é'), payload: Uint8Array.of(9), more: false },
    ]);
    const decoded = plain(decodeFrame(frame));
    expect(decoded).toEqual({
      kind: 'records',
      records: [
        { channel: 'chat', more: false, payload: Uint8Array.of(1, 2, 3) },
        { channel: 'files', more: true, payload: new Uint8Array(0) },
        { channel: 'é', more: false, payload: Uint8Array.of(9) },
      ],
    });
    expect(decodeFrame(KEEPALIVE_FRAME)).toEqual({ kind: 'keepalive' });
  });

  it('round-trips arbitrary records (property)', () => {
    const record = fc.record({
      channel: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => new TextEncoder().encode(s).length <= 255 && new TextDecoder().decode(new TextEncoder().encode(s)) === s),
      payload: fc.uint8Array({ maxLength: 300 }),
      more: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 8 }), (records) => {
        const decoded = plain(decodeFrame(encodeFrame(records.map((r) => ({ name: name(r.channel), payload: r.payload, more: r.more })))));
        expect(decoded).toEqual({ kind: 'records', records: records.map((r) => ({ channel: r.channel, more: r.more, payload: r.payload })) });
      }),
    );
  });

  it('rejects malformed frames', () => {
    const good = encodeFrame([{ name: name('chat'), payload: Uint8Array.of(1, 2), more: false }]);
    const bad: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(0, 0), // keepalive with a tail
      Uint8Array.of(1), // records kind without records
      Uint8Array.of(7, 0, 0),
      good.subarray(0, good.length - 1), // payload cut short
      good.subarray(0, 4), // name cut short
      Uint8Array.of(1, 2, 1, 0x61, 0, 0, 0, 0), // unknown flag
      Uint8Array.of(1, 0, 0, 0, 0, 0, 0), // empty channel name
      Uint8Array.of(1, 0, 1, 0xff, 0, 0, 0, 0), // channel name not UTF-8
      Uint8Array.of(1, 0, 1, 0x61, 0xff, 0xff, 0xff, 0xff), // length beyond the frame
    ];
    for (const frame of bad) expect(decodeFrame(frame)).toBeUndefined();
  });

  it('checks channel names', () => {
    expect(() => encodeChannelName('')).toThrow(RangeError);
    expect(() => encodeChannelName('x'.repeat(256))).toThrow(RangeError);
    expect(() => encodeChannelName(5 as unknown as string)).toThrow(TypeError);
    expect(encodeChannelName('x'.repeat(255))).toHaveLength(255);
    expect(MAX_FRAME_BYTES).toBeLessThanOrEqual(262_144);
  });

  it('reassembles split messages per channel and drops ones over the limit', () => {
    const r = new FrameReassembler(10);
    expect(r.push('a', Uint8Array.of(1, 2), true)).toBeUndefined();
    expect(r.push('b', Uint8Array.of(9), false)).toEqual({ message: Uint8Array.of(9) });
    expect(r.push('a', Uint8Array.of(3), false)).toEqual({ message: Uint8Array.of(1, 2, 3) });
    // Too large: reported once, the rest of that message is skipped, the next one is fine.
    expect(r.push('a', new Uint8Array(8), true)).toBeUndefined();
    expect(r.push('a', new Uint8Array(8), true)).toEqual({ tooLarge: 16 });
    expect(r.push('a', new Uint8Array(8), false)).toBeUndefined();
    expect(r.push('a', Uint8Array.of(4), false)).toEqual({ message: Uint8Array.of(4) });
    expect(r.push('c', new Uint8Array(11), false)).toEqual({ tooLarge: 11 });
    // A reset forgets a half message.
    r.push('d', Uint8Array.of(1), true);
    r.reset();
    expect(r.push('d', Uint8Array.of(2), false)).toEqual({ message: Uint8Array.of(2) });
  });

  it('copies payloads out of the frame buffer', () => {
    const r = new FrameReassembler(100);
    const frame = Uint8Array.of(5, 6);
    const result = r.push('a', frame, false) as { message: Uint8Array };
    frame[0] = 0;
    expect(result.message).toEqual(Uint8Array.of(5, 6));
  });
});
