// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { expectAccessible } from '../../test-support/a11y.ts';
import { ScriptedBridge, mountWithBridge, until } from '../../test-support/scripted-bridge.ts';
import SettingsScreen from './SettingsScreen.vue';

afterEach(() => {
  document.body.innerHTML = '';
  delete document.documentElement.dataset.theme;
});

function settingsBridge() {
  let settings = { serverUrl: 'http://127.0.0.1:47800', stunServers: [] as string[], theme: 'dark', notifications: true };
  return new ScriptedBridge({
    'host.settings.get': () => settings,
    'host.settings.set': (patch: object) => (settings = { ...settings, ...patch }),
  });
}

describe('SettingsScreen', () => {
  it('validates the server URL and STUN servers as they are typed', async () => {
    const bridge = settingsBridge();
    const wrapper = mountWithBridge(SettingsScreen, bridge, { props: { plugins: [], pluginSettings: [] } });
    await until(() => expect((wrapper.get('#server-url').element as HTMLInputElement).value).toBe('http://127.0.0.1:47800'));
    await wrapper.get('#server-url').setValue('ftp://nope');
    expect(wrapper.text()).toContain('serverUrl: must be empty or an http(s)://');
    await wrapper.get('#server-url').setValue('https://signal.example.org');
    await wrapper.get('#stun-servers').setValue('stun:stun.example.org:3478\nnot-a-stun');
    expect(wrapper.text()).toContain('stunServers.1: must look like stun:host:port');
    expect(wrapper.get('form button[type=submit]').attributes('disabled')).toBeDefined();
    await wrapper.get('#stun-servers').setValue('stun:stun.example.org:3478\n\n');
    await wrapper.get('#notifications').setValue(false);
    await wrapper.get('form').trigger('submit');
    await until(() => expect(wrapper.find('[role=status]').text()).toBe('Saved.'));
    expect(bridge.callsOf('host.settings.set')).toEqual([{
      serverUrl: 'https://signal.example.org', stunServers: ['stun:stun.example.org:3478'], turnServers: [], notifications: false, hideNotificationText: false,
    }]);
  });

  it('saves an optional TURN relay with its credentials and the notification privacy option', async () => {
    const bridge = settingsBridge();
    const wrapper = mountWithBridge(SettingsScreen, bridge, { props: { plugins: [], pluginSettings: [] } });
    await until(() => expect((wrapper.get('#server-url').element as HTMLInputElement).value).toBe('http://127.0.0.1:47800'));
    await wrapper.get('#turn-url').setValue('http://not-turn');
    expect(wrapper.text()).toContain('turnServers.0.urls: must look like turn:host:port');
    await wrapper.get('#turn-url').setValue('turn:turn.example.org:3478');
    expect(wrapper.text()).toContain('turnServers.0.username: is needed for a TURN server');
    await wrapper.get('#turn-username').setValue('alice');
    await wrapper.get('#turn-credential').setValue('s3cret');
    expect(wrapper.get('#turn-credential').attributes('type')).toBe('password');
    await wrapper.get('#hide-notification-text').setValue(true);
    await wrapper.get('form').trigger('submit');
    await until(() => expect(bridge.callsOf('host.settings.set')).toHaveLength(1));
    expect(bridge.callsOf('host.settings.set')[0]).toMatchObject({
      turnServers: [{ urls: 'turn:turn.example.org:3478', username: 'alice', credential: 's3cret' }], hideNotificationText: true, notifications: true,
    });
    expectAccessible(wrapper.element);
  });

  it('switches the theme on the document', async () => {
    const bridge = settingsBridge();
    const wrapper = mountWithBridge(SettingsScreen, bridge, { props: { plugins: [], pluginSettings: [] } });
    await until(() => expect((wrapper.get('#server-url').element as HTMLInputElement).value).toBe('http://127.0.0.1:47800'));
    await wrapper.get('input[value=light]').trigger('change');
    await until(() => expect(document.documentElement.dataset.theme).toBe('light'));
    expect(bridge.callsOf('host.settings.set')).toEqual([{ theme: 'light' }]);
  });

  it('lists plugin-contributed settings', () => {
    const wrapper = mountWithBridge(SettingsScreen, settingsBridge(), {
      props: { plugins: [], pluginSettings: [{ key: 'hello.loud', title: 'Loud greetings', type: 'boolean', default: false, description: 'Shout.' }] },
    });
    expect(wrapper.get('dl').text()).toContain('Loud greetings');
    expect(wrapper.get('dl').text()).toContain('Default: false');
  });
});
