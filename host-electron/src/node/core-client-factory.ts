import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { Disposable, Logger, PluginDefinition } from '@discordopus/sdk';
import type { MessagingApi } from '@discordopus/plugin-messaging';
import {
  clientRpcMethods, createClient, firstPartyPlugins, profileExists, restoreClientFromBackup, rpcMethod, RpcServer,
  type ClientOptions, type DiscordOpusClient,
} from '@discordopus/core';
import type { TurnServer } from '../common/host-settings.ts';
import { EVENT_NOTIFICATION, type BridgeEvent, type RpcErrorObject } from '../common/bridge-protocol.ts';
import { FILES_TRANSFER_TOPIC, MESSAGING_CHANGED_TOPIC } from '../common/client-api.ts';
import { CALLS_TOPICS } from '@discordopus/plugin-calls/common';
import { CALLS_ENGINE_REQUEST } from './calls-engine-relay.ts';
import { RpcCallError, type ClientFactory, type ClientSession, type ImportBackupOptions, type OpenClientOptions } from './client-session.ts';

export interface CoreClientFactoryOptions {
  plugins?: PluginDefinition[];
  thirdPartyPluginDir?: string;
  logger?: Logger;
  /** scrypt cost of new profiles (tests use a small one); default: the storage's own. */
  profileKdf?: { N: number; r: number; p: number };
}

/** Opens real clients (`createClient` from @discordopus/core) and serves their RPC method table. */
export class CoreClientFactory implements ClientFactory {
  constructor(private readonly options: CoreClientFactoryOptions = {}) {}

  async exists(profileDir: string): Promise<boolean> {
    return profileExists(profileDir);
  }

  async open(options: OpenClientOptions): Promise<ClientSession> {
    const client = await createClient({
      profileDir: options.profileDir,
      passphrase: options.passphrase,
      create: options.create,
      ...(options.displayName === undefined ? {} : { displayName: options.displayName }),
      ...this.common(options),
    });
    return RpcClientSession.start(client);
  }

