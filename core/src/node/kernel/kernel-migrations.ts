import type { Kysely } from 'kysely';
import type { PluginMigration } from '@discordopus/sdk';

/**
 * The kernel's own tables, run with owner `kernel`. Other kernel parts (identity, contacts)
 * run their own lists under the same owner, so ids carry the table name to stay unique.
 */
export const kernelMigrations: readonly PluginMigration[] = [
  {
    id: '0010-kernel-settings',
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('kernel_settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .execute();
    },
  },
];
