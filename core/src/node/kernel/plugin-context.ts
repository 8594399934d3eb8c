import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Container } from 'inversify';
import type { Kysely, Transaction } from 'kysely';
import {
  AppError, ContactsService, DisposableCollection, IdentityInfo, isStoringMessageHandler, PeerStreams, SecureChannels, tablePrefixFor,
  type ContributionRegistry, type Disposable, type Event, type EventBus, type Logger, type PeerMessage,
  type PeerStream, type PermissionName, type PluginContext, type PluginPermissions, type PluginStorage, type SettingsService, type UserId,
} from '@discordopus/sdk';
import { scopedKysely } from '../storage/table-guard.ts';
import type { ContributionServiceImpl } from './contribution-service.ts';
import type { KernelEventBus } from './kernel-event-bus.ts';
import { KERNEL_TOPICS, permissionDenied, topicMatches } from './permissions.ts';
import type { SettingsServiceImpl } from './settings-service.ts';
import type { DeferredSync } from '../storage/deferred-sync.ts';

export interface PluginContextOptions {
  pluginId: string;
  /** First-party plugins use their dependencies' APIs without a grant. */
  firstParty: boolean;
  dependsOn: readonly string[];
  /** What the manifest asks for (to tell "not requested" from "not granted" in errors). */
  requested: PluginPermissions;
  /** What the plugin holds now; read on every call, so a grant takes effect at once. */
  permissions: () => PluginPermissions;
  container: Container;
  events: KernelEventBus;
  settings: SettingsServiceImpl;
  contributions: ContributionServiceImpl;
  db: Kysely<any>;
  /** Deferred commits (`durability: 'deferred'`); without it they commit as `sync`. */
  deferredSync?: DeferredSync;
  profileDir: string;
  logger: Logger;
  /** Table prefixes of other plugins that start with this plugin's own. */
  otherPrefixes: readonly string[];
  /** The API a dependency returned from activate. */
  apiOf: (pluginId: string) => unknown;
}

export interface PluginContextHandle {
  context: PluginContext;
  /** The plugin's `ctx.subscriptions` array. */
  subscriptions: Disposable[];
  /** Everything the plugin registered through its context; disposed after `subscriptions`. */
  owned: DisposableCollection;
}

/**
 * Builds a plugin's context from SDK services only, each wrapped so that it enforces the
 * plugin's permissions, scopes names (channels, tables, topics, contribution ids) to the
 * plugin, and tracks what the plugin registers so the host can clean up after it.
 */
