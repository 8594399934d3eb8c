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
 * opened with the index the receiver expects (so a reordered, spliced or truncated stream does
 * not verify), written at its place in the partial file, hashed, and acknowledged every
 * `ackEvery` chunks once written. Frames are handled one at a time; the sender's window
 * bounds how many can wait.
 */
export class ReceiveSession implements Disposable {
  private work: Promise<void> = Promise.resolve();
  private admission: Admission | undefined;
  private count = 0;
  private state: 'starting' | 'receiving' | 'over' = 'starting';
  private readonly subs: Disposable[];

  constructor(private readonly stream: PeerStream, private readonly hooks: ReceiveHooks, private readonly ackEvery: number) {
    this.subs = [
      stream.onData((bytes) => this.enqueue(() => this.handle(bytes))),
      stream.onDidClose(() => this.enqueue(async () => this.over())),
    ];
  }

  get transferId(): string | undefined {
    return this.admission?.row.id;
  }

  get finished(): boolean {
    return this.state === 'over';
  }

  private enqueue(step: () => Promise<void>): void {
    this.work = this.work.then(step).catch((error) => {
      this.hooks.log('files: a receive step failed', { error: String(error) });
      void this.abort();
    });
  }

  private async handle(bytes: Uint8Array): Promise<void> {
    if (this.state === 'over') return;
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      if (!(error instanceof ProtocolRejected)) throw error;
      return this.reject(error.message);
    }
    if (this.state === 'starting') {
      if (frame.type !== FrameType.Start) return this.abort();
      this.admission = await this.hooks.admit(frame, this.stream);
      if (!this.admission) return this.abort();
      this.count = chunkCount(this.admission.row.size, this.admission.row.chunk_size);
      this.state = 'receiving';
      return;
    }
    if (frame.type !== FrameType.Chunk) return this.reject(`unexpected frame type ${frame.type}`);
    const a = this.admission!;
    const index = a.next;
    if (index >= this.count) return this.reject('a chunk after the last one');
    const final = index === this.count - 1;
    const plain = a.cipher.open(index, final, frame.sealed);
    if (!plain) return this.reject(`chunk ${index} did not verify`);
    if (plain.length !== chunkLength(a.row.size, a.row.chunk_size, index)) return this.reject(`chunk ${index} has the wrong length`);
    try {
      await writeAll(a.handle, plain, index * a.row.chunk_size);
    } catch (error) {
      this.state = 'over';
      await a.handle.close().catch(() => undefined);
      await this.hooks.writeFailed(a.row, error);
      return this.closeStream();
    }
    a.hash.update(plain);
    a.next = index + 1;
    this.hooks.progress(a.row, a.next);
    if (final) {
      this.state = 'over';
      await a.handle.close();
      await this.hooks.finished(a.row, a.hash.digest('hex'));
      await this.stream.write(encodeAck(a.next)).catch(() => undefined);
      return this.closeStream();
    }
    if (a.next % this.ackEvery === 0) await this.stream.write(encodeAck(a.next));
  }

  private async reject(detail: string): Promise<void> {
    const a = this.admission;
    if (!a) return this.abort();
    this.state = 'over';
    await a.handle.close().catch(() => undefined);
    await this.hooks.rejected(a.row, detail);
    return this.closeStream();
  }

  private async abort(): Promise<void> {
    const wasReceiving = this.state === 'receiving';
    this.state = 'over';
    if (this.admission) await this.admission.handle.close().catch(() => undefined);
    if (wasReceiving && this.admission) this.hooks.ended(this.admission.row);
    await this.closeStream();
  }

  private async over(): Promise<void> {
    if (this.state === 'over') return;
    await this.abort();
  }

  private async closeStream(): Promise<void> {
    if (!this.stream.closed) await this.stream.close().catch(() => undefined);
  }

  /** Stops receiving (cancel, shutdown); the partial file stays as written. */
  async stop(): Promise<void> {
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
