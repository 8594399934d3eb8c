// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { userIdFromPublicKey } from '@discordopus/sdk';
import type { MessageView } from '../../../common/client-api.ts';
import { expectAccessible } from '../../test-support/a11y.ts';
import { ScriptedBridge, mountWithBridge, until } from '../../test-support/scripted-bridge.ts';
import AppShell from '../shell/AppShell.vue';
import MessagingScreen from './MessagingScreen.vue';

const ME = userIdFromPublicKey(new Uint8Array(32).fill(1));
const BOB = userIdFromPublicKey(new Uint8Array(32).fill(2));
const CAROL = userIdFromPublicKey(new Uint8Array(32).fill(3));
const VIEW = { id: 'messaging.conversation', title: 'Conversation', location: 'conversation' as const, component: 'messaging.Conversation', ariaLabel: 'Messages with this contact' };
const HOSTILE = '<img src=x onerror="window.__pwned=1"> [x](javascript:alert(1)) javascript:alert(2) **bold** https://example.org/a';

let seq = 0;
function message(partial: Partial<MessageView> & { text: string | null }): MessageView {
  seq++;
  const id = seq.toString(16).padStart(32, '0');
  return {
    id, peer: BOB, direction: 'in', from: BOB, sentAt: 1_700_000_000_000 + seq * 1000, seq, status: 'received', deleted: false, reactions: [], cursor: `c${seq}`, ...partial,
  } as MessageView;
}

/** A small in-memory messaging backend behind the bridge's messaging.* methods. */
function messagingBridge(initial: MessageView[] = []) {
  const messages = [...initial];
  // Answers cross the bridge as JSON, so the component never shares objects with the backend.
  const handlers: Record<string, (params: any) => unknown> = {
    'contacts.list': () => [
      { userId: BOB, name: 'Bob', verified: true, identityChanged: false, presence: 'online', identityKey: 'bb'.repeat(32) },
      { userId: CAROL, name: 'Carol', verified: false, identityChanged: false, presence: 'offline' },
    ],
    'views.getModel': () => [{ peer: BOB, name: 'Bob', unread: messages.filter((m) => m.direction === 'in' && m.status === 'received').length, queued: 0, last: messages.at(-1) }],
    'messaging.history': (p: { contact: string; before?: string; limit?: number }) => {
      const list = messages.filter((m) => m.peer === p.contact);
      const end = p.before ? list.findIndex((m) => m.cursor === p.before) : list.length;
      const start = Math.max(0, end - (p.limit ?? 50));
      return { messages: list.slice(start, end), ...(start > 0 ? { before: list[start]!.cursor } : {}) };
    },
    'messaging.send': (p: { contact: string; text: string; replyTo?: string }) => {
      const m = message({ peer: p.contact as MessageView['peer'], direction: 'out', from: ME, text: p.text, status: 'queued', ...(p.replyTo ? { replyTo: p.replyTo } : {}) });
      messages.push(m);
      return m;
    },
    'messaging.edit': (p: { id: string; text: string }) => Object.assign(messages.find((m) => m.id === p.id)!, { text: p.text, editedAt: Date.now() }),
    'messaging.delete': (p: { id: string }) => Object.assign(messages.find((m) => m.id === p.id)!, { text: null, deleted: true }),
    'messaging.react': (p: { id: string; emoji: string; remove?: boolean }) => {
      const m = messages.find((x) => x.id === p.id)!;
      m.reactions = p.remove ? m.reactions.filter((r) => !(r.from === ME && r.emoji === p.emoji)) : [...m.reactions, { from: ME, emoji: p.emoji }];
      return { ...m };
    },
    'messaging.markRead': () => {
      let marked = 0;
      for (const m of messages) if (m.direction === 'in' && m.status === 'received') { m.status = 'read'; marked++; }
      return { marked };
    },
    'messaging.setTyping': () => ({}),
    'messaging.retry': (p: { id: string }) => Object.assign(messages.find((m) => m.id === p.id)!, { status: 'queued', error: undefined }),
    'messaging.search': (p: { query: string }) => messages.filter((m) => m.text?.includes(p.query)),
  };
  const bridge = new ScriptedBridge(Object.fromEntries(Object.entries(handlers).map(([method, handler]) => [method, (p: unknown) => JSON.parse(JSON.stringify(handler(p) ?? null))])));
  return { bridge, messages };
}

