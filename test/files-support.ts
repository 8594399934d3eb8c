/*
 * In-process transport for the files plugin's scenarios on real kernels: a pair of
 * SecureChannels (support/paired-channels.ts, as in the messaging tests) and a pair of PeerStreams whose writes are
 * delivered in order on later turns of the event loop, with a high-water mark for backpressure.
 * A test can take a side offline, break every stream (link lost), or act as a hostile peer.
 */
import { AppError, Emitter, toDisposable, type Disposable, type PeerStream, type PeerStreams, type UserId } from '@discordopus/sdk';

export { PairedChannels } from './support/paired-channels.ts';

const HIGH_WATER = 1024 * 1024;

export class MemoryStream implements PeerStream {
  other!: MemoryStream;
  closed = false;
  private buffered = 0;
  private readonly drains: (() => void)[] = [];
  private readonly data = new Emitter<Uint8Array>();
  readonly onData = this.data.event;
  private readonly closing = new Emitter<AppError | undefined>();
  readonly onDidClose = this.closing.event;

  constructor(readonly peer: UserId, readonly name: string, readonly maxWriteBytes: number) {}

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new AppError('streams/closed', 'test: the stream is closed');
    if (data.length > this.maxWriteBytes) throw new AppError('streams/too-large', `test: ${data.length} bytes`);
    const copy = data.slice();
    this.buffered += copy.length;
    setImmediate(() => {
      this.buffered -= copy.length;
      if (!this.other.closed) this.other.data.fire(copy);
      if (this.buffered < HIGH_WATER / 2) for (const wake of this.drains.splice(0)) wake();
    });
    if (this.buffered > HIGH_WATER) await new Promise<void>((resolve) => this.drains.push(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // After what was already written, like a data channel's orderly close.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.end(undefined);
  }

  /** Closes both ends now with `reason`. */
  end(reason: AppError | undefined): void {
    for (const side of [this, this.other]) {
      if (side.closed) continue;
      side.closed = true;
      for (const wake of side.drains.splice(0)) wake();
      side.closing.fire(reason);
    }
  }
}

export class PairedStreams implements PeerStreams {
  peer!: PairedStreams;
  online = true;
  maxWriteBytes = 256 * 1024;
  readonly open_: MemoryStream[] = [];
  private readonly handlers = new Map<string, (stream: PeerStream) => void>();

  constructor(readonly self: UserId) {}

  async open(to: UserId, name: string): Promise<PeerStream> {
    if (!this.online || !this.peer.online) throw new AppError('streams/peer-unreachable', 'test: the peer is offline');
    if (to !== this.peer.self) throw new AppError('streams/not-a-contact', 'test: unknown peer');
    const local = new MemoryStream(to, name, this.maxWriteBytes);
    const remote = new MemoryStream(this.self, name, this.maxWriteBytes);
    local.other = remote;
    remote.other = local;
    this.open_.push(local);
    const handler = this.peer.handlers.get(name);
    if (handler) handler(remote);
    else local.end(undefined);
    return local;
  }

  onStream(name: string, handler: (stream: PeerStream) => void): Disposable {
    this.handlers.set(name, handler);
    return toDisposable(() => this.handlers.delete(name));
  }

  /** The link broke: every stream of this pair closes with `streams/link-lost`. */
  breakLinks(): void {
    for (const side of [this, this.peer]) {
      for (const stream of side.open_.splice(0)) stream.end(new AppError('streams/link-lost', 'test: link lost'));
    }
  }
}
