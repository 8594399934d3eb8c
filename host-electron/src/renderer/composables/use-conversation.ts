import { ref, shallowRef, type Ref } from 'vue';
import { MESSAGING_CHANGED_TOPIC, type MessageView, type MessagingChange } from '../../common/client-api.ts';
import { errorText } from './error-text.ts';
import { useBridgeEvent } from './use-bridge-event.ts';
import { useClientApi } from './use-client-api.ts';

const PAGE_SIZE = 50;
// The peer's plugin clears "typing" after 8 s unless repeated, so repeating every 3 s keeps it up.
const TYPING_REPEAT_MS = 3_000;

/**
 * One conversation: its history paged from the newest end, kept live by `messaging.changed`
 * events (new messages, status, edits, deletes, reactions, typing), and the actions on it.
 */
export function useConversation(peer: Ref<string | undefined>, selfId: Ref<string>) {
  const api = useClientApi();
  const messages = ref<MessageView[]>([]);
  const older = shallowRef<string | undefined>();
  const loading = ref(false);
  const loadingOlder = ref(false);
  const error = ref<string | undefined>();
  const peerTyping = ref(false);
  let generation = 0;
  let typingSentAt = 0;
  let marking = false;

  async function open(): Promise<void> {
    const current = peer.value;
    const mine = ++generation;
    messages.value = [];
    older.value = undefined;
    peerTyping.value = false;
    error.value = undefined;
    if (!current) return;
    loading.value = true;
    try {
      const page = await api.history(current, { limit: PAGE_SIZE });
      if (mine !== generation) return;
      messages.value = page.messages;
      older.value = page.before;
    } catch (e) {
      if (mine === generation) error.value = errorText(e);
    } finally {
      if (mine === generation) loading.value = false;
    }
  }

  /** Prepends the previous page; resolves to how many messages came. */
  async function loadOlder(): Promise<number> {
    const current = peer.value;
    const before = older.value;
    if (!current || !before || loadingOlder.value) return 0;
    const mine = generation;
    loadingOlder.value = true;
    try {
      const page = await api.history(current, { before, limit: PAGE_SIZE });
      if (mine !== generation) return 0;
      const known = new Set(messages.value.map((m) => m.id));
      const fresh = page.messages.filter((m) => !known.has(m.id));
      messages.value = [...fresh, ...messages.value];
      older.value = page.before;
      return fresh.length;
    } catch (e) {
      error.value = errorText(e);
      return 0;
    } finally {
      loadingOlder.value = false;
    }
  }

  function upsert(message: MessageView): void {
    if (message.peer !== peer.value) return;
    const index = messages.value.findIndex((m) => m.id === message.id);
    if (index >= 0) messages.value.splice(index, 1, message);
    else messages.value.push(message);
  }

  useBridgeEvent([MESSAGING_CHANGED_TOPIC], (event) => {
    const change = event.payload as MessagingChange | undefined;
    if (!change || typeof change !== 'object') return;
    switch (change.kind) {
      case 'message':
      case 'updated':
        if (change.message && typeof change.message === 'object') {
          if (change.kind === 'message' && change.message.direction === 'in' && change.message.peer === peer.value) peerTyping.value = false;
          upsert(change.message);
        }
        break;
      case 'status': {
        const target = messages.value.find((m) => m.id === change.id && m.peer === change.peer);
        if (target) {
          target.status = change.status;
          if (change.error) target.error = change.error;
          else delete target.error;
        }
        break;
      }
      case 'typing':
        if (change.peer === peer.value) peerTyping.value = change.typing === true;
        break;
    }
  });

  async function run<T>(action: () => Promise<T>): Promise<T | undefined> {
    error.value = undefined;
    try {
      return await action();
    } catch (e) {
      error.value = errorText(e);
      return undefined;
    }
  }

  return {
    messages,
    hasOlder: () => older.value !== undefined,
    loading,
    loadingOlder,
    error,
    peerTyping,
    open,
    loadOlder,
    async send(text: string, replyTo?: string): Promise<boolean> {
      const current = peer.value;
      if (!current) return false;
      const sent = await run(() => api.sendMessage(current, text, replyTo));
      if (sent) upsert(sent);
      if (typingSentAt !== 0) {
        typingSentAt = 0;
        void api.setTyping(current, false).catch(() => undefined);
      }
      return sent !== undefined;
    },
    async edit(id: string, text: string): Promise<boolean> {
      const edited = await run(() => api.editMessage(id, text));
      if (edited) upsert(edited);
      return edited !== undefined;
    },
    async remove(id: string): Promise<void> {
      const deleted = await run(() => api.deleteMessage(id));
      if (deleted) upsert(deleted);
    },
    /** Adds the emoji, or takes it back when it is already one of mine. */
    async toggleReaction(id: string, emoji: string): Promise<void> {
      const message = messages.value.find((m) => m.id === id);
      const mine = message?.reactions.some((r) => r.emoji === emoji && r.from === selfId.value) ?? false;
      const updated = await run(() => api.react(id, emoji, mine));
      if (updated) upsert(updated);
    },
    async retry(id: string): Promise<void> {
      const updated = await run(() => api.retryMessage(id));
      if (updated) upsert(updated);
    },
    /** Sends read receipts for what is shown; called while the conversation is visible and focused. */
    async markRead(): Promise<void> {
      const current = peer.value;
      const unread = messages.value.filter((m) => m.direction === 'in' && m.status === 'received');
      if (!current || unread.length === 0 || marking) return;
      marking = true;
      try {
        await api.markRead(current);
        for (const m of unread) m.status = 'read';
      } catch (e) {
        error.value = errorText(e);
      } finally {
        marking = false;
      }
    },
    /** Tells the peer the user is typing, at most every few seconds; `false` once the draft is empty. */
    typing(active: boolean): void {
      const current = peer.value;
      if (!current) return;
      const now = Date.now();
      if (active && now - typingSentAt < TYPING_REPEAT_MS) return;
      if (!active && typingSentAt === 0) return;
      typingSentAt = active ? now : 0;
      void api.setTyping(current, active).catch(() => undefined);
    },
    async search(query: string): Promise<MessageView[] | undefined> {
      const current = peer.value;
      return run(() => api.searchMessages(query, current));
    },
  };
}
