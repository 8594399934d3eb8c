import type { Hash } from 'node:crypto';
import type { Disposable, PeerStream } from '@discordopus/sdk';
import {
  FrameType, ProtocolRejected, chunkCount, chunkLength, decodeFrame, encodeAck, type StartFrame,
} from '../common/files-protocol.ts';
import type { ChunkCipher } from './chunk-cipher.ts';
import type { FileHandleLike } from './files-fs.ts';
import type { TransferRow } from './transfer-store.ts';

/** What the service hands a session once it accepted the stream's start frame. */
export interface Admission {
  row: TransferRow;
  /** The partial file, open for writing, already cut to `next` whole chunks. */
  handle: FileHandleLike;
  /** SHA-256 over the partial file's first `next` chunks. */
  hash: Hash;
  cipher: ChunkCipher;
  next: number;
}

export interface ReceiveHooks {
  /** Checks a start frame (transfer, peer, state, resume point); undefined closes the stream. */
  admit(start: StartFrame, stream: PeerStream): Promise<Admission | undefined>;
  /** Chunks below `next` are verified and written. */
  progress(row: TransferRow, next: number): void;
  /** Every chunk arrived; the handle is closed; `digest` is the whole file's SHA-256 (hex). */
  finished(row: TransferRow, digest: string): Promise<void>;
  /** A chunk did not open or had the wrong length: a hostile or broken sender. */
  rejected(row: TransferRow, detail: string): Promise<void>;
  /** Writing the partial file failed (disk full, unwritable). */
  writeFailed(row: TransferRow, error: unknown): Promise<void>;
  /** The stream ended before the last chunk (link lost, sender stopped, truncated stream). */
  ended(row: TransferRow): void;
  log(message: string, fields: Record<string, unknown>): void;
}

/**
 * Receives one stream session: the start frame, then sealed chunks in order. Each chunk is
 * opened as it arrives with the index the receiver expects (so a reordered, spliced or
 * truncated stream does not verify) and hashed; verified chunks are written at their place in
 * the partial file one after the other, while the next ones are opened, and acknowledged every
 * `ackEvery` chunks once written. The partial file therefore only ever holds a verified prefix
 * (the resume point), and the sender's window bounds how many verified chunks wait for the disk.
 */
export class ReceiveSession implements Disposable {
  private admission: Admission | undefined;
  private count = 0;
  /** `finishing`: the final chunk verified, its write (and earlier ones) still under way. */
  private state: 'starting' | 'admitting' | 'receiving' | 'finishing' | 'over' = 'starting';
  /** Frames that arrived while the start frame was being admitted. */
  private backlog: Uint8Array[] = [];
  /** Writes of verified chunks, in order; each waits for the one before. */
  private writes: Promise<void> = Promise.resolve();
  /** Verified chunks still waiting for the disk are dropped (stopped, rejected, disk failed). */
  private discard = false;
  /** Plaintext of verified chunks not yet on disk: an honest sender keeps it within its window. */
  private bufferedBytes = 0;
  /** The admission, then the end of the session (reject, abort, write failure). */
  private work: Promise<void> = Promise.resolve();
  private readonly subs: Disposable[];

  /**
   * @param maxBufferedBytes verified plaintext allowed to wait for the disk; a sender that ignores
   *   its window (acks) and pushes more is cut off rather than filling this process's memory.
   */
  constructor(
    private readonly stream: PeerStream,
    private readonly hooks: ReceiveHooks,
    private readonly ackEvery: number,
    private readonly maxBufferedBytes: number,
  ) {
    this.subs = [
      stream.onData((bytes) => this.onData(bytes)),
      stream.onDidClose(() => {
        // After the final chunk verified, the writes finish the transfer even if the link drops now.
        if (this.state !== 'finishing') this.enqueue(() => this.abort());
      }),
    ];
  }

  get transferId(): string | undefined {
    return this.admission?.row.id;
  }

  get finished(): boolean {
    return this.state === 'over';
  }

  private enqueue(step: () => Promise<void>): void {
    this.work = this.work.then(step).catch((error) => this.failed(error));
  }

  private failed(error: unknown): void {
    this.hooks.log('files: a receive step failed', { error: String(error) });
    this.discard = true;
    void this.abort();
  }

