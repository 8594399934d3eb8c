import { AppError } from '@discordopus/sdk';
import type { MessagingApi } from '@discordopus/plugin-messaging';
import type { DiscordOpusClient } from '../../client/create-client.ts';

/** The running messaging plugin's API. @throws AppError `messaging/unavailable` when it did not start. */
export function messagingOf(client: DiscordOpusClient): MessagingApi {
  const api = client.kernel.pluginApi<MessagingApi>('messaging');
  if (api) return api;
  const status = client.kernel.plugins().find((p) => p.id === 'messaging');
  const why = status?.error ? `${status.error.code}: ${status.error.message}` : status ? `it is ${status.state}` : 'it is not installed';
  throw new AppError('messaging/unavailable', `Messaging is not available in this profile (${why}).`);
}
