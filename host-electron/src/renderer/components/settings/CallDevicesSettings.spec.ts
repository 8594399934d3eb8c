// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { BridgeError } from '../../../common/bridge-protocol.ts';
import { MediaDevicesKey } from '../../composables/use-call-devices.ts';
import { expectAccessible } from '../../test-support/a11y.ts';
import { ScriptedBridge, mountWithBridge, until } from '../../test-support/scripted-bridge.ts';
import { FAKE_DEVICES, ScriptedMediaDevices } from '../../test-support/scripted-media-devices.ts';
import SettingsScreen from './SettingsScreen.vue';

afterEach(() => {
  document.body.innerHTML = '';
  delete document.documentElement.dataset.theme;
});

function settingsBridge(callDevices: Record<string, string> = {}) {
  let settings = { serverUrl: '', stunServers: [] as string[], turnServers: [], theme: 'dark', notifications: true, hideNotificationText: false, callDevices };
  return new ScriptedBridge({
    'host.settings.get': () => settings,
    'host.settings.set': (patch: object) => (settings = { ...settings, ...patch }),
  });
}

function mountSettings(bridge: ScriptedBridge, devices: ScriptedMediaDevices | undefined) {
  return mountWithBridge(SettingsScreen, bridge, {
    props: { plugins: [], pluginSettings: [] },
    global: { provide: devices ? { [MediaDevicesKey as symbol]: devices } : {} },
  });
}

const optionsOf = (wrapper: ReturnType<typeof mountSettings>, id: string) =>
  wrapper.get(`#${id}`).findAll('option').map((o) => o.text());
const valueOf = (wrapper: ReturnType<typeof mountSettings>, id: string) => (wrapper.get(`#${id}`).element as HTMLSelectElement).value;

describe('Settings: call devices', () => {
  it('lists the devices with "System default" first and saves each choice at once', async () => {
    const bridge = settingsBridge();
    const wrapper = mountSettings(bridge, new ScriptedMediaDevices(FAKE_DEVICES));
    await until(() => expect(optionsOf(wrapper, 'call-device-microphone')).toEqual(['System default', 'Fake Default Audio Input', 'Fake Audio Input 1', 'Fake Audio Input 2']));
    expect(optionsOf(wrapper, 'call-device-camera')).toEqual(['System default', 'fake_device_0']);
    expect(optionsOf(wrapper, 'call-device-speaker')).toEqual(['System default', 'Fake Default Audio Output', 'Fake Audio Output 1']);
    expect(valueOf(wrapper, 'call-device-microphone')).toBe('');
    expectAccessible(wrapper.element);

    await wrapper.get('#call-device-microphone').setValue('mic-2');
    await until(() => expect(wrapper.get('[data-testid=call-devices-settings] [role=status]').text()).toBe('Device saved.'));
    await wrapper.get('#call-device-speaker').setValue('spk-1');
    await until(() => expect(bridge.callsOf('host.settings.set')).toHaveLength(2));
    // Back to the system default: the key goes away.
    await wrapper.get('#call-device-microphone').setValue('');
    await until(() => expect(bridge.callsOf('host.settings.set')).toHaveLength(3));
    expect(bridge.callsOf('host.settings.set')).toEqual([
      { callDevices: { audioInput: 'mic-2' } },
      { callDevices: { audioInput: 'mic-2', audioOutput: 'spk-1' } },
      { callDevices: { audioOutput: 'spk-1' } },
    ]);
    expect(valueOf(wrapper, 'call-device-speaker')).toBe('spk-1');
    wrapper.unmount();
  });

  it('keeps a saved device that is unplugged, says calls use the default, and follows devices plugged in', async () => {
    const devices = new ScriptedMediaDevices(FAKE_DEVICES.filter((d) => d.deviceId !== 'mic-2'));
    const wrapper = mountSettings(settingsBridge({ audioInput: 'mic-2', videoInput: 'cam-0' }), devices);
    const section = () => wrapper.get('[data-testid=call-devices-settings]');
    await until(() => expect(section().text()).toContain('The saved microphone is not connected; calls use the system default until it is back.'));
    expect(optionsOf(wrapper, 'call-device-microphone').at(-1)).toBe('Saved microphone (not connected)');
    expect(valueOf(wrapper, 'call-device-microphone')).toBe('mic-2');
    expect(valueOf(wrapper, 'call-device-camera')).toBe('cam-0');

    // Plugged back in (devicechange): listed by its name, no notice.
    devices.set(FAKE_DEVICES);
    await until(() => expect(optionsOf(wrapper, 'call-device-microphone')).toContain('Fake Audio Input 2'));
    expect(section().text()).not.toContain('not connected');
    // The camera is unplugged during the session.
    devices.set(FAKE_DEVICES.filter((d) => d.kind !== 'videoinput'));
    await until(() => expect(section().text()).toContain('The saved camera is not connected'));
    expectAccessible(wrapper.element);
    wrapper.unmount();
  });

  it('numbers devices while their names are hidden, and reveals them when asked', async () => {
    const devices = new ScriptedMediaDevices(FAKE_DEVICES, true);
    const wrapper = mountSettings(settingsBridge(), devices);
    await until(() => expect(optionsOf(wrapper, 'call-device-microphone')).toEqual(['System default', 'Microphone 1', 'Microphone 2', 'Microphone 3']));
    expect(optionsOf(wrapper, 'call-device-camera')).toEqual(['System default', 'Camera 1']);
    await wrapper.findAll('button').find((b) => b.text() === 'Show device names')!.trigger('click');
    await until(() => expect(optionsOf(wrapper, 'call-device-microphone')).toContain('Fake Audio Input 1'));
    expect(devices.captures).toBe(1);
    expect(wrapper.findAll('button').some((b) => b.text() === 'Show device names')).toBe(false);
    wrapper.unmount();
  });

  it('shows what the host refused, and says so where the window has no devices', async () => {
    const bridge = settingsBridge();
    bridge.on('host.settings.set', () => {
      throw new BridgeError('settings/invalid', 'These settings were not saved: callDevices.audioInput must be a device id as the browser lists it.');
    });
    const wrapper = mountSettings(bridge, new ScriptedMediaDevices(FAKE_DEVICES));
    await until(() => expect(optionsOf(wrapper, 'call-device-microphone')).toHaveLength(4));
    await wrapper.get('#call-device-microphone').setValue('mic-1');
    await until(() => expect(wrapper.get('[data-testid=call-devices-settings] [role=alert]').text()).toContain('must be a device id'));
    wrapper.unmount();

    const bare = mountSettings(settingsBridge(), undefined);
    await until(() => expect(bare.get('[data-testid=call-devices-settings]').text()).toContain('cannot reach microphones or cameras'));
    expect(bare.find('#call-device-microphone').exists()).toBe(false);
    bare.unmount();
  });
});
