import type { PluginDefinition } from '@discordopus/sdk';
import { createMessagingPlugin } from '@discordopus/plugin-messaging';

/**
 * The plugins that ship with DiscordOpus, in a fresh instance per call (so two clients in one
 * process never share plugin state).
 */
export function firstPartyPlugins(): PluginDefinition[] {
  return [createMessagingPlugin() as PluginDefinition];
}
