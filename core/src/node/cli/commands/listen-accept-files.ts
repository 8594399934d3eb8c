import type { Disposable, UserId } from '@discordopus/sdk';
import type { Transfer } from '@discordopus/plugin-files';
import type { DiscordOpusClient } from '../../client/create-client.ts';
import { filesOf } from './files-client.ts';

/** The `{"type":"file",...}` line `listen --accept-files` prints per verified file. */
export interface FileEvent {
  type: 'file';
  from: UserId;
  name: string;
  path: string;
  size: number;
}

/**
 * `listen --accept-files DIR`: accepts every incoming offer (channels only carry contacts'
 * records) into `dir`, including offers that arrived before, and reports each file once the
 * whole-file hash is verified and it has its final name. Transfers stopped by a full disk or an
 * unwritable folder in an earlier run are resumed (into the folder they started in).
 */
export async function acceptFilesInto(client: DiscordOpusClient, dir: string, print: (event: FileEvent) => void): Promise<Disposable> {
  const files = filesOf(client);
  const accept = (t: Transfer) => {
    if (t.direction !== 'in' || t.state !== 'offered') return;
    files.accept(t.id, dir).catch((error: unknown) => process.stderr.write(`could not accept ${t.name}: ${error instanceof Error ? error.message : String(error)}\n`));
  };
  const sub = files.onDidChange((t) => {
    accept(t);
    if (t.direction === 'in' && t.state === 'completed' && t.path) print({ type: 'file', from: t.peer, name: t.name, path: t.path, size: t.size });
    if (t.direction === 'in' && t.state === 'failed') process.stderr.write(`could not receive ${t.name}: ${t.error?.message ?? 'unknown error'}\n`);
  });
  for (const t of await files.list()) {
    accept(t);
    // Stopped on a full disk or an unwritable folder last time: the user restarted us to retry.
    if (t.direction === 'in' && t.state === 'failed' && (t.error?.code === 'files/disk-full' || t.error?.code === 'files/target-unwritable')) {
      files.accept(t.id).catch((error: unknown) => process.stderr.write(`could not resume ${t.name}: ${error instanceof Error ? error.message : String(error)}\n`));
    }
  }
  return sub;
}
