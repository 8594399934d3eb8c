// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { userIdFromPublicKey } from '@discordopus/sdk';
import { BridgeError } from '../../../common/bridge-protocol.ts';
import { formatContactPayload } from '../../../common/contact-payload.ts';
import { ScriptedBridge, mountWithBridge, until } from '../../test-support/scripted-bridge.ts';
import ContactsScreen from './ContactsScreen.vue';

afterEach(() => {
  document.body.innerHTML = '';
});

const bobKey = new Uint8Array(32).fill(2);
const bob = userIdFromPublicKey(bobKey);
const carol = userIdFromPublicKey(new Uint8Array(32).fill(3));
const DIGITS = '123451234512345123451234512345678906789067890678906789067890';

function contactsBridge() {
  const contacts: Record<string, unknown>[] = [
    { userId: bob, name: 'Bob', verified: false, identityChanged: false, presence: 'online', identityKey: Buffer.from(bobKey).toString('hex'), addedAt: 1 },
  ];
  const bridge = new ScriptedBridge({
    'contacts.list': () => contacts,
    'contacts.add': (p: { userId: string; name?: string; identityKey?: string }) => {
      if (p.userId === carol && contacts.some((c) => c.userId === carol)) throw new BridgeError('contacts/already-exists', `${carol} is already in your contacts.`);
      contacts.push({ userId: p.userId, name: p.name ?? '', verified: false, identityChanged: false, presence: 'unknown', addedAt: 2, ...(p.identityKey ? { identityKey: p.identityKey } : {}) });
      return contacts.at(-1);
    },
    'contacts.verify': (p: { contact: string }) => {
      contacts.find((c) => c.userId === p.contact)!.verified = true;
      return {};
    },
    'contacts.acceptIdentityChange': (p: { contact: string }) => {
      contacts.find((c) => c.userId === p.contact)!.identityChanged = false;
      return {};
    },
    'safetyNumber.get': () => ({ digits: DIGITS, groups: DIGITS.match(/\d{5}/g), payload: 'AQIDBA' }),
  });
  return { bridge, contacts };
}

