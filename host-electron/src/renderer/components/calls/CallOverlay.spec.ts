// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { userIdFromPublicKey } from '@discordopus/sdk';
import type { CallQuality, CallView } from '@discordopus/plugin-calls/common';
import { BridgeError } from '../../../common/bridge-protocol.ts';
import { expectAccessible } from '../../test-support/a11y.ts';
import { ScriptedBridge, mountWithBridge, until } from '../../test-support/scripted-bridge.ts';
import CallButtons from './CallButtons.vue';
import CallOverlay from './CallOverlay.vue';

const BOB = userIdFromPublicKey(new Uint8Array(32).fill(2));
const CALL_ID = 'c0'.repeat(16);

afterEach(() => {
  document.body.innerHTML = '';
});

function view(partial: Partial<CallView>): CallView {
  return {
    callId: CALL_ID, peer: BOB, direction: 'in', video: true, state: 'ringing', startedAt: Date.now(),
    muted: { audio: false, video: false }, camera: false, screenSharing: false,
    remote: { audioMuted: false, camera: true, screenSharing: false }, ...partial,
  } as CallView;
}

/** A bridge whose calls.* methods behave like the plugin's for one call, and report through calls.state. */
function callsBridge(initial: CallView[] = []) {
  let current: CallView | undefined = initial[0];
  const bridge: ScriptedBridge = new ScriptedBridge({
    'calls.list': () => (current ? [current] : []),
    'contacts.get': () => ({ userId: BOB, name: 'Bob' }),
    'calls.quality': (): CallQuality => ({ level: 'good', rttMs: 12, at: Date.now(), audio: { packetsReceived: 100, packetsLost: 1, bytesReceived: 1 } }),
  });
  const change = (patch: Partial<CallView>) => {
    current = { ...current!, ...patch };
    bridge.emit({ topic: 'calls.state', payload: { call: current } });
    return current;
  };
  bridge.on('calls.call', (p: { contact: string; video: boolean }) => {
    current = view({ direction: 'out', peer: p.contact as CallView['peer'], video: p.video, camera: p.video });
    return current;
  });
  bridge.on('calls.accept', (p: { video?: boolean }) => change({ state: 'connecting', camera: p.video ?? false }));
  bridge.on('calls.decline', () => change({ state: 'ended', endReason: 'declined' }));
  bridge.on('calls.hangUp', () => change({ state: 'ended', endReason: 'hangup' }));
  bridge.on('calls.setMuted', (p: { kind: 'audio' | 'video'; muted: boolean }) => change({ muted: { ...current!.muted, [p.kind]: p.muted } }));
  bridge.on('calls.setCamera', (p: { on: boolean }) => change({ camera: p.on }));
  return { bridge, change };
}

