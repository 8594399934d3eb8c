import type { Command } from 'commander';
import type { PluginDefinition } from '@discordopus/sdk';
import type { DiscordOpusClient } from '../../client/create-client.ts';

/** Options every command sees (`--profile`, `--server`, `--json`). */
export interface GlobalOptions {
  profile: string;
  server?: string;
  json?: boolean;
}

/** What main.ts hands a command module's `register`. */
export interface CommandContext {
  /** A subcommand with the CLI's error handling. */
  sub(parent: Command, spec: string, description: string): Command;
  /** The command's options merged with the global ones. */
  globals(command: Command): GlobalOptions & Record<string, unknown>;
  /** Opens the --profile (passphrase from DISCORDOPUS_PASSPHRASE or a prompt), runs `fn`, closes it. */
  withClient(
    g: GlobalOptions,
    options: { connectSignaling?: boolean; plugins?: PluginDefinition[] },
    fn: (client: DiscordOpusClient) => Promise<void>,
  ): Promise<void>;
}
