import type { PluginMigration } from '@discordopus/sdk';
import { up as createMessages } from './migrations/0010-create-messages.ts';
import { up as createOutbox } from './migrations/0020-create-outbox.ts';
import { up as indexTextsLater } from './migrations/0030-index-texts-later.ts';

/** The registry: one step per file, in order. Never edit a released step; add one. */
export const messagingMigrations: PluginMigration[] = [
  { id: '0010-create-messages', up: createMessages },
  { id: '0020-create-outbox', up: createOutbox },
  { id: '0030-index-texts-later', up: indexTextsLater },
];
