import { describe, expect, it } from 'vitest';
import { messageNotificationFor } from './message-notification.ts';

const PEER = 'do1bobbobbobbobbobbobbobbobbobbobbob';
const incoming = (text: string | null, direction: 'in' | 'out' = 'in') => ({ kind: 'message', message: { id: 'a'.repeat(32), peer: PEER, direction, from: PEER, text } });
const on = { notifications: true, hideNotificationText: false };

describe('messageNotificationFor', () => {
  it('shows the sender and the text of an incoming message while the window is not focused', () => {
    expect(messageNotificationFor(incoming('hi  there\nBob'), { settings: on, focused: false, senderName: 'Bob' }))
      .toEqual({ title: 'Bob', body: 'hi there Bob', peer: PEER });
  });

  it('leaves the text out when the privacy option is on', () => {
    const n = messageNotificationFor(incoming('the secret plan'), { settings: { ...on, hideNotificationText: true }, focused: false, senderName: 'Bob' });
    expect(n).toEqual({ title: 'New message from Bob', body: 'Open DiscordOpus to read it.', peer: PEER });
    expect(JSON.stringify(n)).not.toContain('secret');
  });

  it('shows nothing when focused, switched off, outgoing, deleted or not a message', () => {
    expect(messageNotificationFor(incoming('x'), { settings: on, focused: true })).toBeUndefined();
    expect(messageNotificationFor(incoming('x'), { settings: { ...on, notifications: false }, focused: false })).toBeUndefined();
    expect(messageNotificationFor(incoming('x', 'out'), { settings: on, focused: false })).toBeUndefined();
    expect(messageNotificationFor(incoming(null), { settings: on, focused: false })).toBeUndefined();
    for (const junk of [undefined, null, 'message', { kind: 'typing', peer: PEER, typing: true }, { kind: 'message', message: 'x' }]) {
      expect(messageNotificationFor(junk, { settings: on, focused: false })).toBeUndefined();
    }
  });

  it('shortens long texts and names an unknown sender by the start of their ID', () => {
    const n = messageNotificationFor(incoming('x'.repeat(500)), { settings: on, focused: false });
    expect(n!.body).toHaveLength(160);
    expect(n!.title).toBe(`${PEER.slice(0, 12)}…`);
  });
});
