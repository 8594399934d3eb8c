import type { BridgeClient, PreloadBridge } from '../../common/bridge-protocol.ts';
import { PreloadBridgeClient } from './preload-bridge-client.ts';
import { WebSocketBridgeClient } from './websocket-bridge-client.ts';

/** Picks the transport: the Electron preload when present, else the web host's WebSocket. */
export function createBridge(win: Window & { discordopus?: PreloadBridge }): BridgeClient {
  if (win.discordopus) return new PreloadBridgeClient(win.discordopus);
  return WebSocketBridgeClient.fromLocation(win.location);
}
