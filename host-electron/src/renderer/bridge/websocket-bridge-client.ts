import {
  BRIDGE_DISCONNECTED_TOPIC, BridgeError, EVENT_NOTIFICATION, RpcErrorCode,
  type BridgeClient, type BridgeEvent, type RpcErrorObject,
} from '../../common/bridge-protocol.ts';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/**
 * The bridge over the web host's WebSocket (`ws://127.0.0.1:PORT/bridge?token=...`). Calls made
 * while connecting are queued; if the socket closes, pending calls fail with `bridge/disconnected`
 * and the next call reconnects.
 */
export class WebSocketBridgeClient implements BridgeClient {
  private socket: WebSocket | undefined;
  private opening: Promise<WebSocket> | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(event: BridgeEvent) => void>();

  constructor(private readonly url: string) {}

  /** Builds the client from the page address the host printed (`http://127.0.0.1:PORT/#token=...`). */
  static fromLocation(location: { host: string; hash: string; protocol: string }): WebSocketBridgeClient {
    const token = new URLSearchParams(location.hash.replace(/^#/, '')).get('token');
    if (!token) {
      throw new BridgeError('bridge/no-token', 'This page was opened without its access token. Open the exact address the app printed in the terminal (it ends with #token=...).');
    }
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return new WebSocketBridgeClient(`${scheme}://${location.host}/bridge?token=${encodeURIComponent(token)}`);
  }

  async call<T = unknown>(method: string, params?: unknown): Promise<T> {
    const socket = await this.open();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }));
    });
  }

  onEvent(listener: (event: BridgeEvent) => void): () => void {
    this.listeners.add(listener);
    // Events only flow on an open socket, so a subscriber connects it.
    void this.open().catch(() => undefined);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.socket?.close();
  }

  private open(): Promise<WebSocket> {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) return Promise.resolve(this.socket);
    if (this.opening) return this.opening;
    this.opening = new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(this.url);
      socket.addEventListener('open', () => {
        this.socket = socket;
        this.opening = undefined;
        resolve(socket);
      });
      socket.addEventListener('message', (event) => this.receive(String(event.data)));
      socket.addEventListener('close', () => {
        this.opening = undefined;
        if (this.socket === socket) {
          this.socket = undefined;
          for (const listener of [...this.listeners]) listener({ topic: BRIDGE_DISCONNECTED_TOPIC, payload: {} });
        }
        reject(new BridgeError('bridge/disconnected', 'Cannot reach the app host. Is it still running? Restart it and open the new address it prints.'));
        for (const [id, pending] of this.pending) {
          pending.reject(new BridgeError('bridge/disconnected', 'The connection to the app host was lost. Try again.'));
          this.pending.delete(id);
        }
      });
    });
    return this.opening;
  }

  private receive(text: string): void {
    let message: { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: RpcErrorObject };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.method === EVENT_NOTIFICATION && message.params && typeof message.params === 'object') {
      const event = message.params as BridgeEvent;
      if (typeof event.topic !== 'string') return;
      for (const listener of [...this.listeners]) listener(event);
      return;
    }
    if (typeof message.id !== 'number') return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.error) pending.reject(BridgeError.fromRpc(message.error));
    else pending.resolve(message.result);
  }
}

export { RpcErrorCode };
