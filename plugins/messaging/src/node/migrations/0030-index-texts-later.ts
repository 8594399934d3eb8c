import type { Kysely } from 'kysely';
import { updateFtsTriggers } from '@discordopus/sdk';
import { MESSAGES_FTS } from '../messaging-store.ts';

/**
 * New messages wait for the full-text index and are indexed in batches; status changes (sent,
 * delivered, read) no longer rewrite a message's index entries. What was indexed stays so.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await updateFtsTriggers(db, MESSAGES_FTS);
}
