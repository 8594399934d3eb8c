import { z } from 'zod';
import { MAX_REACTION_LENGTH, MAX_TEXT_LENGTH } from '@discordopus/plugin-messaging';
import type { DiscordOpusClient } from '../client/create-client.ts';
import { messagingOf } from '../cli/commands/messaging-client.ts';
import { rpcMethod, type RpcMethodTable } from './rpc-server.ts';

/*
 * The messaging plugin's API as JSON-RPC methods (`messaging.*`). Incoming messages and status
 * changes reach daemon clients through `subscribe` with the topics `messaging.received` and
 * `messaging.status`. The plugin is looked up per call, so a profile where it failed answers
 * `messaging/unavailable` instead of not starting.
 */

const contactRef = z.string().trim().min(1).max(200);
const messageId = z.string().regex(/^[0-9a-f]{32}$/, 'expected a message id of 32 hex digits');
const text = z.string().min(1).max(MAX_TEXT_LENGTH);
const limit = z.number().int().min(1).max(500).optional();

export function messagingRpcMethods(client: DiscordOpusClient): RpcMethodTable {
  const api = () => messagingOf(client);
  return {
    'messaging.send': rpcMethod(z.strictObject({ contact: contactRef, text, replyTo: messageId.optional() }),
      ({ contact, text: body, replyTo }) => api().sendText(contact, body, replyTo ? { replyTo } : {})),
    'messaging.edit': rpcMethod(z.strictObject({ id: messageId, text }), ({ id, text: body }) => api().edit(id, body)),
    'messaging.delete': rpcMethod(z.strictObject({ id: messageId }), ({ id }) => api().delete(id)),
    'messaging.react': rpcMethod(z.strictObject({ id: messageId, emoji: z.string().min(1).max(MAX_REACTION_LENGTH), remove: z.boolean().optional() }),
      ({ id, emoji, remove }) => api().react(id, emoji, { remove: remove ?? false })),
    'messaging.markRead': rpcMethod(z.strictObject({ contact: contactRef, upTo: messageId.optional() }),
      async ({ contact, upTo }) => ({ marked: await api().markRead(contact, upTo) })),
    'messaging.setTyping': rpcMethod(z.strictObject({ contact: contactRef, typing: z.boolean() }),
      async ({ contact, typing }) => { await api().setTyping(contact, typing); return {}; }),
    'messaging.history': rpcMethod(z.strictObject({ contact: contactRef, before: z.string().max(100).optional(), limit }),
      ({ contact, before, limit: n }) => api().history(contact, { ...(before ? { before } : {}), ...(n ? { limit: n } : {}) })),
    'messaging.search': rpcMethod(z.strictObject({ query: z.string().max(500), contact: contactRef.optional(), limit }),
      ({ query, contact, limit: n }) => api().search(query, { ...(contact ? { peer: contact } : {}), ...(n ? { limit: n } : {}) })),
    'messaging.conversations': rpcMethod(z.strictObject({}), () => api().conversations()),
    'messaging.message': rpcMethod(z.strictObject({ id: messageId }), async ({ id }) => (await api().message(id)) ?? null),
    'messaging.retry': rpcMethod(z.strictObject({ id: messageId }), ({ id }) => api().retry(id)),
  };
}