describe('CallOverlay', () => {
  it('prompts for an incoming call, accepts it, shows the running call with its controls, mutes and hangs up', async () => {
    const { bridge, change } = callsBridge();
    const wrapper = mountWithBridge(CallOverlay, bridge);
    await until(() => expect(bridge.callsOf('calls.list')).toHaveLength(1));
    expect(wrapper.find('[data-testid=call-incoming]').exists()).toBe(false);

    change(view({}));
    await until(() => expect(wrapper.find('[role=alertdialog]').text()).toContain('Incoming video call from Bob'));
    // The keyboard lands on Accept.
    await until(() => expect(document.activeElement?.textContent).toBe('Accept'));
    expectAccessible(wrapper.element);

    await wrapper.get('button.primary:nth-child(2)').trigger('click');
    expect(bridge.callsOf('calls.accept')).toEqual([{ callId: CALL_ID, video: true }]);
    await until(() => expect(wrapper.find('[role=alertdialog]').exists()).toBe(false));
    const region = wrapper.get('[data-testid=call-view]');
    expect(region.attributes('aria-label')).toBe('Call with Bob');
    expect(wrapper.get('[data-testid=call-status]').text()).toBe('Connecting…');

    change({ state: 'active', connectedAt: Date.now() - 65_000 });
    await until(() => expect(wrapper.get('[data-testid=call-status]').text()).toMatch(/^1:0\d$/));
    await until(() => expect(wrapper.get('[role=status]').text()).toContain('Good connection'));
    expect(wrapper.findAll('figure').map((f) => f.attributes('aria-label'))).toEqual(['Bob', 'You']);
    expectAccessible(wrapper.element);

    const mute = wrapper.get('[role=toolbar] button');
    expect(mute.attributes('aria-pressed')).toBe('false');
    await mute.trigger('click');
    expect(bridge.callsOf('calls.setMuted')).toEqual([{ callId: CALL_ID, kind: 'audio', muted: true }]);
    await until(() => expect(wrapper.get('[role=toolbar] button').text()).toBe('Unmute'));
    expect(wrapper.get('[role=toolbar] button').attributes('aria-pressed')).toBe('true');

    // The remote peer mutes: the view says so.
    change({ remote: { audioMuted: true, camera: true, screenSharing: false } });
    await until(() => expect(region.text()).toContain('Bob is muted'));

    await wrapper.findAll('button').find((b) => b.text() === 'Hang up')!.trigger('click');
    expect(bridge.callsOf('calls.hangUp')).toEqual([{ callId: CALL_ID }]);
    await until(() => expect(wrapper.find('[data-testid=call-view]').exists()).toBe(false));
    wrapper.unmount();
  });

  it('declines an incoming call', async () => {
    const { bridge } = callsBridge([view({ video: false })]);
    const wrapper = mountWithBridge(CallOverlay, bridge);
    await until(() => expect(wrapper.find('[role=alertdialog]').text()).toContain('Incoming call from Bob'));
    // A voice call offers no "with video".
    expect(wrapper.findAll('[role=alertdialog] button').map((b) => b.text())).toEqual(['Accept', 'Decline']);
    await wrapper.findAll('button').find((b) => b.text() === 'Decline')!.trigger('click');
    expect(bridge.callsOf('calls.decline')).toEqual([{ callId: CALL_ID }]);
    await until(() => expect(wrapper.find('[role=alertdialog]').exists()).toBe(false));
    wrapper.unmount();
  });

  it('shrinks to a small view and back, with Escape or the button, keeping mute and hang up', async () => {
    const { bridge } = callsBridge([view({ direction: 'out', state: 'active', connectedAt: Date.now() })]);
    const wrapper = mountWithBridge(CallOverlay, bridge);
    await until(() => expect(wrapper.find('.call-view').exists()).toBe(true));
    await wrapper.get('.call-view').trigger('keydown', { key: 'Escape' });
    await until(() => expect(wrapper.find('.call-mini').exists()).toBe(true));
    expect(wrapper.findAll('.call-mini button').map((b) => b.text())).toEqual(['Mute', 'Expand', 'Hang up']);
    expectAccessible(wrapper.element);
    await wrapper.get('button[aria-label="Expand call"]').trigger('click');
    await until(() => expect(wrapper.find('.call-view').exists()).toBe(true));
    wrapper.unmount();
  });

  it('shows what the plugin refused, in words', async () => {
    const { bridge } = callsBridge([view({ direction: 'out', state: 'active', connectedAt: Date.now() })]);
    bridge.on('calls.setCamera', () => {
      throw new BridgeError('calls/media-denied', 'Access to the camera was refused. Allow it in the system or browser settings and try again.');
    });
    const wrapper = mountWithBridge(CallOverlay, bridge);
    await until(() => expect(wrapper.find('.call-view').exists()).toBe(true));
    await wrapper.findAll('button').find((b) => b.text() === 'Camera on')!.trigger('click');
    await until(() => expect(wrapper.get('[role=alert]').text()).toMatch(/camera was refused/));
    wrapper.unmount();
  });
});

describe('CallButtons', () => {
  it('starts a voice or a video call with the contact, and is disabled during a call', async () => {
    const { bridge } = callsBridge();
    const wrapper = mountWithBridge(CallButtons, bridge, { props: { userId: BOB, name: 'Bob' } });
    await until(() => expect(bridge.callsOf('calls.list')).toHaveLength(1));
    expectAccessible(wrapper.element);
    await wrapper.get('button[aria-label="Video call Bob"]').trigger('click');
    expect(bridge.callsOf('calls.call')).toEqual([{ contact: BOB, video: true }]);
    await until(() => expect(wrapper.get('button[aria-label="Voice call Bob"]').attributes('disabled')).toBeDefined());
    wrapper.unmount();
  });

  it('says why a call could not start', async () => {
    const { bridge } = callsBridge();
    bridge.on('calls.call', () => {
      throw new BridgeError('calls/peer-unreachable', 'Bob is offline. Try again when they are online.');
    });
    const wrapper = mountWithBridge(CallButtons, bridge, { props: { userId: BOB, name: 'Bob' } });
    await wrapper.get('button[aria-label="Voice call Bob"]').trigger('click');
    await until(() => expect(wrapper.get('[role=alert]').text()).toContain('Bob is offline'));
    expect(wrapper.get('button[aria-label="Voice call Bob"]').attributes('disabled')).toBeUndefined();
    wrapper.unmount();
  });
});
