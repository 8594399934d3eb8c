import { AppError, type Disposable, type PeerStream } from '@discordopus/sdk';
import { FrameType, chunkCount, chunkLength, decodeFrame, encodeStart, hexToBytes, ProtocolRejected } from '../common/files-protocol.ts';
import { ChunkCipher } from './chunk-cipher.ts';
import { readError, type FileHandleLike, type FilesFs } from './files-fs.ts';
import type { TransferRow } from './transfer-store.ts';

export interface SendSessionOptions {
  stream: PeerStream;
  row: TransferRow;
  fs: FilesFs;
  /** First chunk to send (the receiver's resume point). */
  from: number;
  /** Most chunks in flight without an acknowledgement: bounds memory on both sides. */
  windowChunks: number;
  /** The receiver confirmed every chunk below `next`. */
  onAcked(next: number): void;
  /** Chunk frames written by this session (for tests counting resent chunks). */
  onChunkSent?(index: number): void;
}

/** Chunks read ahead of the one being sealed (4 x 256 KiB by default). */
const READ_AHEAD = 4;

/**
 * Streams one transfer's chunks from `from` on one peer stream: reads a few chunks ahead, seals
 * each, writes with the stream's backpressure, and stops when `windowChunks` are unacknowledged,
 * so a receiver whose disk is slower than the network holds the sender back instead of buffering.
 */
export class SendSession implements Disposable {
  private acked: number;
  private wake: (() => void) | undefined;
  private stopped = false;
  private readonly subs: Disposable[];
  readonly count: number;

  constructor(private readonly options: SendSessionOptions) {
    this.acked = options.from;
    this.count = chunkCount(options.row.size, options.row.chunk_size);
    this.subs = [
      options.stream.onData((bytes) => this.received(bytes)),
      options.stream.onDidClose(() => this.stop()),
    ];
  }

  get ackedChunks(): number {
    return this.acked;
  }

  get active(): boolean {
    return !this.stopped;
  }

  private received(bytes: Uint8Array): void {
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      if (error instanceof ProtocolRejected) return this.stop();
      throw error;
    }
    // Only acknowledgements travel this way; anything else (or an ack beyond the end) is a broken peer.
    if (frame.type !== FrameType.Ack || frame.next > this.count) return this.stop();
    if (frame.next <= this.acked) return;
    this.acked = frame.next;
    this.options.onAcked(frame.next);
    this.release();
  }

  private release(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Sends every chunk from `from`; resolves when all are written (or the session stopped). */
  async run(): Promise<void> {
    const { stream, row, fs, from, windowChunks } = this.options;
    const source = row.source_path!;
    const cipher = new ChunkCipher(hexToBytes(row.file_key), row.id);
    let handle: FileHandleLike;
    try {
      handle = await fs.open(source, 'r');
    } catch (error) {
      throw readError(error, source);
    }
    // Reads run up to READ_AHEAD chunks ahead, into a ring of buffers (chunk i+READ_AHEAD goes
    // into the buffer chunk i-1 was sealed from), so after a backpressure wait the stream's queue
    // refills at once instead of one disk read per event-loop turn.
    const ring = Array.from({ length: READ_AHEAD + 1 }, () => Buffer.allocUnsafe(Math.min(row.chunk_size, Math.max(row.size, 1))));
    const reads: Promise<Buffer>[] = [];
    let nextRead = from;
    try {
      await stream.write(encodeStart(row.id, cipher.salt, from));
      for (let index = from; index < this.count; index++) {
        while (!this.stopped && index - this.acked >= windowChunks) await new Promise<void>((resolve) => (this.wake = resolve));
        if (this.stopped) return;
        for (; nextRead < this.count && nextRead <= index + READ_AHEAD; nextRead++) {
          const read = readChunk(handle, source, row, nextRead, ring[nextRead % ring.length]!);
          read.catch(() => undefined);
          reads.push(read);
        }
        const plain = await reads.shift()!;
        // Ownership moves to the stream: the frame is fresh and never touched again (no copy).
        await stream.write(cipher.sealFrame(index, index === this.count - 1, plain), { transfer: true });
        this.options.onChunkSent?.(index);
      }
    } finally {
      await Promise.allSettled(reads);
      await handle.close().catch(() => undefined);
    }
  }

  /** Waits until the receiver acknowledged every chunk, or the session stopped. */
  async drained(): Promise<boolean> {
    while (!this.stopped && this.acked < this.count) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.acked >= this.count;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.release();
    if (!this.options.stream.closed) void this.options.stream.close().catch(() => undefined);
  }

  dispose(): void {
    this.stop();
    for (const sub of this.subs) sub.dispose();
  }
}

async function readChunk(handle: FileHandleLike, source: string, row: TransferRow, index: number, into: Buffer): Promise<Buffer> {
  const length = chunkLength(row.size, row.chunk_size, index);
  const buffer = into.subarray(0, length);
  let at = 0;
  while (at < length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, at, length - at, index * row.chunk_size + at));
    } catch (error) {
      throw readError(error, source);
    }
    if (bytesRead === 0) throw new AppError('files/source-changed', `${source} got shorter while it was being sent. Send it again.`);
    at += bytesRead;
  }
  return buffer;
}
