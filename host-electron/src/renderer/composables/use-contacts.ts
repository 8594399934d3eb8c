import { ref } from 'vue';
import type { ContactView } from '../../common/client-api.ts';
import { errorText } from './error-text.ts';
import { useBridgeEvent } from './use-bridge-event.ts';
import { useClientApi } from './use-client-api.ts';

/** The contact list with live presence; re-read whenever the host reports a change. */
export function useContacts() {
  const api = useClientApi();
  const contacts = ref<ContactView[]>([]);
  const error = ref<string | undefined>();
  const loaded = ref(false);

  async function refresh(): Promise<void> {
    try {
      contacts.value = await api.contacts();
      error.value = undefined;
    } catch (e) {
      error.value = errorText(e);
    } finally {
      loaded.value = true;
    }
  }

  useBridgeEvent(['contacts.changed', 'contacts.removed', 'identity.changed'], () => void refresh());
  useBridgeEvent(['presence.changed'], (event) => {
    const { userId, presence } = (event.payload ?? {}) as { userId?: string; presence?: ContactView['presence'] };
    const contact = contacts.value.find((c) => c.userId === userId);
    if (contact && (presence === 'online' || presence === 'offline' || presence === 'unknown')) contact.presence = presence;
  });

  return {
    contacts,
    error,
    loaded,
    refresh,
    async add(userId: string, options: { name?: string | undefined; identityKey?: string | undefined } = {}): Promise<void> {
      await api.addContact(userId, options);
      await refresh();
    },
    async verify(userId: string): Promise<void> {
      await api.verifyContact(userId);
      await refresh();
    },
    async acceptIdentityChange(userId: string): Promise<void> {
      await api.acceptIdentityChange(userId);
      await refresh();
    },
  };
}
