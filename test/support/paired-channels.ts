/*
 * In-process SecureChannels for plugin scenarios on real kernels: two sides whose `send`
 * resolves once the other side's handlers ran, like a kernel ack (without a store step, as from
 * the kernel's inbox: see TestChannelHandlers). A test can take a side
 * offline, lose confirmations, or fail every send with a lasting error code.
 */
import {
  AppError, Emitter, type Disposable, type LinkState, type MessageHandler, type PeerMessage, type SecureChannels,
  type SendReceipt, type StoringMessageHandler, type UserId,
} from '@discordopus/sdk';
import { TestChannelHandlers } from '../../core/src/node/kernel/kernel-test-support.ts';

export class PairedChannels implements SecureChannels {
  readonly maxMessageBytes = 64_000;
  peer!: PairedChannels;
  online = true;
  /** Deliver, then report a lost confirmation, this many times. */
  loseAcks = 0;
  /** Fail sends with this error code (a lasting failure such as a changed identity). */
  failWith: string | undefined;
  /** Calls of `send`, failed ones included. */
  attempts = 0;
  /** Every record this side handed to the peer, decoded as JSON (null if it is not JSON). */
  readonly sent: { name: string; record: any }[] = [];
  private readonly handlers = new TestChannelHandlers();
  private readonly links = new Emitter<{ userId: UserId; state: LinkState }>();
  readonly onDidChangeLinkState = this.links.event;
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly self: UserId) {}

  /** Two sides that talk to each other. */
  static pair(a: UserId, b: UserId): [PairedChannels, PairedChannels] {
    const left = new PairedChannels(a);
    const right = new PairedChannels(b);
    left.peer = right;
    right.peer = left;
    return [left, right];
  }

  onMessage(name: string, handler: MessageHandler | StoringMessageHandler): Disposable {
    return this.handlers.add(name, handler);
  }

  async send(to: UserId, name: string, data: Uint8Array): Promise<SendReceipt> {
    this.attempts++;
    if (this.failWith) throw new AppError(this.failWith, 'test: lasting failure');
    if (!this.online || !this.peer.online) throw new AppError('channels/peer-unreachable', 'test: the peer is offline');
    if (to !== this.peer.self) throw new AppError('channels/not-a-contact', 'test: unknown peer');
    try {
      this.sent.push({ name, record: JSON.parse(new TextDecoder().decode(data)) });
    } catch {
      this.sent.push({ name, record: null });
    }
    await this.peer.deliver({ from: this.self, channel: name, data, receivedAt: Date.now() });
    if (this.loseAcks > 0) {
      this.loseAcks--;
      throw new AppError('channels/peer-unreachable', 'test: confirmation lost');
    }
    return { stored: false };
  }

  /** Runs the handlers one record at a time, in arrival order, as the kernel does per peer. */
  deliver(message: PeerMessage): Promise<void> {
    const run = this.queue.then(() => this.handlers.deliver(message));
    this.queue = run.catch(() => undefined);
    return run;
  }

  linkState(): LinkState {
    return this.online && this.peer.online ? 'connected' : 'unreachable';
  }

  /** Tells this side that the peer is reachable again. */
  announce(): void {
    this.links.fire({ userId: this.peer.self, state: 'connected' });
  }
}
