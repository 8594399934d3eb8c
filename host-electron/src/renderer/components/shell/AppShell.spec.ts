// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { expectAccessible } from '../../test-support/a11y.ts';
import { ScriptedBridge, mountWithBridge, until } from '../../test-support/scripted-bridge.ts';
import AppShell from './AppShell.vue';

afterEach(() => {
  document.body.innerHTML = '';
});

function shellBridge() {
  return new ScriptedBridge({
    'contacts.list': () => [],
    'identity.get': () => ({ userId: 'do1me', displayName: 'Me', publicKey: 'aa'.repeat(32) }),
    'host.settings.get': () => ({ serverUrl: '', stunServers: [], theme: 'dark', notifications: true }),
    'host.settings.set': (patch: object) => ({ serverUrl: '', stunServers: [], theme: 'dark', notifications: true, ...patch }),
    'plugins.list': () => [{ id: 'hello', version: '1.0.0', state: 'active', firstParty: false, permissions: { peers: true, events: ['messaging.*'] } }],
    'contributions.list': () => ({
      commands: [{ id: 'hello.greet', title: 'Say hello', category: 'Hello' }],
      views: [
        { id: 'hello.panel', title: 'Hello panel', location: 'sidebar', ariaLabel: 'Hello plugin panel' },
        { id: 'hello.toolbar', title: 'Not in sidebar', location: 'conversation-toolbar' },
      ],
      settings: [],
    }),
    'commands.execute': () => 'done',
    'views.getModel': () => ({ greeting: '<script>alert(1)</script>', items: ['one', 'two'] }),
  });
}

const props = { status: { profileName: 'default', exists: true, unlocked: true, userId: 'do1me', displayName: 'Me' }, lock: async () => {} };

describe('AppShell', () => {
  it('adds sidebar entries for plugin-contributed sidebar views and renders their model as text', async () => {
    const bridge = shellBridge();
    const wrapper = mountWithBridge(AppShell, bridge, { props });
    await until(() => expect(wrapper.find('button[aria-label="Hello plugin panel"]').exists()).toBe(true));
    expect(wrapper.text()).not.toContain('Not in sidebar');
    await wrapper.get('button[aria-label="Hello plugin panel"]').trigger('click');
    await until(() => expect(wrapper.find('[data-view-id="hello.panel"] dl').exists()).toBe(true));
    expect(wrapper.get('[data-view-id="hello.panel"]').text()).toContain('<script>alert(1)</script>');
    expect(wrapper.find('[data-view-id="hello.panel"] script').exists()).toBe(false);
    expect(wrapper.findAll('[data-view-id="hello.panel"] li').map((li) => li.text())).toEqual(['one', 'two']);
    expect(wrapper.get('button[aria-label="Hello plugin panel"]').attributes('aria-current')).toBe('page');
    expectAccessible(wrapper.element);
  });

  it('opens the command palette with Ctrl+K, filters, navigates with arrows and runs a plugin command', async () => {
    const bridge = shellBridge();
    const wrapper = mountWithBridge(AppShell, bridge, { props });
    await until(() => expect(bridge.callsOf('contributions.list')).toHaveLength(1));
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'k', ctrlKey: true }));
    await until(() => expect(wrapper.find('[data-testid=command-palette]').exists()).toBe(true));
    const input = wrapper.get('[role=combobox]');
    expect(document.activeElement).toBe(input.element);
    await input.setValue('hello');
    const options = () => wrapper.findAll('[role=option]');
    expect(options().map((o) => o.text())).toEqual(['Go to: Show Hello panel', 'Hello: Say hello']);
    expect(options()[0]!.attributes('aria-selected')).toBe('true');
    await input.trigger('keydown', { key: 'ArrowDown' });
    expect(options()[1]!.attributes('aria-selected')).toBe('true');
    expect(input.attributes('aria-activedescendant')).toBe('palette-item-1');
    await input.trigger('keydown', { key: 'Enter' });
    await until(() => expect(bridge.callsOf('commands.execute')).toEqual([{ id: 'hello.greet', args: [] }]));
    await until(() => expect(wrapper.find('[data-testid=command-palette]').exists()).toBe(false));
  });

  it('closes the palette with Escape without running anything', async () => {
    const bridge = shellBridge();
    const wrapper = mountWithBridge(AppShell, bridge, { props });
    await wrapper.get('button[aria-keyshortcuts="Control+K"]').trigger('click');
    await wrapper.get('[role=combobox]').trigger('keydown', { key: 'Escape' });
    expect(wrapper.find('[data-testid=command-palette]').exists()).toBe(false);
    expect(bridge.callsOf('commands.execute')).toEqual([]);
  });

  it('shows the plugins list with permissions on the settings screen', async () => {
    const bridge = shellBridge();
    const wrapper = mountWithBridge(AppShell, bridge, { props });
    await until(() => expect(bridge.callsOf('plugins.list')).toHaveLength(1));
    await wrapper.findAll('nav button').find((b) => b.text() === 'Settings')!.trigger('click');
    await until(() => expect(wrapper.find('table').exists()).toBe(true));
    const row = wrapper.get('tbody tr').text();
    expect(row).toContain('hello');
    expect(row).toContain('third party');
    expect(row).toContain('peers; events: messaging.*');
  });
});
