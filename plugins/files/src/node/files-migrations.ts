import type { PluginMigration } from '@discordopus/sdk';
import { up as createTransfers } from './migrations/0010-create-transfers.ts';

/** The registry: one step per file, in order. Never edit a released step; add one. */
export const filesMigrations: PluginMigration[] = [
  { id: '0010-create-transfers', up: createTransfers },
];
