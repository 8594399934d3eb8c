import { definePlugin } from '@discordopus/sdk';
import type { MessagingApi } from '../common/messaging-api.ts';
import { messagingMigrations } from './messaging-migrations.ts';
import { MessagingService, type MessagingServiceOptions } from './messaging-service.ts';

const SEND_COMMAND = { id: 'messaging.send', title: 'Send a message', category: 'Messaging' };
const CONVERSATION_VIEW = {
  id: 'messaging.conversation', title: 'Conversation', location: 'conversation' as const, component: 'messaging.Conversation',
  ariaLabel: 'Messages with this contact',
};
const READ_RECEIPTS = {
  key: 'messaging.sendReadReceipts', title: 'Send read receipts', type: 'boolean' as const, default: true,
  description: 'Let contacts see when you have read their messages.',
};

/** Builds the messaging plugin; tests pass a clock or shorter timeouts. */
export function createMessagingPlugin(options: MessagingServiceOptions = {}) {
  let service: MessagingService | undefined;
  return definePlugin<MessagingApi>({
    id: 'messaging',
    version: '0.1.0',
    displayName: 'Messaging',
    description: 'End-to-end encrypted 1:1 text: outbox, receipts, replies, edits, reactions, history and search.',
    engines: { sdk: '^0.1.0' },
    permissions: { contacts: true, peers: true },
    contributes: { commands: [SEND_COMMAND], views: [CONVERSATION_VIEW], settings: [READ_RECEIPTS] },
    migrations: messagingMigrations,
    activate(ctx) {
      const messaging = new MessagingService(ctx, options);
      service = messaging;
      ctx.subscriptions.push(messaging);
      ctx.subscriptions.push(ctx.ui.registerCommand(SEND_COMMAND, async (to, text) => {
        if (typeof to !== 'string' || typeof text !== 'string') throw new TypeError('messaging.send: expected (userIdOrName: string, text: string)');
        return messaging.sendText(to, text);
      }));
      // The shell renders the conversation list; the component pages history through the API.
      ctx.subscriptions.push(ctx.ui.registerView(CONVERSATION_VIEW, () => messaging.conversations()));
      messaging.start();
      return messaging;
    },
    async deactivate() {
      await service?.stop();
      service = undefined;
    },
  });
}

/** The first-party messaging plugin. */
export const messagingPlugin = createMessagingPlugin();
