import type { PluginDefinition } from '@discordopus/sdk';
import { createMessagingPlugin } from '@discordopus/plugin-messaging';
import { createFilesPlugin } from '@discordopus/plugin-files';
// Not the package root: that also brings the werift engine, which the plugin imports on the first call.
import { createCallsPlugin, type CreateCallsPluginOptions } from '@discordopus/plugin-calls/plugin';

/** Per-run options of first-party plugins (the CLI's `call --send/--record`, `listen --answer-calls`). */
export interface FirstPartyPluginOptions {
  calls?: CreateCallsPluginOptions;
}

/**
 * The plugins that ship with DiscordOpus, in a fresh instance per call (so two clients in one
 * process never share plugin state).
 */
export function firstPartyPlugins(options: FirstPartyPluginOptions = {}): PluginDefinition[] {
  return [createMessagingPlugin() as PluginDefinition, createFilesPlugin() as PluginDefinition, createCallsPlugin(options.calls) as PluginDefinition];
}
