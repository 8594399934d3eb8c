import type { RTCDataChannel } from 'werift';
import { AppError, DisposableCollection, Emitter, toDisposable, type Event, type PeerStream, type StreamWriteOptions, type UserId } from '@discordopus/sdk';

/**
 * `write` waits while more than this is queued in werift for the channel. werift's send path
 * slows down with the number of queued messages, and everything queued sits in memory.
 */
export const STREAM_HIGH_WATER_BYTES = 1024 * 1024;
/** werift fires bufferedamountlow when the queue drains below this; waiting writers resume. */
export const STREAM_LOW_WATER_BYTES = 256 * 1024;

/*
 * Control messages travel as strings (werift marks them with the WebRTC string PPID), data as
 * binary, so the two never mix up. Both are ordered with the data on the channel.
 */
export const CONTROL_ACCEPT = 'accept';
export const CONTROL_END = 'end';
/** `refuse:<reason>`: the accepting side will not take the stream (the opener closes it). */
export const CONTROL_REFUSE = 'refuse:';

export type StreamRefusal = 'no-handler' | 'not-a-contact' | 'identity-changed' | 'too-many';

interface Waiter {
  resolve(): void;
  reject(error: AppError): void;
}

/**
 * One {@link PeerStream} over its own werift data channel. Closing is a handshake in band: each
 * side sends `end` after its data; the side that sees both its own and the peer's `end` resets
 * the channel. werift resets an SCTP stream as soon as the request arrives (it does not wait for
 * the data before it), so resetting earlier could cut off data still in flight.
 */
export class DataChannelStream implements PeerStream {
  private readonly onDataEmitter = new Emitter<Uint8Array>();
  private readonly onDidCloseEmitter = new Emitter<AppError | undefined>();
  readonly onData: Event<Uint8Array> = this.onDataEmitter.event;
  readonly onDidClose: Event<AppError | undefined> = this.onDidCloseEmitter.event;

  private readonly subscriptions = new DisposableCollection();
  private readonly waiters = new Set<Waiter>();
  /** Set once writes are refused; `error` is what they get. */
  private writeError: AppError | undefined;
  private sentEnd = false;
  private gotEnd = false;
  private finished = false;
  private closing: Promise<void> | undefined;
  private resolveClosed!: () => void;
  private readonly closedPromise = new Promise<void>((resolve) => (this.resolveClosed = resolve));
  private readonly controlHandlers = new Set<(message: string) => void>();

  constructor(
    readonly peer: UserId,
    readonly name: string,
    /** Random id in the channel label (diagnostics; werift's stream ids are reused). */
    readonly id: string,
    private readonly channel: RTCDataChannel,
    readonly maxWriteBytes: number,
    /** Runs once when the stream is finished (releases the link hold, forgets the stream). */
    private readonly onFinished: () => void,
  ) {
    channel.bufferedAmountLowThreshold = STREAM_LOW_WATER_BYTES;
    const on = <T extends unknown[]>(event: { subscribe(fn: (...args: T) => void): { unSubscribe(): void } }, fn: (...args: T) => void) => {
      const sub = event.subscribe(fn);
      this.subscriptions.push(toDisposable(() => sub.unSubscribe()));
    };
    on(channel.onMessage, (message) => this.onMessage(message));
    on(channel.bufferedAmountLow, () => this.wakeWriters());
    on(channel.stateChanged, (state) => {
      if (state === 'closed' && !this.finished) {
        // Reset without the end handshake: the peer's app gave up, or the transport went away.
        this.finish(lostError(peer, 'the peer reset it'));
      }
    });
  }

  get closed(): boolean {
    return this.writeError !== undefined || this.finished;
  }

  /** Bytes queued in werift for this stream (tests and diagnostics). */
  get bufferedAmount(): number {
    return this.channel.bufferedAmount;
  }

