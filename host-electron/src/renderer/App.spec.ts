// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { BridgeError } from '../common/bridge-protocol.ts';
import { ScriptedBridge, mountWithBridge, until } from './test-support/scripted-bridge.ts';
import App from './App.vue';

afterEach(() => {
  document.body.innerHTML = '';
});

function appBridge(status: object) {
  return new ScriptedBridge({
    'profile.status': () => status,
    'host.settings.get': () => ({ serverUrl: '', stunServers: [], theme: 'light', notifications: true }),
    'contacts.list': () => [],
    'identity.get': () => ({ userId: 'do1me', displayName: 'Me', publicKey: 'aa'.repeat(32) }),
    'plugins.list': () => [],
    'contributions.list': () => ({ commands: [], views: [], settings: [] }),
  });
}

describe('App', () => {
  it('shows onboarding for a new profile and applies the theme', async () => {
    const wrapper = mountWithBridge(App, appBridge({ profileName: 'default', exists: false, unlocked: false }));
    await until(() => expect(wrapper.find('[data-screen=onboarding]').exists()).toBe(true));
    await until(() => expect(document.documentElement.dataset.theme).toBe('light'));
  });

  it('shows the unlock screen for a locked profile, and the shell once the host reports it unlocked', async () => {
    const bridge = appBridge({ profileName: 'alice', exists: true, unlocked: false });
    const wrapper = mountWithBridge(App, bridge);
    await until(() => expect(wrapper.find('[data-screen=unlock]').exists()).toBe(true));
    bridge.emit({ topic: 'profile.changed', payload: { profileName: 'alice', exists: true, unlocked: true, userId: 'do1me', displayName: 'Me' } });
    await until(() => expect(wrapper.find('[data-screen=shell]').exists()).toBe(true));
    expect(wrapper.get('[data-testid=my-user-id]').text()).toBe('do1me');
  });

  it('tells the user when the bridge loses the host', async () => {
    const bridge = appBridge({ profileName: 'alice', exists: true, unlocked: false });
    const wrapper = mountWithBridge(App, bridge);
    await until(() => expect(wrapper.find('[data-screen=unlock]').exists()).toBe(true));
    bridge.emit({ topic: 'bridge.disconnected', payload: {} });
    await until(() => expect(wrapper.get('.disconnected').text()).toContain('open the new address'));
  });

  it('says what to do when the host cannot be reached', async () => {
    const bridge = new ScriptedBridge({
      'profile.status': () => {
        throw new BridgeError('bridge/disconnected', 'Cannot reach the app host. Is it still running?');
      },
      'host.settings.get': () => ({ serverUrl: '', stunServers: [], theme: 'dark', notifications: true }),
    });
    const wrapper = mountWithBridge(App, bridge);
    await until(() => expect(wrapper.get('[role=alert]').text()).toBe('Cannot reach the app host. Is it still running?'));
  });
});
