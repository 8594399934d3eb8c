import type { Kysely } from 'kysely';
import type { UserId } from '@discordopus/sdk';
import type { TransferState } from '../common/files-api.ts';

/** Control records a side may owe its peer until the peer's kernel confirms receipt. */
export type Notice = 'offer' | 'resume' | 'cancel' | 'decline' | 'verified' | 'failed';

export interface TransferRow {
  id: string;
  peer: UserId;
  direction: 'in' | 'out';
  name: string;
  size: number;
  mime: string;
  sha256: string;
  file_key: string;
  chunk_size: number;
  state: TransferState;
  source_path: string | null;
  source_mtime: number | null;
  dir: string | null;
  part_path: string | null;
  final_path: string | null;
  bytes: number;
  error_code: string | null;
  error_message: string | null;
  notice: Notice | null;
  created_at: number;
}

interface Tables {
  files_transfers: TransferRow;
}

/** The transfers table, mirrored in memory (a profile holds at most a few thousand transfers). */
export class TransferStore {
  private readonly rows = new Map<string, TransferRow>();

  constructor(private readonly db: Kysely<Tables>) {}

  async load(): Promise<TransferRow[]> {
    const rows = await this.db.selectFrom('files_transfers').selectAll().orderBy('created_at', 'desc').execute();
    for (const row of rows) this.rows.set(row.id, row);
    return rows;
  }

  get(id: string): TransferRow | undefined {
    return this.rows.get(id);
  }

  all(): TransferRow[] {
    return [...this.rows.values()].sort((a, b) => b.created_at - a.created_at);
  }

  async insert(row: TransferRow): Promise<void> {
    await this.db.insertInto('files_transfers').values(row).execute();
    this.rows.set(row.id, row);
  }

  /** Applies `patch` in memory and on disk; returns the updated row. */
  async update(id: string, patch: Partial<Omit<TransferRow, 'id'>>): Promise<TransferRow> {
    const row = this.rows.get(id);
    if (!row) throw new RangeError(`TransferStore.update: unknown transfer ${id}`);
    Object.assign(row, patch);
    await this.db.updateTable('files_transfers').set(patch).where('id', '=', id).execute();
    return row;
  }
}
