import { ref } from 'vue';
import { MESSAGING_CHANGED_TOPIC, type ConversationView, type MessagingChange } from '../../common/client-api.ts';
import { errorText } from './error-text.ts';
import { useBridgeEvent } from './use-bridge-event.ts';

/**
 * The conversation list (last message, unread and queued counts) from the messaging view's
 * model, re-read when a message arrives or changes state. Reads never overlap: a change during
 * a read triggers one more.
 */
export function useConversations(loadModel: () => Promise<unknown>) {
  const conversations = ref<ConversationView[]>([]);
  const error = ref<string | undefined>();
  let running: Promise<void> | undefined;
  let again = false;

  async function read(): Promise<void> {
    try {
      const model = await loadModel();
      conversations.value = Array.isArray(model) ? (model as ConversationView[]).filter((c) => c && typeof c.peer === 'string') : [];
      error.value = undefined;
    } catch (e) {
      error.value = errorText(e);
    }
  }

  function refresh(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await read();
      } while (again);
      running = undefined;
    })();
    return running;
  }

  useBridgeEvent([MESSAGING_CHANGED_TOPIC], (event) => {
    const kind = (event.payload as MessagingChange | undefined)?.kind;
    if (kind === 'message' || kind === 'status' || kind === 'updated') void refresh();
  });
  useBridgeEvent(['contacts.changed'], () => void refresh());

  return { conversations, error, refresh };
}