  private onData(bytes: Uint8Array): void {
    if (this.state === 'over' || this.state === 'finishing') return;
    if (this.state === 'admitting') {
      this.backlog.push(bytes);
      return;
    }
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      if (!(error instanceof ProtocolRejected)) throw error;
      return this.reject(error.message);
    }
    if (this.state === 'starting') {
      if (frame.type !== FrameType.Start) return this.enqueue(() => this.abort());
      this.state = 'admitting';
      return this.enqueue(() => this.admit(frame));
    }
    if (frame.type !== FrameType.Chunk) return this.reject(`unexpected frame type ${frame.type}`);
    const a = this.admission!;
    const index = a.next;
    if (index >= this.count) return this.reject('a chunk after the last one');
    const final = index === this.count - 1;
    const plain = a.cipher.open(index, final, frame.sealed);
    if (!plain) return this.reject(`chunk ${index} did not verify`);
    if (plain.length !== chunkLength(a.row.size, a.row.chunk_size, index)) return this.reject(`chunk ${index} has the wrong length`);
    if (this.bufferedBytes + plain.length > this.maxBufferedBytes) {
      return this.reject(`the sender ignored its window: over ${this.maxBufferedBytes} bytes were waiting for the disk`);
    }
    this.bufferedBytes += plain.length;
    a.hash.update(plain);
    a.next = index + 1;
    if (final) this.state = 'finishing';
    const digest = final ? a.hash.digest('hex') : undefined;
    this.writes = this.writes
      .then(() => this.write(a, plain, index, digest))
      .finally(() => (this.bufferedBytes -= plain.length))
      .catch((error) => this.failed(error));
  }

  private async admit(start: StartFrame): Promise<void> {
    if (this.state !== 'admitting') return;
    const admission = await this.hooks.admit(start, this.stream);
    if (this.state !== 'admitting') {
      // Stopped meanwhile: the partial file stays as it is.
      await admission?.handle.close().catch(() => undefined);
      return;
    }
    if (!admission) return this.abort();
    this.admission = admission;
    this.count = chunkCount(admission.row.size, admission.row.chunk_size);
    this.state = 'receiving';
    const backlog = this.backlog;
    this.backlog = [];
    for (const bytes of backlog) this.onData(bytes);
  }

  /** Writes one verified chunk; acknowledges, or finishes the transfer after the final one. */
  private async write(a: Admission, plain: Buffer, index: number, digest: string | undefined): Promise<void> {
    if (this.discard) return;
    try {
      await writeAll(a.handle, plain, index * a.row.chunk_size);
    } catch (error) {
      if (this.discard) return;
      this.discard = true;
      this.state = 'over';
      await a.handle.close().catch(() => undefined);
      await this.hooks.writeFailed(a.row, error);
      return this.closeStream();
    }
    if (this.discard) return;
    const written = index + 1;
    this.hooks.progress(a.row, written);
    if (digest !== undefined) {
      this.state = 'over';
      await a.handle.close();
      await this.hooks.finished(a.row, digest);
      await this.stream.write(encodeAck(written)).catch(() => undefined);
      return this.closeStream();
    }
    if (written % this.ackEvery === 0) await this.stream.write(encodeAck(written)).catch(() => undefined);
  }

  private reject(detail: string): void {
    const a = this.admission;
    if (!a) return this.enqueue(() => this.abort());
    // Said at once: the failure is reported when a write under way has finished.
    this.hooks.log('files: rejected a chunk stream', { transfer: a.row.id, from: a.row.peer, detail });
    this.state = 'over';
    this.discard = true;
    this.enqueue(async () => {
      // A write under way finishes before the handle closes; the ones queued behind it are discarded.
      await this.writes;
      await a.handle.close().catch(() => undefined);
      await this.hooks.rejected(a.row, detail);
      await this.closeStream();
    });
  }

  /** Ends the session early; chunks verified before are still written unless `discard` is set. */
  private async abort(): Promise<void> {
    const wasReceiving = this.state === 'receiving' || this.state === 'finishing';
    const wasOver = this.state === 'over';
    this.state = 'over';
    if (!wasOver && this.admission) {
      await this.writes;
      await this.admission.handle.close().catch(() => undefined);
      if (wasReceiving) this.hooks.ended(this.admission.row);
    }
    await this.closeStream();
  }

  private async closeStream(): Promise<void> {
    if (!this.stream.closed) await this.stream.close().catch(() => undefined);
  }

  /** Stops receiving (cancel, shutdown); the partial file keeps the chunks written so far. */
  async stop(): Promise<void> {
    // Like a killed process: what still waits for the disk never lands (at most one write is under way).
    this.discard = true;
    this.enqueue(() => this.abort());
    await this.work;
  }

  dispose(): void {
    for (const sub of this.subs) sub.dispose();
  }
}

async function writeAll(handle: FileHandleLike, data: Uint8Array, position: number): Promise<void> {
  let at = 0;
  while (at < data.length) {
    const { bytesWritten } = await handle.write(data, at, data.length - at, position + at);
    at += bytesWritten;
  }
}
