// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineComponent, h } from 'vue';
import { userIdFromPublicKey } from '@discordopus/sdk';
import { flushPromises } from '@vue/test-utils';
import { ScriptedBridge, mountWithBridge, until } from '../test-support/scripted-bridge.ts';
import { useMessageNotifications } from './use-message-notifications.ts';

const BOB = userIdFromPublicKey(new Uint8Array(32).fill(2));
const shown: { title: string; body: string; clicked(): void }[] = [];
const opened: string[] = [];

// happy-dom has no Notification API: a stand-in that records what the page shows.
class RecordingNotification {
  static permission = 'granted';
  onclick: (() => void) | null = null;
  constructor(title: string, options: { body: string }) {
    shown.push({ title, body: options.body, clicked: () => this.onclick?.() });
  }
  close(): void {}
}

const Harness = defineComponent({ setup() { useMessageNotifications((peer) => opened.push(peer)); return () => h('div'); } });

function bridge(settings: { notifications: boolean; hideNotificationText: boolean }, native = false) {
  const b = new ScriptedBridge({
    'host.settings.get': () => ({ serverUrl: '', stunServers: [], turnServers: [], theme: 'dark', ...settings }),
    'contacts.list': () => [{ userId: BOB, name: 'Bob', verified: true, identityChanged: false, presence: 'online' }],
  });
  if (native) Object.defineProperty(b, 'nativeNotifications', { value: true });
  return b;
}
const incoming = (text: string) => ({ topic: 'messaging.changed', payload: { kind: 'message', message: { id: 'a'.repeat(32), peer: BOB, from: BOB, direction: 'in', text } } });

let focused = false;
beforeEach(() => {
  shown.length = 0;
  opened.length = 0;
  focused = false;
  document.hasFocus = () => focused;
  (globalThis as { Notification?: unknown }).Notification = RecordingNotification;
});
afterEach(() => {
  delete (globalThis as { Notification?: unknown }).Notification;
  document.body.innerHTML = '';
});

describe('useMessageNotifications (web mode)', () => {
  it('notifies of an incoming message while the window is not focused; a click opens the conversation', async () => {
    const b = bridge({ notifications: true, hideNotificationText: false });
    mountWithBridge(Harness, b);
    await until(() => expect(b.callsOf('host.settings.get')).toHaveLength(1));
    await flushPromises();
    focused = true;
    b.emit(incoming('seen already'));
    focused = false;
    b.emit(incoming('hello there'));
    await until(() => expect(shown).toHaveLength(1));
    expect(shown[0]).toMatchObject({ title: 'Bob', body: 'hello there' });
    shown[0]!.clicked();
    expect(opened).toEqual([BOB]);
  });

  it('leaves the text out with the privacy option, and shows nothing when switched off or under Electron', async () => {
    const privateBridge = bridge({ notifications: true, hideNotificationText: true });
    mountWithBridge(Harness, privateBridge);
    await until(() => expect(privateBridge.callsOf('host.settings.get')).toHaveLength(1));
    await flushPromises();
    privateBridge.emit(incoming('the secret plan'));
    await until(() => expect(shown).toHaveLength(1));
    expect(shown[0]).toMatchObject({ title: 'New message from Bob', body: 'Open DiscordOpus to read it.' });

    for (const b of [bridge({ notifications: false, hideNotificationText: false }), bridge({ notifications: true, hideNotificationText: false }, true)]) {
      mountWithBridge(Harness, b);
      await flushPromises();
      b.emit(incoming('quiet'));
    }
    // Whatever the handlers would do has settled once pending answers are flushed.
    for (let i = 0; i < 5; i++) await flushPromises();
    expect(shown).toHaveLength(1);
  });
});