function mountScreen(bridge: ScriptedBridge) {
  return mountWithBridge(MessagingScreen, bridge, { props: { view: VIEW, loadModel: (id: string) => bridge.call('views.getModel', { id }), selfId: ME } });
}

async function openBob(wrapper: ReturnType<typeof mountScreen>) {
  await until(() => expect(wrapper.find(`li[data-peer="${BOB}"]`).exists()).toBe(true));
  await wrapper.get(`li[data-peer="${BOB}"]`).trigger('click');
  await until(() => expect(wrapper.find('[data-screen=conversation]').exists()).toBe(true));
}

let focused = true;
beforeEach(() => {
  focused = true;
  document.hasFocus = () => focused;
});
afterEach(() => {
  document.body.innerHTML = '';
});

describe('MessagingScreen', () => {
  it('is mounted by the shell for the messaging plugin\'s conversation view contribution', async () => {
    const { bridge } = messagingBridge();
    bridge.on('identity.get', () => ({ userId: ME, displayName: 'Me', publicKey: 'aa'.repeat(32) }))
      .on('host.settings.get', () => ({ serverUrl: '', stunServers: [], turnServers: [], theme: 'dark', notifications: true, hideNotificationText: false }))
      .on('plugins.list', () => [])
      .on('safetyNumber.get', () => ({ digits: '1'.repeat(60), groups: [], payload: 'AQ' }))
      .on('contributions.list', () => ({ commands: [], views: [VIEW, { ...VIEW, id: 'other.conv', component: 'other.Unknown' }], settings: [] }));
    const wrapper = mountWithBridge(AppShell, bridge, { props: { status: { profileName: 'p', exists: true, unlocked: true, userId: ME, displayName: 'Me' }, lock: async () => {} } });
    await until(() => expect(wrapper.find(`button[data-nav-view="${VIEW.id}"]`).exists()).toBe(true));
    // A conversation view without a renderer component gets no entry.
    expect(wrapper.find('button[data-nav-view="other.conv"]').exists()).toBe(false);
    const nav = wrapper.get(`button[data-nav-view="${VIEW.id}"]`);
    expect(nav.text()).toBe('Messages');
    await nav.trigger('click');
    await until(() => expect(wrapper.find(`[data-screen=messages][data-view-id="${VIEW.id}"]`).exists()).toBe(true));
    await until(() => expect(bridge.callsOf('views.getModel')).toContainEqual({ id: VIEW.id }));
    expect(nav.attributes('aria-current')).toBe('page');

    // From a contact's detail, "Message Bob" opens the conversation.
    await wrapper.findAll('nav button').find((b) => b.text() === 'Contacts')!.trigger('click');
    await until(() => expect(wrapper.find(`li[data-user-id="${BOB}"]`).exists()).toBe(true));
    await wrapper.get(`li[data-user-id="${BOB}"]`).trigger('click');
    await wrapper.get('[data-screen=contact-detail]').findAll('button').find((b) => b.text() === 'Message Bob')!.trigger('click');
    await until(() => expect(wrapper.find(`[data-screen=conversation][data-peer="${BOB}"]`).exists()).toBe(true));
  });

  it('lists conversations with unread counts and renders a hostile message as inert text', async () => {
    const { bridge } = messagingBridge([message({ text: 'hello' }), message({ text: HOSTILE })]);
    const wrapper = mountScreen(bridge);
    await until(() => expect(wrapper.find('[data-testid=unread-count]').exists()).toBe(true));
    expect(wrapper.get('[data-testid=unread-count]').text()).toBe('2');
    expect(wrapper.get('[data-testid=unread-count]').attributes('aria-label')).toBe('2 unread');
    // Contacts without messages are listed too, so a conversation can start.
    expect(wrapper.find(`li[data-peer="${CAROL}"]`).text()).toContain('No messages yet');
    await openBob(wrapper);
    await until(() => expect(wrapper.findAll('[data-testid=message-text]')).toHaveLength(2));
    const hostile = wrapper.findAll('[data-testid=message-text]')[1]!;
    expect(hostile.find('img').exists()).toBe(false);
    expect(hostile.text()).toContain('<img src=x onerror="window.__pwned=1">');
    expect(hostile.get('strong').text()).toBe('bold');
    const links = hostile.findAll('a');
    expect(links.map((a) => a.attributes('href'))).toEqual(['https://example.org/a']);
    expect(links[0]!.attributes('rel')).toBe('noopener noreferrer nofollow');
    expect(wrapper.html()).not.toContain('href="javascript:');
    expect((window as { __pwned?: number }).__pwned).toBeUndefined();
    expectAccessible(wrapper.element);
  });

  it('sends read receipts only while the window is focused, then clears the unread count', async () => {
    focused = false;
    const { bridge } = messagingBridge([message({ text: 'are you there?' })]);
    const wrapper = mountScreen(bridge);
    await openBob(wrapper);
    await until(() => expect(wrapper.findAll('[data-testid=message-text]')).toHaveLength(1));
    expect(bridge.callsOf('messaging.markRead')).toEqual([]);
    focused = true;
    window.dispatchEvent(new Event('focus'));
    await until(() => expect(bridge.callsOf('messaging.markRead')).toEqual([{ contact: BOB }]));
    await until(() => expect(wrapper.find('[data-testid=unread-count]').exists()).toBe(false));
  });

  it('sends with Enter, follows the status to "read", and retries a failed message', async () => {
    const failed = message({ direction: 'out', from: ME, text: 'lost one', status: 'failed', error: { code: 'messaging/identity-changed', message: 'Bob\'s key changed.' } });
    const { bridge } = messagingBridge([failed]);
    const wrapper = mountScreen(bridge);
    await openBob(wrapper);
    const composer = wrapper.get('textarea');
    expect(composer.attributes('aria-label')).toBe('Message Bob');
    await composer.setValue('hi *Bob*');
    await composer.trigger('keydown', { key: 'Enter' });
    await until(() => expect(bridge.callsOf('messaging.send')).toEqual([{ contact: BOB, text: 'hi *Bob*' }]));
    await until(() => expect(wrapper.findAll('article')).toHaveLength(2));
    const sent = wrapper.findAll('article')[1]!;
    expect(sent.get('[data-testid=message-status]').text()).toBe('Queued');
    expect(sent.get('em').text()).toBe('Bob');
    expect((composer.element as HTMLTextAreaElement).value).toBe('');
    const id = sent.attributes('data-message-id')!;
    for (const status of ['sent', 'delivered', 'read']) {
      bridge.emit({ topic: 'messaging.changed', payload: { kind: 'status', peer: BOB, id, status } });
      await until(() => expect(wrapper.get(`[data-message-id="${id}"] [data-testid=message-status]`).attributes('data-status')).toBe(status));
    }
    expect(wrapper.get(`[data-message-id="${id}"] [data-testid=message-status]`).text()).toBe('Read');
    const lost = wrapper.get(`[data-message-id="${failed.id}"]`);
    expect(lost.text()).toContain('Bob\'s key changed.');
    await lost.findAll('button').find((b) => b.text() === 'Retry')!.trigger('click');
    await until(() => expect(wrapper.get(`[data-message-id="${failed.id}"] [data-testid=message-status]`).text()).toBe('Queued'));
  });

  it('replies, edits with ArrowUp, deletes after a confirmation and toggles a reaction', async () => {
    const first = message({ text: 'question?' });
    const { bridge } = messagingBridge([first]);
    const wrapper = mountScreen(bridge);
    await openBob(wrapper);
    const buttonOf = (id: string, label: string) => wrapper.get(`[data-message-id="${id}"]`).findAll('button').find((b) => b.text() === label)!;
    await buttonOf(first.id, 'Reply').trigger('click');
    expect(wrapper.get('[data-testid=compose-context]').text()).toContain('question?');
    const composer = wrapper.get('textarea');
    await composer.setValue('answer');
    await wrapper.get('form[aria-label="Write a message"]').trigger('submit');
    await until(() => expect(bridge.callsOf('messaging.send')).toEqual([{ contact: BOB, text: 'answer', replyTo: first.id }]));
    await until(() => expect(wrapper.find('[data-testid=reply-quote]').exists()).toBe(true));
    expect(wrapper.get('[data-testid=reply-quote]').text()).toContain('question?');
    const answerId = wrapper.findAll('article').at(-1)!.attributes('data-message-id')!;

    await composer.trigger('keydown', { key: 'ArrowUp' });
    expect((composer.element as HTMLTextAreaElement).value).toBe('answer');
    await composer.setValue('better answer');
    await composer.trigger('keydown', { key: 'Enter' });
    await until(() => expect(bridge.callsOf('messaging.edit')).toEqual([{ id: answerId, text: 'better answer' }]));
    await until(() => expect(wrapper.get(`[data-message-id="${answerId}"]`).text()).toContain('(edited)'));

    await buttonOf(first.id, 'React').trigger('click');
    await wrapper.get('button[aria-label="React with 👍"]').trigger('click');
    await until(() => expect(wrapper.find('button[aria-label="👍 1, including you"]').exists()).toBe(true));
    expect(wrapper.get('button[aria-label="👍 1, including you"]').attributes('aria-pressed')).toBe('true');
    await wrapper.get('button[aria-label="👍 1, including you"]').trigger('click');
    await until(() => expect(bridge.callsOf('messaging.react')).toEqual([{ id: first.id, emoji: '👍' }, { id: first.id, emoji: '👍', remove: true }]));

    await buttonOf(answerId, 'Delete').trigger('click');
    expect(bridge.callsOf('messaging.delete')).toEqual([]);
    await buttonOf(answerId, 'Delete for both').trigger('click');
    await until(() => expect(wrapper.get(`[data-message-id="${answerId}"]`).text()).toContain('This message was deleted.'));
    expect(bridge.callsOf('messaging.delete')).toEqual([{ id: answerId }]);
  });

  it('shows live messages and the typing indicator, and tells the peer when the user types', async () => {
    const { bridge } = messagingBridge();
    const wrapper = mountScreen(bridge);
    await openBob(wrapper);
    bridge.emit({ topic: 'messaging.changed', payload: { kind: 'typing', peer: BOB, typing: true } });
    await until(() => expect(wrapper.get('[data-testid=typing-indicator]').text()).toBe('Bob is typing…'));
    bridge.emit({ topic: 'messaging.changed', payload: { kind: 'typing', peer: CAROL, typing: false } });
    bridge.emit({ topic: 'messaging.changed', payload: { kind: 'message', message: message({ text: 'live!' }) } });
    await until(() => expect(wrapper.text()).toContain('live!'));
    expect(wrapper.get('[data-testid=typing-indicator]').text()).toBe('');
    // Another conversation's message does not land here.
    bridge.emit({ topic: 'messaging.changed', payload: { kind: 'message', message: message({ peer: CAROL, from: CAROL, text: 'not for this view' }) } });
    await wrapper.get('textarea').setValue('h');
    await wrapper.get('textarea').trigger('input');
    await until(() => expect(bridge.callsOf('messaging.setTyping')).toEqual([{ contact: BOB, typing: true }]));
    expect(wrapper.text()).not.toContain('not for this view');
  });

  it('loads older pages on demand and searches the conversation', async () => {
    const history = Array.from({ length: 120 }, (_, i) => message({ text: `message number ${i}` }));
    const { bridge } = messagingBridge(history);
    const wrapper = mountScreen(bridge);
    await openBob(wrapper);
    await until(() => expect(wrapper.findAll('article')).toHaveLength(50));
    expect(wrapper.findAll('article')[0]!.text()).toContain('message number 70');
    await wrapper.get('button.older').trigger('click');
    await until(() => expect(wrapper.findAll('article')).toHaveLength(100));
    // Scrolling to the top loads the rest.
    const log = wrapper.get('[data-testid=message-log]');
    (log.element as HTMLElement).scrollTop = 0;
    await log.trigger('scroll');
    await until(() => expect(wrapper.findAll('article')).toHaveLength(120));
    expect(wrapper.find('button.older').exists()).toBe(false);
    expect(bridge.callsOf('messaging.history')).toEqual([
      { contact: BOB, limit: 50 }, { contact: BOB, before: history[70]!.cursor, limit: 50 }, { contact: BOB, before: history[20]!.cursor, limit: 50 },
    ]);

    await wrapper.get('#conversation-search').setValue('number 7');
    await wrapper.get('form[role=search]').trigger('submit');
    await until(() => expect(wrapper.find('[data-testid=search-results]').exists()).toBe(true));
    expect(wrapper.get('[data-testid=search-results] h3').text()).toBe('11 matches');
  });

  it('sends a file dropped on the conversation to that contact', async () => {
    const { bridge } = messagingBridge();
    bridge.on('host.files.stageBegin', () => ({ uploadId: 'b'.repeat(32) }))
      .on('host.files.stageChunk', () => ({ received: 5 }))
      .on('host.files.stageSend', () => ({ transferId: 'c'.repeat(32) }));
    const wrapper = mountScreen(bridge);
    await openBob(wrapper);
    const drop = new Event('drop', { bubbles: true, cancelable: true });
    Object.defineProperty(drop, 'dataTransfer', { value: { files: [new File(['hello'], 'note.txt')] } });
    wrapper.get('[data-screen=conversation]').element.dispatchEvent(drop);
    await until(() => expect(bridge.callsOf('host.files.stageSend')).toEqual([{ uploadId: 'b'.repeat(32), contact: BOB }]));
    await until(() => expect(wrapper.get('[data-testid=file-note]').text()).toBe('Offered note.txt to Bob; see Transfers for the progress.'));
    expect(bridge.callsOf('host.files.stageBegin')).toEqual([{ name: 'note.txt', size: 5 }]);
  });

  it('moves between messages with the arrow keys, one tab stop for the whole log', async () => {
    const { bridge } = messagingBridge([message({ text: 'one' }), message({ text: 'two' }), message({ text: 'three' })]);
    const wrapper = mountScreen(bridge);
    await openBob(wrapper);
    await until(() => expect(wrapper.findAll('article')).toHaveLength(3));
    const tabStops = () => wrapper.findAll('article').filter((a) => a.attributes('tabindex') === '0');
    expect(tabStops().map((a) => a.text())).toEqual([expect.stringContaining('three')]);
    (tabStops()[0]!.element as HTMLElement).focus();
    await tabStops()[0]!.trigger('keydown', { key: 'ArrowUp' });
    await until(() => expect(tabStops().map((a) => a.text())).toEqual([expect.stringContaining('two')]));
    await until(() => expect(document.activeElement?.textContent).toContain('two'));
    await tabStops()[0]!.trigger('keydown', { key: 'Home' });
    await until(() => expect(tabStops().map((a) => a.text())).toEqual([expect.stringContaining('one')]));
    // Buttons of inactive messages are out of the tab order too.
    expect(wrapper.findAll('article')[2]!.findAll('button').every((b) => b.attributes('tabindex') === '-1')).toBe(true);
    await wrapper.findAll('article')[0]!.findAll('button').find((b) => b.text() === 'React')!.trigger('click');
    expectAccessible(wrapper.element);
  });
});
