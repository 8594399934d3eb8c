import { AppError, Emitter } from '@discordopus/sdk';
import type { Disposable, Event, LinkState, MessageHandler, SecureChannels, SendReceipt, StoringMessageHandler, UserId } from '@discordopus/sdk';

/**
 * The SecureChannels of a client without a connected signaling server or messaging stack:
 * handlers can be registered (nothing arrives), and every send fails with
 * `channels/not-connected`. That is the honest state until the session layer replaces it.
 */
export class UnconnectedChannels implements SecureChannels {
  private readonly linkEmitter = new Emitter<{ userId: UserId; state: LinkState }>();
  readonly onDidChangeLinkState: Event<{ userId: UserId; state: LinkState }> = this.linkEmitter.event;
  readonly maxMessageBytes = 256 * 1024;

  constructor(private readonly serverUrl?: string) {}

  onMessage(name: string, _handler: MessageHandler | StoringMessageHandler): Disposable {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('SecureChannels.onMessage: expected a channel name');
    return { dispose() {} };
  }

  async send(_to: UserId, _name: string, _data: Uint8Array): Promise<SendReceipt> {
    const why = this.serverUrl === undefined
      ? 'No signaling server is configured: start the client with a server URL (--server or DISCORDOPUS_SERVER).'
      : `No signaling server is connected: the client cannot reach peers through ${this.serverUrl} yet.`;
    throw new AppError('channels/not-connected', why);
  }

  linkState(_userId: UserId): LinkState {
    return 'idle';
  }
}
