/*
 * The bridge between the renderer and the host (Electron main, or the web host's WebSocket).
 * It is JSON-RPC 2.0 in both transports, so the renderer, the preload and the web host share one
 * vocabulary: the profile methods below (served before a client exists) plus the client's own
 * method table (identity.get, contacts.*, safetyNumber.get, plugins.list, ...), and `event`
 * notifications.
 */

/** Methods the host serves itself, locked or not. */
export const HostMethod = {
  profileStatus: 'profile.status',
  profileCreate: 'profile.create',
  profileUnlock: 'profile.unlock',
  profileImportBackup: 'profile.importBackup',
  profileLock: 'profile.lock',
  settingsGet: 'host.settings.get',
  settingsSet: 'host.settings.set',
  filesStageBegin: 'host.files.stageBegin',
  filesStageChunk: 'host.files.stageChunk',
  filesStageSend: 'host.files.stageSend',
  filesStageCancel: 'host.files.stageCancel',
} as const;

/** Methods only Electron main answers (the web host has no desktop to show files on). */
export const DesktopMethod = {
  filesOpen: 'host.files.open',
  filesReveal: 'host.files.reveal',
} as const;

/** The JSON-RPC notification method that carries {@link BridgeEvent}s. */
export const EVENT_NOTIFICATION = 'event';

/** Topic of the event a renderer-side bridge raises itself when it loses the host. */
export const BRIDGE_DISCONNECTED_TOPIC = 'bridge.disconnected';

/** Topic of the event the host sends when the profile is created, unlocked or locked. */
export const PROFILE_CHANGED_TOPIC = 'profile.changed';

export interface ProfileStatus {
  /** Name of the profile this host serves (`default`, `alice`). */
  profileName: string;
  exists: boolean;
  unlocked: boolean;
  /** Set once unlocked. */
  userId?: string;
  displayName?: string;
}

export interface BridgeEvent {
  topic: string;
  payload: unknown;
}

/** JSON-RPC 2.0 error codes used on the bridge; application errors carry `data.code`. */
export const RpcErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  applicationError: -32000,
} as const;

export interface RpcRequest {
  jsonrpc: '2.0';
  id: number | string;
  method: string;
  params?: unknown;
}

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: { code?: string; details?: Record<string, unknown> };
}

export type RpcResponse =
  | { jsonrpc: '2.0'; id: number | string | null; result: unknown }
  | { jsonrpc: '2.0'; id: number | string | null; error: RpcErrorObject };

export interface RpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: unknown;
}

/** Longest method name accepted on the bridge; longer ones are refused where they arrive. */
export const MAX_METHOD_LENGTH = 64;
/** Largest message (JSON text) accepted on the bridge; a backup file fits comfortably. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
const METHOD_NAME = /^[a-zA-Z][a-zA-Z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*)*$/;

/** True when `method` is a well-formed method name (`contacts.add`). */
export function isMethodName(method: unknown): method is string {
  return typeof method === 'string' && method.length <= MAX_METHOD_LENGTH && METHOD_NAME.test(method);
}

/** The renderer's view of the host. Two implementations: Electron preload and WebSocket. */
export interface BridgeClient {
  /** Calls a host method; rejects with a {@link BridgeError} when the host answers an error. */
  call<T = unknown>(method: string, params?: unknown): Promise<T>;
  /** Subscribes to host events; returns the function that unsubscribes. */
  onEvent(listener: (event: BridgeEvent) => void): () => void;
  /** True when the host shows desktop notifications itself (Electron main), so the page must not. */
  readonly nativeNotifications?: boolean;
  /** Electron: offers a picked or dropped file by its path, which only the preload can read. */
  sendFile?(file: File, contact: string): Promise<{ transferId: string }>;
  /** True when the host can open files and show them in their folder ({@link DesktopMethod}). */
  readonly desktopFiles?: boolean;
}

/** Topic of the event the host sends when the user clicked a message notification: `{ peer }`. */
export const OPEN_CONVERSATION_TOPIC = 'shell.openConversation';

/** An error answered by the host. `code` is the AppError code (`storage/wrong-passphrase`) when there is one. */
export class BridgeError extends Error {
  override readonly name = 'BridgeError';
  constructor(
    readonly code: string,
    message: string,
    readonly rpcCode: number = RpcErrorCode.applicationError,
  ) {
    super(message);
  }

  static fromRpc(error: RpcErrorObject): BridgeError {
    return new BridgeError(error.data?.code ?? `rpc/${error.code}`, error.message, error.code);
  }
}

/** The API the Electron preload puts on `window.discordopus`. */
export interface PreloadBridge {
  call(method: string, params?: unknown): Promise<{ ok: true; result: unknown } | { ok: false; error: RpcErrorObject }>;
  /** Offers a file the user picked or dropped; the preload reads its path (webUtils.getPathForFile). */
  sendFile(file: File, contact: string): Promise<{ ok: true; result: unknown } | { ok: false; error: RpcErrorObject }>;
  onEvent(listener: (event: BridgeEvent) => void): () => void;
}

/** IPC channel names between preload and Electron main, kept in one place. */
export const IpcChannel = {
  call: 'discordopus:call',
  sendFile: 'discordopus:sendFile',
  event: 'discordopus:event',
} as const;