  async importBackup(options: ImportBackupOptions): Promise<ClientSession> {
    // The core restores from a file; the renderer sent bytes, so they go through a private temp file.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'discordopus-import-'));
    const backupFile = path.join(dir, 'backup.dob');
    try {
      await writeFile(backupFile, options.backup, { mode: 0o600 });
      const client = await restoreClientFromBackup({
        profileDir: options.profileDir,
        passphrase: options.passphrase,
        backupFile,
        backupPassphrase: options.backupPassphrase,
        ...this.common(options),
      });
      return RpcClientSession.start(client);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private common({ serverUrl, stunServers, turnServer }: Pick<OpenClientOptions, 'serverUrl' | 'stunServers' | 'turnServer'>) {
    return {
      // A host runs for long: it connects to the server (presence, direct peer links).
      ...(serverUrl === undefined ? {} : { serverUrl, connectSignaling: true, peerLinks: peerLinkOptions(stunServers, turnServer) }),
      plugins: this.options.plugins ?? firstPartyPlugins(),
      ...(this.options.thirdPartyPluginDir ? { thirdPartyPluginDir: this.options.thirdPartyPluginDir } : {}),
      ...(this.options.logger ? { logger: this.options.logger } : {}),
      ...(this.options.profileKdf ? { profileKdf: this.options.profileKdf } : {}),
    };
  }
}

/**
 * The client's RpcServer (the daemon's method table) behind one in-process connection, plus the
 * two methods the shell needs that a terminal client does not: the full contribution list and a
 * view's model.
 */
class RpcClientSession implements ClientSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private readonly listeners = new Set<(event: BridgeEvent) => void>();
  private readonly connection;
  private readonly server: RpcServer;
  private readonly contributionsSubscription;
  private readonly messagingSubscription: Disposable | undefined;

  private constructor(private readonly client: DiscordOpusClient) {
    const contributions = client.kernel.contributions;
    this.server = new RpcServer({
      ...clientRpcMethods(client),
      'contributions.list': rpcMethod(z.strictObject({}), () => ({
        commands: contributions.commands(), views: contributions.views(), settings: contributions.settings(),
      })),
      'views.getModel': rpcMethod(z.strictObject({ id: z.string().min(1).max(200) }), ({ id }) => contributions.viewModel(id)),
      // The renderer gets the backup as bytes to save where the user chooses; it never names host paths.
      'backup.download': rpcMethod(z.strictObject({ passphrase: z.string().max(1024) }), ({ passphrase }) => downloadBackup(client, passphrase)),
    });
    this.connection = this.server.connect((text) => this.receive(text));
    this.contributionsSubscription = contributions.onDidChange(() => this.emit({ topic: 'contributions.changed', payload: {} }));
    // The bus carries only received messages and status changes; the conversation screen also
    // needs edits, deletes, reactions and typing, which the plugin's API reports.
    this.messagingSubscription = client.kernel.pluginApi<MessagingApi>('messaging')?.onDidChange((change) => this.emit({ topic: MESSAGING_CHANGED_TOPIC, payload: change }));
  }

  static async start(client: DiscordOpusClient): Promise<RpcClientSession> {
    const session = new RpcClientSession(client);
    await session.call('subscribe', {});
    // File transfers' progress and states, for the transfers screen (nothing comes without the plugin).
    await session.call('subscribe', { topics: [FILES_TRANSFER_TOPIC] });
    // Calls ringing, connecting, ending: the call overlay follows them (nothing comes without the plugin).
    await session.call('subscribe', { topics: [CALLS_TOPICS.state, CALLS_TOPICS.logged] });
    return session;
  }

  get userId(): string {
    return this.client.identity.userId;
  }

  get displayName(): string {
    return this.client.identity.displayName;
  }

  call(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      void this.connection.receive(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }));
    });
  }

  onEvent(listener: (event: BridgeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.contributionsSubscription.dispose();
    this.messagingSubscription?.dispose();
    this.connection.dispose();
    this.server.dispose();
    for (const { reject } of this.pending.values()) reject(new RpcCallError({ code: -32000, message: 'The profile was locked.', data: { code: 'profile/locked' } }));
    this.pending.clear();
    await this.client.close();
  }

  private receive(text: string): void {
    const message = JSON.parse(text) as { id?: number; method?: string; params?: { topic?: unknown; payload?: unknown }; result?: unknown; error?: RpcErrorObject };
    if (message.method === EVENT_NOTIFICATION && message.params && typeof message.params.topic === 'string') {
      this.emit({ topic: message.params.topic, payload: message.params.payload });
      return;
    }
    // The calls plugin driving the renderer's media engine (see calls-engine-relay.ts).
    if (message.method === CALLS_ENGINE_REQUEST) {
      this.emit({ topic: CALLS_ENGINE_REQUEST, payload: message.params });
      return;
    }
    if (typeof message.id !== 'number') return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.error) pending.reject(new RpcCallError(message.error));
    else pending.resolve(message.result);
  }

  private emit(event: BridgeEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }
}

/**
 * Peer links with the STUN/TURN servers of the host settings. DISCORDOPUS_PEER_LINKS (as for the
 * CLI) turns them `off`, or to `loopback` for tests.
 */
function peerLinkOptions(stunServers: string[], turnServer: TurnServer | undefined): ClientOptions['peerLinks'] {
  const mode = process.env.DISCORDOPUS_PEER_LINKS?.trim();
  if (mode === 'off') return false;
  return {
    stunServers,
    ...(turnServer ? { turnServer: { urls: turnServer.urls, username: turnServer.username, credential: turnServer.credential } } : {}),
    ...(mode === 'loopback' ? { loopbackOnly: true } : {}),
  };
}

async function downloadBackup(client: DiscordOpusClient, passphrase: string): Promise<{ fileName: string; data: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'discordopus-backup-'));
  try {
    const file = path.join(dir, 'backup.dob');
    await client.exportBackup(file, passphrase);
    const stamp = new Date().toISOString().slice(0, 10);
    return { fileName: `discordopus-backup-${stamp}.dob`, data: (await readFile(file)).toString('base64') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
