// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { flushPromises } from '@vue/test-utils';
import { BridgeError } from '../../../common/bridge-protocol.ts';
import { ScriptedBridge, mountWithBridge } from '../../test-support/scripted-bridge.ts';
import OnboardingScreen from './OnboardingScreen.vue';

afterEach(() => {
  document.body.innerHTML = '';
});

function mountScreen(create = async (_n: string, _p: string) => {}, importBackup = async (_b: string, _bp: string, _p: string) => {}) {
  return mountWithBridge(OnboardingScreen, new ScriptedBridge(), { props: { profileName: 'default', create, importBackup } });
}

describe('OnboardingScreen', () => {
  it('updates the strength meter as the passphrase is typed', async () => {
    const wrapper = mountScreen();
    const label = () => wrapper.get('[data-testid=strength-label]').text();
    await wrapper.get('#passphrase').setValue('abc');
    expect(label()).toContain('very weak');
    await wrapper.get('#passphrase').setValue('correct horse battery staple');
    expect(label()).toContain('strong');
    expect(wrapper.get('meter').attributes('aria-valuetext')).toBe('strong');
  });

  it('keeps Create disabled until the name is set, the passphrase is long enough and repeated', async () => {
    const wrapper = mountScreen();
    const submit = () => wrapper.get('button[type=submit]');
    await wrapper.get('#passphrase').setValue('short');
    expect(wrapper.get('[data-testid=form-problem]').text()).toBe('Enter a display name.');
    await wrapper.get('#display-name').setValue('Alice');
    expect(wrapper.get('[data-testid=form-problem]').text()).toContain('at least 8');
    await wrapper.get('#passphrase').setValue('correct horse battery staple');
    await wrapper.get('#passphrase-confirm').setValue('correct horse battery stapler');
    expect(wrapper.get('[data-testid=form-problem]').text()).toBe('The two passphrases differ.');
    expect(submit().attributes('disabled')).toBeDefined();
    await wrapper.get('#passphrase-confirm').setValue('correct horse battery staple');
    expect(submit().attributes('disabled')).toBeUndefined();
  });

  it('creates the identity with the trimmed name and shows a host error as text', async () => {
    const created: [string, string][] = [];
    const wrapper = mountScreen(async (name, passphrase) => {
      created.push([name, passphrase]);
      throw new BridgeError('profile/exists', 'The profile "default" already exists.');
    });
    await wrapper.get('#display-name').setValue('  <b>Alice</b>  ');
    await wrapper.get('#passphrase').setValue('correct horse battery staple');
    await wrapper.get('#passphrase-confirm').setValue('correct horse battery staple');
    await wrapper.get('form').trigger('submit');
    await flushPromises();
    expect(created).toEqual([['<b>Alice</b>', 'correct horse battery staple']]);
    expect(wrapper.get('[role=alert]').text()).toBe('The profile "default" already exists.');
  });

  it('switches to importing a backup with its own passphrase field', async () => {
    const wrapper = mountScreen();
    await wrapper.findAll('[role=tab]')[1]!.trigger('click');
    expect(wrapper.find('#display-name').exists()).toBe(false);
    expect(wrapper.find('#backup-file').exists()).toBe(true);
    expect(wrapper.find('#backup-passphrase').exists()).toBe(true);
    expect(wrapper.findAll('[role=tab]')[1]!.attributes('aria-selected')).toBe('true');
  });
});
