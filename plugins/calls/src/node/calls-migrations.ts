import type { PluginMigration } from '@discordopus/sdk';
import { up as createCallLog } from './migrations/0010-create-call-log.ts';

/** The registry: one step per file, in order. Never edit a released step; add one. */
export const callsMigrations: PluginMigration[] = [
  { id: '0010-create-call-log', up: createCallLog },
];