  write(data: Uint8Array, options: StreamWriteOptions = {}): Promise<void> {
    if (!(data instanceof Uint8Array)) return Promise.reject(new TypeError('PeerStream.write: data must be a Uint8Array'));
    if (typeof options !== 'object' || options === null) return Promise.reject(new TypeError('PeerStream.write: options must be an object'));
    if (this.writeError) return Promise.reject(this.writeError);
    if (data.length > this.maxWriteBytes) {
      return Promise.reject(new AppError('streams/too-large', `A stream write holds at most ${this.maxWriteBytes} bytes (got ${data.length}); split the data into chunks of maxWriteBytes.`, {
        details: { maxWriteBytes: this.maxWriteBytes, size: data.length },
      }));
    }
    // An empty message cannot travel on a data channel as binary; there is nothing to deliver.
    if (data.length === 0) return Promise.resolve();
    try {
      // werift keeps the buffer queued after write resolves: copy unless the caller handed it over.
      this.channel.send(options.transfer === true ? asBuffer(data) : Buffer.from(data));
    } catch (error) {
      const lost = lostError(this.peer, `sending failed: ${(error as Error).message}`);
      this.finish(lost);
      return Promise.reject(lost);
    }
    if (this.channel.bufferedAmount <= STREAM_HIGH_WATER_BYTES) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.waiters.add({ resolve, reject }));
  }

  close(): Promise<void> {
    if (this.finished) return Promise.resolve();
    this.closing ??= (async () => {
      this.writeError ??= closedError(this.peer, this.name);
      // Writes waiting for backpressure are queued already and go out before `end`.
      this.wakeWriters();
      this.sendEnd();
      if (this.gotEnd) this.finish(undefined);
      await this.closedPromise;
    })();
    return this.closing;
  }

  /** Opening side: resolves on the peer's `accept`, rejects on `refuse:` or when the stream ends first. */
  waitForAccept(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.controlHandlers.delete(onControl);
        ended.dispose();
      };
      const onControl = (message: string) => {
        if (message === CONTROL_ACCEPT) {
          done();
          resolve();
        } else if (message.startsWith(CONTROL_REFUSE)) {
          done();
          const reason = message.slice(CONTROL_REFUSE.length);
          this.finish(undefined);
          reject(refusedError(this.peer, this.name, reason));
        }
      };
      const ended = this.onDidCloseEmitter.event((error) => {
        done();
        reject(error ?? closedError(this.peer, this.name));
      });
      this.controlHandlers.add(onControl);
    });
  }

  /** Accepting side: tells the opener the stream is taken. */
  accept(): void {
    this.sendControl(CONTROL_ACCEPT);
  }

  /** Accepting side: tells the opener why not; the opener resets the channel. */
  refuse(reason: StreamRefusal): void {
    this.writeError ??= closedError(this.peer, this.name);
    this.sendControl(`${CONTROL_REFUSE}${reason}`);
  }

  /** The link (or the client) went away: the stream ends with `error`. */
  abort(error: AppError): void {
    this.finish(error);
  }

  private onMessage(message: string | Buffer): void {
    if (this.finished) return;
    if (typeof message !== 'string') {
      if (this.gotEnd) return;
      this.onDataEmitter.fire(new Uint8Array(message.buffer, message.byteOffset, message.byteLength));
      return;
    }
    if (message === CONTROL_END) {
      this.gotEnd = true;
      this.writeError ??= closedError(this.peer, this.name);
      this.wakeWriters();
      if (this.sentEnd) {
        this.finish(undefined);
      } else {
        // Our own `end` goes out after what we queued; the peer resets the channel when it sees it.
        this.sendEnd();
        this.finish(undefined, { reset: false });
      }
      return;
    }
    for (const handler of [...this.controlHandlers]) handler(message);
  }

  private sendEnd(): void {
    if (this.sentEnd) return;
    this.sentEnd = true;
    this.sendControl(CONTROL_END);
  }

  private sendControl(message: string): void {
    try {
      this.channel.send(message);
    } catch (error) {
      this.finish(lostError(this.peer, `sending failed: ${(error as Error).message}`));
    }
  }

  private wakeWriters(): void {
    if (this.channel.bufferedAmount > STREAM_HIGH_WATER_BYTES && !this.writeError) return;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiting) waiter.resolve();
  }

  private finish(error: AppError | undefined, options: { reset?: boolean } = {}): void {
    if (this.finished) return;
    this.finished = true;
    this.writeError = error ?? this.writeError ?? closedError(this.peer, this.name);
    const waiting = [...this.waiters];
    this.waiters.clear();
    // Cut off by a lost link: what waited was not sent. Closed normally: it was queued before `end`.
    for (const waiter of waiting) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
    if (options.reset ?? true) resetChannel(this.channel);
    // Keep listening for the channel's own close (after the peer's reset) only as long as needed.
    this.subscriptions.dispose();
    this.onFinished();
    this.onDidCloseEmitter.fire(error);
    this.onDataEmitter.dispose();
    this.onDidCloseEmitter.dispose();
    this.resolveClosed();
  }
}

/** The same bytes as a Buffer (werift's send wants one), without a copy. */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Resets a data channel. One still waiting for the peer's DCEP ACK is reset once that arrives:
 * werift throws an unhandled rejection ("channel not found") for an ACK of a channel it no
 * longer knows, which would take the process down.
 */
function resetChannel(channel: RTCDataChannel): void {
  const close = () => {
    try {
      channel.close();
    } catch {
      // The transport is gone already.
    }
  };
  if (channel.readyState !== 'connecting') return close();
  const sub = channel.stateChanged.subscribe((state) => {
    if (state === 'connecting') return;
    sub.unSubscribe();
    if (state === 'open') close();
  });
}

/** Makes a plain object of the stream; the kernel hands these out (no internals reachable). */
export function publicStream(stream: DataChannelStream): PeerStream {
  return {
    peer: stream.peer,
    name: stream.name,
    maxWriteBytes: stream.maxWriteBytes,
    write: (data, options) => stream.write(data, options),
    onData: stream.onData,
    onDidClose: stream.onDidClose,
    get closed() {
      return stream.closed;
    },
    close: () => stream.close(),
  };
}

export function lostError(peer: UserId, why: string): AppError {
  return new AppError('streams/link-lost', `The stream to ${peer} broke (${why}); data written last may not have arrived. Open a new stream and resume.`, {
    details: { peer },
  });
}

function closedError(peer: UserId, name: string): AppError {
  return new AppError('streams/closed', `The stream '${name}' with ${peer} is closed; open a new one to send more.`, { details: { peer, stream: name } });
}

function refusedError(peer: UserId, name: string, reason: string): AppError {
  const why = reason === 'no-handler'
    ? `nothing on their side accepts streams named '${name}' (the plugin may not be installed or running there)`
    : reason === 'not-a-contact'
      ? 'you are not in their contacts'
      : reason === 'identity-changed'
        ? 'they saw your identity key change and have not accepted it yet'
        : reason === 'too-many'
          ? 'too many of your streams are open on their side; close some and try again'
          : `they refused it (${reason.slice(0, 40)})`;
  return new AppError('streams/refused', `${peer} did not accept the stream: ${why}.`, { details: { peer, stream: name, reason } });
}
