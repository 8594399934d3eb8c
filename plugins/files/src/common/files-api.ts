import type { Event, UserId } from '@discordopus/sdk';

/** Where a transfer is in its life. Terminal: completed, failed (unless resumable), cancelled, declined. */
export type TransferState =
  | 'offered' | 'waiting' | 'transferring' | 'paused' | 'verifying' | 'completed' | 'failed' | 'cancelled' | 'declined';

/** One file transfer as the UI, the CLI and the daemon see it (payload of the `files.transfer` topic). */
export interface Transfer {
  /** 16 random bytes as 32 hex digits, the same on both sides. */
  id: string;
  peer: UserId;
  direction: 'in' | 'out';
  /** The sanitised file name (incoming) or the source's base name (outgoing). */
  name: string;
  size: number;
  mime: string;
  /** Bytes the receiver has verified and written. */
  bytes: number;
  rateBytesPerS: number;
  /** Estimated time left; 0 when unknown or done. */
  etaMs: number;
  state: TransferState;
  /** Incoming: the final path once completed. Outgoing: the source path. */
  path?: string;
  error?: { code: string; message: string };
}

/** The API the files plugin returns from `activate` (`client.kernel.pluginApi<FilesApi>('files')`). */
export interface FilesApi {
  /**
   * Offers the file at `path` to a contact; resolves once the offer is stored (it is delivered
   * when the contact is reachable).
   * @throws AppError `files/not-found`, `files/not-a-file`, `files/unreadable`, `contacts/not-found`
   */
  send(contact: string, path: string): Promise<{ transferId: string }>;
  /** Every known transfer, newest first. */
  list(): Promise<Transfer[]>;
  get(transferId: string): Promise<Transfer | undefined>;
  /**
   * Accepts an incoming offer into `dir` (default: the `files.downloadDir` setting). Also
   * resumes an incoming transfer that failed on a disk error once the cause is fixed.
   * @throws AppError `files/unknown-transfer`, `files/invalid-state`, `files/target-unwritable`
   */
  accept(transferId: string, dir?: string): Promise<Transfer>;
  decline(transferId: string): Promise<Transfer>;
  /** Cancels a transfer in either direction; the peer is told, a partial file is deleted. */
  cancel(transferId: string): Promise<Transfer>;
  /** Fires on every state change and at most ~4 times a second per transfer with progress. */
  readonly onDidChange: Event<Transfer>;
}
