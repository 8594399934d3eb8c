import type { BridgeEvent, RpcErrorObject } from '../common/bridge-protocol.ts';
import type { TurnServer } from '../common/host-settings.ts';

/**
 * What the launcher needs from an unlocked client: its public identity, its method table and
 * its events. The core adapter (core-client-factory.ts) implements it over createClient and the
 * daemon's RpcServer, so the renderer sees the same API as the daemon's clients.
 */
export interface ClientSession {
  readonly userId: string;
  readonly displayName: string;
  /** Runs one method of the client's table. Throws AppError, or {@link RpcCallError}. */
  call(method: string, params: unknown): Promise<unknown>;
  onEvent(listener: (event: BridgeEvent) => void): () => void;
  close(): Promise<void>;
}

export interface OpenClientOptions {
  profileDir: string;
  passphrase: string;
  /** Signaling server to connect to; undefined = no server. */
  serverUrl: string | undefined;
  stunServers: string[];
  /** A TURN relay for peer links, from the host settings. */
  turnServer?: TurnServer | undefined;
  /** Create a new profile (refused when one exists) instead of opening one. */
  create: boolean;
  displayName?: string;
}

export interface ImportBackupOptions extends Omit<OpenClientOptions, 'create' | 'displayName'> {
  backup: Uint8Array;
  backupPassphrase: string;
}

/** Opens clients; the launcher owns the one it opened. */
export interface ClientFactory {
  exists(profileDir: string): Promise<boolean>;
  open(options: OpenClientOptions): Promise<ClientSession>;
  importBackup(options: ImportBackupOptions): Promise<ClientSession>;
}

/** A JSON-RPC error answered by a method table, passed through to the bridge unchanged. */
export class RpcCallError extends Error {
  override readonly name = 'RpcCallError';
  constructor(readonly error: RpcErrorObject) {
    super(error.message);
  }
}