describe('ContactsScreen', () => {
  it('lists contacts with presence and accessible names', async () => {
    const { bridge } = contactsBridge();
    const wrapper = mountWithBridge(ContactsScreen, bridge);
    await until(() => expect(wrapper.findAll('[role=option]')).toHaveLength(1));
    const item = wrapper.get('[role=option]');
    expect(item.text()).toContain('Bob');
    expect(item.get('.presence').attributes('aria-label')).toBe('Online');
    bridge.emit({ topic: 'presence.changed', payload: { userId: bob, presence: 'offline' } });
    await until(() => expect(wrapper.get('[role=option] .presence').attributes('aria-label')).toBe('Offline'));
  });

  it('explains a mistyped user ID as it is typed and refuses to add it', async () => {
    const { bridge } = contactsBridge();
    const wrapper = mountWithBridge(ContactsScreen, bridge);
    const input = wrapper.get('#contact-id');
    const hint = () => wrapper.get('[data-testid=contact-id-hint]').text();
    await input.setValue('do1q');
    expect(hint()).toMatch(/Too short/);
    const typo = carol.slice(0, 12) + (carol[12] === 'x' ? 'y' : 'x') + carol.slice(13);
    await input.setValue(typo);
    expect(hint()).toMatch(/Checksum mismatch/);
    expect(input.attributes('aria-invalid')).toBe('true');
    expect(wrapper.get('form[aria-label="Add contact"] button[type=submit]').attributes('disabled')).toBeDefined();
    await input.setValue(carol);
    expect(hint()).toBe('Valid user ID.');
    await wrapper.get('#contact-name').setValue('Carol');
    await wrapper.get('form[aria-label="Add contact"]').trigger('submit');
    await until(() => expect(wrapper.findAll('[role=option]')).toHaveLength(2));
    expect(bridge.callsOf('contacts.add')).toEqual([{ userId: carol, name: 'Carol' }]);
  });

  it('adds from a pasted contact code, taking its name and key', async () => {
    const { bridge } = contactsBridge();
    const wrapper = mountWithBridge(ContactsScreen, bridge);
    const key = 'ab'.repeat(32);
    await wrapper.get('#contact-id').setValue(formatContactPayload(carol, 'Carol C', key));
    expect(wrapper.get('[data-testid=contact-id-hint]').text()).toContain('identity key');
    expect((wrapper.get('#contact-name').element as HTMLInputElement).value).toBe('Carol C');
    await wrapper.get('form[aria-label="Add contact"]').trigger('submit');
    await until(() => expect(bridge.callsOf('contacts.add')).toEqual([{ userId: carol, name: 'Carol C', identityKey: key }]));
  });

  it('shows the host error when adding fails', async () => {
    const { bridge, contacts } = contactsBridge();
    contacts.push({ userId: carol, name: 'Carol', verified: false, identityChanged: false, presence: 'unknown', addedAt: 3 });
    const wrapper = mountWithBridge(ContactsScreen, bridge);
    await wrapper.get('#contact-id').setValue(carol);
    await wrapper.get('form[aria-label="Add contact"]').trigger('submit');
    await until(() => expect(wrapper.get('form[aria-label="Add contact"] [role=alert]').text()).toContain('already in your contacts'));
  });

  it('shows the safety number in 12 groups with a QR code, and marks the contact verified', async () => {
    const { bridge } = contactsBridge();
    const wrapper = mountWithBridge(ContactsScreen, bridge);
    await until(() => expect(wrapper.findAll('[role=option]')).toHaveLength(1));
    await wrapper.get('[role=option]').trigger('click');
    await until(() => expect(wrapper.find('[data-testid=safety-digits]').exists()).toBe(true));
    const groups = wrapper.findAll('[data-testid=safety-digits] li').map((li) => li.text());
    expect(groups).toHaveLength(12);
    expect(groups.join('')).toBe(DIGITS);
    await until(() => expect(wrapper.find('img[alt*="QR"]').attributes('src')).toMatch(/^data:image\/svg\+xml/));
    await wrapper.get('button.primary:not([type])').trigger('click');
    await until(() => expect(wrapper.find('[data-testid=verified-badge]').exists()).toBe(true));
    expect(bridge.callsOf('contacts.verify')).toEqual([{ contact: bob }]);
  });

  it('warns when a contact\'s identity key changed and blocks verifying until accepted', async () => {
    const { bridge, contacts } = contactsBridge();
    contacts[0]!.identityChanged = true;
    const wrapper = mountWithBridge(ContactsScreen, bridge);
    await until(() => expect(wrapper.findAll('[role=option]')).toHaveLength(1));
    await wrapper.get('[role=option]').trigger('keydown', { key: 'Enter' });
    await until(() => expect(wrapper.find('[data-testid=identity-changed-banner]').exists()).toBe(true));
    expect(wrapper.get('[data-testid=identity-changed-banner]').attributes('role')).toBe('alert');
    expect(wrapper.get('button.primary:not([type])').attributes('disabled')).toBeDefined();
    await wrapper.get('[data-testid=identity-changed-banner] button').trigger('click');
    await until(() => expect(wrapper.find('[data-testid=identity-changed-banner]').exists()).toBe(false));
  });

  it('shows why a safety number is not available yet', async () => {
    const { bridge } = contactsBridge();
    bridge.on('safetyNumber.get', () => {
      throw new BridgeError('contacts/identity-unknown', 'The identity key is not known yet.');
    });
    const wrapper = mountWithBridge(ContactsScreen, bridge);
    await until(() => expect(wrapper.findAll('[role=option]')).toHaveLength(1));
    await wrapper.get('[role=option]').trigger('click');
    await until(() => expect(wrapper.get('[data-testid=safety-error]').text()).toBe('The identity key is not known yet.'));
  });

  it('renders a hostile contact name as text', async () => {
    const { bridge, contacts } = contactsBridge();
    contacts[0]!.name = '<img src=x onerror="alert(1)">';
    const wrapper = mountWithBridge(ContactsScreen, bridge);
    await until(() => expect(wrapper.get('[role=option]').text()).toContain('<img src=x'));
    expect(wrapper.find('img[src=x]').exists()).toBe(false);
  });
});
