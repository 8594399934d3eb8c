// @vitest-environment happy-dom
import { mount } from '@vue/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import { describeMediaDevices } from '@discordopus/plugin-calls/renderer';
import { expectAccessible } from '../../test-support/a11y.ts';
import { FAKE_DEVICES } from '../../test-support/scripted-media-devices.ts';
import { until } from '../../test-support/scripted-bridge.ts';
import CallDevicesMenu from './CallDevicesMenu.vue';

afterEach(() => {
  document.body.innerHTML = '';
});

const options = describeMediaDevices(FAKE_DEVICES);
const microphones = options.filter((d) => d.kind === 'audioinput');
const cameras = options.filter((d) => d.kind === 'videoinput');
const speakers = options.filter((d) => d.kind === 'audiooutput');

function mountMenu(props: Partial<InstanceType<typeof CallDevicesMenu>['$props']> = {}) {
  return mount(CallDevicesMenu, {
    attachTo: document.body,
    props: { microphones, cameras, speakers, selected: { audioInput: 'mic-1', videoInput: 'cam-0' }, speakerSelectable: true, ...props },
  });
}

const focusedText = () => (document.activeElement?.textContent ?? '').replace('✓', '').trim();

describe('CallDevicesMenu', () => {
  it('opens from its button, lists every device by group with the ones in use checked, and picks one', async () => {
    const wrapper = mountMenu();
    const button = wrapper.get('button[aria-haspopup=menu]');
    expect(button.text()).toBe('Devices');
    expect(button.attributes('aria-expanded')).toBe('false');
    expect(wrapper.find('[role=menu]').exists()).toBe(false);

    await button.trigger('click');
    const menu = wrapper.get('[role=menu]');
    expect(button.attributes('aria-expanded')).toBe('true');
    expect(button.attributes('aria-controls')).toBe(menu.attributes('id'));
    expect(wrapper.emitted('open')).toHaveLength(1);
    const groups = menu.findAll('[role=group]').map((g) => ({
      name: document.getElementById(g.attributes('aria-labelledby')!)?.textContent,
      items: g.findAll('[role=menuitemradio]').map((i) => [i.text().replace('✓', ''), i.attributes('aria-checked')]),
    }));
    expect(groups).toEqual([
      { name: 'Microphone', items: [['Fake Default Audio Input', 'false'], ['Fake Audio Input 1', 'true'], ['Fake Audio Input 2', 'false']] },
      { name: 'Camera', items: [['fake_device_0', 'true']] },
      // No speaker chosen: the system default (listed first) is the one in use.
      { name: 'Speaker', items: [['Fake Default Audio Output', 'true'], ['Fake Audio Output 1', 'false']] },
    ]);
    expectAccessible(wrapper.element);
    // The keyboard lands on the first checked item.
    await until(() => expect(focusedText()).toBe('Fake Audio Input 1'));

    await menu.findAll('[role=menuitemradio]')[2]!.trigger('click');
    expect(wrapper.emitted('select')).toEqual([['audioInput', 'mic-2']]);
    expect(wrapper.find('[role=menu]').exists()).toBe(false);
    expect(document.activeElement).toBe(button.element);
    wrapper.unmount();
  });

  it('is driven by the keyboard: arrows, Home, End, Enter, and Escape back to the button', async () => {
    const wrapper = mountMenu();
    const button = wrapper.get('button[aria-haspopup=menu]');
    (button.element as HTMLButtonElement).focus();
    await button.trigger('keydown', { key: 'ArrowDown' });
    await until(() => expect(focusedText()).toBe('Fake Default Audio Input'));
    const menu = wrapper.get('[role=menu]');
    const press = async (key: string) => menu.trigger('keydown', { key });
    await press('ArrowDown');
    expect(focusedText()).toBe('Fake Audio Input 1');
    await press('ArrowUp');
    await press('ArrowUp');
    // Wraps round to the last item.
    expect(focusedText()).toBe('Fake Audio Output 1');
    await press('Home');
    expect(focusedText()).toBe('Fake Default Audio Input');
    await press('End');
    expect(focusedText()).toBe('Fake Audio Output 1');

    // Escape closes only the menu (the call view's own Escape must not see it) and returns to the button.
    const outside: string[] = [];
    wrapper.element.parentElement!.addEventListener('keydown', (e: Event) => outside.push((e as KeyboardEvent).key));
    await press('Escape');
    expect(wrapper.find('[role=menu]').exists()).toBe(false);
    expect(document.activeElement).toBe(button.element);
    expect(outside).toEqual([]);

    // ArrowUp opens on the last item; choosing the speaker with the keyboard (a button: Enter clicks it).
    await button.trigger('keydown', { key: 'ArrowUp' });
    await until(() => expect(focusedText()).toBe('Fake Audio Output 1'));
    (document.activeElement as HTMLButtonElement).click();
    expect(wrapper.emitted('select')).toEqual([['audioOutput', 'spk-1']]);
    wrapper.unmount();
  });

  it('closes on Tab and on a click elsewhere; choosing the device in use changes nothing', async () => {
    const wrapper = mountMenu();
    const button = wrapper.get('button[aria-haspopup=menu]');
    await button.trigger('click');
    await wrapper.get('[role=menu]').trigger('keydown', { key: 'Tab' });
    expect(wrapper.find('[role=menu]').exists()).toBe(false);

    await button.trigger('click');
    document.body.dispatchEvent(new PointerEvent('pointerdown', { bubbles: true }));
    await until(() => expect(wrapper.find('[role=menu]').exists()).toBe(false));

    await button.trigger('click');
    await wrapper.get('[data-device-id=cam-0]').trigger('click');
    expect(wrapper.emitted('select')).toBeUndefined();
    // The button toggles it too.
    await button.trigger('click');
    await button.trigger('click');
    expect(wrapper.find('[role=menu]').exists()).toBe(false);
    wrapper.unmount();
  });

  it('says when a kind has no device, and leaves out speakers where the window cannot choose one', async () => {
    const wrapper = mountMenu({ cameras: [], speakerSelectable: false, selected: {} });
    await wrapper.get('button[aria-haspopup=menu]').trigger('click');
    const groups = wrapper.findAll('[role=group]');
    expect(groups.map((g) => g.attributes('data-slot'))).toEqual(['audioInput', 'videoInput']);
    const none = groups[1]!.get('[role=menuitemradio]');
    expect(none.text()).toBe('No camera found');
    expect(none.attributes('aria-disabled')).toBe('true');
    // Nothing chosen: the default microphone is checked; the disabled entry is skipped by the keyboard.
    expect(groups[0]!.findAll('[aria-checked=true]').map((i) => i.text().replace('✓', ''))).toEqual(['Fake Default Audio Input']);
    await until(() => expect(focusedText()).toBe('Fake Default Audio Input'));
    await wrapper.get('[role=menu]').trigger('keydown', { key: 'End' });
    expect(focusedText()).toBe('Fake Audio Input 2');
    expectAccessible(wrapper.element);
    wrapper.unmount();
  });
});
