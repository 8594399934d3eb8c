import { BridgeError, type BridgeClient, type BridgeEvent, type PreloadBridge } from '../../common/bridge-protocol.ts';

/** The bridge inside Electron: `window.discordopus`, put there by the preload script. */
export class PreloadBridgeClient implements BridgeClient {
  // Electron main shows message notifications with the system's Notification.
  readonly nativeNotifications = true;

  constructor(private readonly preload: PreloadBridge) {}

  async call<T = unknown>(method: string, params?: unknown): Promise<T> {
    const answer = await this.preload.call(method, params);
    if (!answer.ok) throw BridgeError.fromRpc(answer.error);
    return answer.result as T;
  }

  readonly desktopFiles = true;

  async sendFile(file: File, contact: string): Promise<{ transferId: string }> {
    const answer = await this.preload.sendFile(file, contact);
    if (!answer.ok) throw BridgeError.fromRpc(answer.error);
    return answer.result as { transferId: string };
  }

  onEvent(listener: (event: BridgeEvent) => void): () => void {
    return this.preload.onEvent(listener);
  }
}
