// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { flushPromises } from '@vue/test-utils';
import { BridgeError } from '../../../common/bridge-protocol.ts';
import { ScriptedBridge, mountWithBridge } from '../../test-support/scripted-bridge.ts';
import UnlockScreen from './UnlockScreen.vue';

afterEach(() => {
  document.body.innerHTML = '';
});

describe('UnlockScreen', () => {
  it('shows the wrong-passphrase message, clears the field, refocuses it, and lets the user retry', async () => {
    const attempts: string[] = [];
    const unlock = async (passphrase: string) => {
      attempts.push(passphrase);
      if (passphrase !== 'right passphrase') throw new BridgeError('storage/wrong-passphrase', 'Wrong passphrase for this profile. Check it and try again.');
    };
    const wrapper = mountWithBridge(UnlockScreen, new ScriptedBridge(), { props: { profileName: 'alice', unlock } });
    const input = wrapper.get('input[type=password]');
    expect(wrapper.get('button[type=submit]').attributes('disabled')).toBeDefined();

    await input.setValue('wrong');
    await wrapper.get('form').trigger('submit');
    await flushPromises();
    expect(wrapper.get('[role=alert]').text()).toBe('Wrong passphrase for this profile. Check it and try again.');
    expect((input.element as HTMLInputElement).value).toBe('');
    expect(input.attributes('aria-invalid')).toBe('true');
    expect(document.activeElement).toBe(input.element);

    await input.setValue('right passphrase');
    await wrapper.get('form').trigger('submit');
    await flushPromises();
    expect(attempts).toEqual(['wrong', 'right passphrase']);
    expect(wrapper.find('[role=alert]').exists()).toBe(false);
  });

  it('labels its field for assistive technology', () => {
    const wrapper = mountWithBridge(UnlockScreen, new ScriptedBridge(), { props: { profileName: 'alice', unlock: async () => {} } });
    const input = wrapper.get('input');
    expect(wrapper.get(`label[for=${input.attributes('id')}]`).text()).toBe('Passphrase');
    expect(wrapper.get('h1').text()).toContain('alice');
  });
});