export function createPluginContext(options: PluginContextOptions): PluginContextHandle {
  const { pluginId, container } = options;
  const owned = new DisposableCollection();
  const subscriptions: Disposable[] = [];

  const require = (permission: PermissionName) => {
    if (options.permissions()[permission] !== true) throw permissionDenied(pluginId, permission, options.requested[permission] === true);
  };
  const service = <T>(token: symbol, name: string): T => {
    if (!container.isBound(token)) {
      throw new AppError('kernel/service-unavailable', `The ${name} service is not available in this app. Plugin "${pluginId}" cannot use it.`, { details: { pluginId, service: name } });
    }
    return container.get<T>(token);
  };
  const track = <T>(event: Event<T>): Event<T> => (listener) => owned.push(event(listener));

  const contacts: ContactsService = {
    list: () => guard(() => require('contacts'), () => service<ContactsService>(ContactsService, 'contacts').list()),
    get: (userId: UserId) => guard(() => require('contacts'), () => service<ContactsService>(ContactsService, 'contacts').get(userId)),
    resolve: (text: string) => guard(() => require('contacts'), () => service<ContactsService>(ContactsService, 'contacts').resolve(text)),
    presence: (userId: UserId) => {
      require('contacts');
      return service<ContactsService>(ContactsService, 'contacts').presence(userId);
    },
    onDidChange: (listener) => {
      require('contacts');
      return track(service<ContactsService>(ContactsService, 'contacts').onDidChange)(listener);
    },
    onDidChangePresence: (listener) => {
      require('contacts');
      return track(service<ContactsService>(ContactsService, 'contacts').onDidChangePresence)(listener);
    },
  };

  const tablePrefix = tablePrefixFor(pluginId);
  const channelName = (method: string, name: unknown): string => {
    if (typeof name !== 'string' || name.length === 0 || name.length > 64) throw new TypeError(`${method}: expected a channel name of 1-64 characters`);
    return `${pluginId}/${name}`;
  };
  const channels: SecureChannels = {
    onMessage: (name, handler) => {
      require('peers');
      const full = channelName('onMessage', name);
      const real = service<SecureChannels>(SecureChannels, 'secure channels');
      // The plugin sees its own channel name, never the kernel's prefixed one.
      const own = (message: PeerMessage): PeerMessage => ({ ...message, channel: name });
      if (typeof handler === 'function') return owned.push(real.onMessage(full, (message: PeerMessage) => handler(own(message))));
      if (!isStoringMessageHandler(handler)) {
        throw new TypeError('onMessage: expected a handler function, or an object with store and handle functions');
      }
      // The store step gets the kernel's receive transaction behind the plugin's table guard.
      return owned.push(real.onMessage(full, {
        store: (message, trx) => handler.store(own(message), scopedKysely(trx, tablePrefix, { otherPrefixes: options.otherPrefixes })),
        handle: (message, stored) => handler.handle(own(message), stored),
      }));
    },
    send: (to, name, data, sendOptions) => guard(() => require('peers'), () => {
      const full = channelName('send', name);
      return service<SecureChannels>(SecureChannels, 'secure channels').send(to, full, data, sendOptions);
    }),
    linkState: (userId) => {
      require('peers');
      return service<SecureChannels>(SecureChannels, 'secure channels').linkState(userId);
    },
    onDidChangeLinkState: (listener) => {
      require('peers');
      return track(service<SecureChannels>(SecureChannels, 'secure channels').onDidChangeLinkState)(listener);
    },
    get maxMessageBytes() {
      return service<SecureChannels>(SecureChannels, 'secure channels').maxMessageBytes;
    },
  };

  // Streams are scoped like channels; the plugin sees its own stream name, never the prefixed one.
  const unprefixed = (stream: PeerStream, name: string): PeerStream => ({
    peer: stream.peer,
    name,
    maxWriteBytes: stream.maxWriteBytes,
    write: (data, options) => stream.write(data, options),
    onData: stream.onData,
    onDidClose: stream.onDidClose,
    get closed() {
      return stream.closed;
    },
    close: () => stream.close(),
  });
  const streams: PeerStreams = {
    open: (to, name, openOptions) => guard(() => require('peers'), async () => {
      const full = channelName('open', name);
      return unprefixed(await service<PeerStreams>(PeerStreams, 'peer streams').open(to, full, openOptions), name);
    }),
    onStream: (name, handler) => {
      require('peers');
      const full = channelName('onStream', name);
      if (typeof handler !== 'function') throw new TypeError('onStream: expected a handler function');
      const real = service<PeerStreams>(PeerStreams, 'peer streams');
      return owned.push(real.onStream(full, (stream) => handler(unprefixed(stream, name))));
    },
  };

  const scoped = scopedKysely(options.db, tablePrefix, { otherPrefixes: options.otherPrefixes });
  const storage: PluginStorage = {
    tablePrefix,
    db: scoped,
    transaction: (fn, transactionOptions) => {
      const durability = transactionOptions?.durability ?? 'sync';
      if (durability !== 'sync' && durability !== 'deferred') throw new TypeError(`storage.transaction: durability is 'sync' or 'deferred', not ${String(durability)}`);
      if (durability === 'sync' || !options.deferredSync) return scoped.transaction().execute(fn);
      // The kernel's handle sets the commit's durability; the plugin sees the transaction behind its table guard.
      return options.deferredSync.transaction(options.db, (trx) => fn(scopedKysely(trx, tablePrefix, { otherPrefixes: options.otherPrefixes }) as Transaction<any>));
    },
  };

  const settings: SettingsService = {
    get: (key) => options.settings.get(key),
    set: async (key, value) => {
      if (typeof key !== 'string' || !key.startsWith(`${pluginId}.`)) {
        throw new AppError('plugin/permission-denied', `Plugin "${pluginId}" may only change settings that start with "${pluginId}." (tried ${JSON.stringify(key)}).`, {
          details: { pluginId, permission: `settings:${String(key)}` },
        });
      }
      await options.settings.set(key, value);
    },
    onDidChange: track(options.settings.onDidChange),
  };

  // A dependency's API acts with that plugin's power: a third-party plugin needs the grant.
  const mayUseApi = (id: string) => options.firstParty || (options.permissions().apis ?? []).includes(id);
  const canSubscribe = (topic: string) => {
    if (topic.startsWith(`${pluginId}.`)) return;
    if (KERNEL_TOPICS.has(topic)) {
      const needed = KERNEL_TOPICS.get(topic);
      if (needed) require(needed);
      return;
    }
    if (options.dependsOn.some((dep) => topic.startsWith(`${dep}.`) && mayUseApi(dep))) return;
    if ((options.permissions().events ?? []).some((pattern) => topicMatches(pattern, topic))) return;
    const requested = (options.requested.events ?? []).some((pattern) => topicMatches(pattern, topic));
    throw permissionDenied(pluginId, `events:${topic}`, requested);
  };
  const events: EventBus = options.events.forPlugin(pluginId, canSubscribe, owned);

  const ui: ContributionRegistry = {
    registerCommand: (command, run) => owned.push(options.contributions.registerCommand(pluginId, command, run)),
    registerView: (view, getModel) => owned.push(options.contributions.registerView(pluginId, view, getModel)),
    registerSetting: (setting) => owned.push(options.contributions.registerSetting(pluginId, setting)),
  };

  let dataDir: string | undefined;
  const context: PluginContext = {
    pluginId,
    subscriptions,
    get identity() {
      return service<IdentityInfo>(IdentityInfo, 'identity');
    },
    contacts,
    channels,
    streams,
    storage,
    settings,
    events,
    ui,
    log: options.logger.child({ plugin: pluginId }),
    plugins: {
      get: <T>(id: string): T => {
        if (!options.dependsOn.includes(id)) {
          throw new AppError('plugin/not-a-dependency', `Plugin "${pluginId}" asked for the API of "${id}", which it does not list in dependsOn. Add "${id}" to its dependsOn.`, {
            details: { pluginId, dependency: id },
          });
        }
        if (!mayUseApi(id)) throw permissionDenied(pluginId, `apis:${id}`, (options.requested.apis ?? []).includes(id));
        return options.apiOf(id) as T;
      },
    },
    get dataDir() {
      if (dataDir === undefined) {
        const dir = path.join(options.profileDir, 'plugins', pluginId);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        dataDir = dir;
      }
      return dataDir;
    },
  };
  return { context, subscriptions, owned };
}

/** Runs a permission check so that async methods reject instead of throwing synchronously. */
async function guard<T>(check: () => void, run: () => Promise<T>): Promise<T> {
  check();
  return run();
}
