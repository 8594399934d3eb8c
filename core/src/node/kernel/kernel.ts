import 'reflect-metadata';
import { Container } from 'inversify';
import type { Kysely } from 'kysely';
import { EventBus, Logger, SettingsService, type PluginDefinition, type PluginPermissions } from '@discordopus/sdk';
import { runMigrations } from '../storage/migrations.ts';
import { ContributionService, ContributionServiceImpl } from './contribution-service.ts';
import { KernelEventBus } from './kernel-event-bus.ts';
import { kernelMigrations } from './kernel-migrations.ts';
import { KernelDatabase } from './kernel-tokens.ts';
import { grantsFromList, grantsToList, type PermissionGrants } from './permissions.ts';
import { PluginHost, reservedIdError, type PluginStatus } from './plugin-host.ts';
import { loadThirdPartyPlugins, type PluginCandidate } from './plugin-loader.ts';
import { SettingsServiceImpl } from './settings-service.ts';
import type { DeferredSync } from '../storage/deferred-sync.ts';

export { ContributionService } from './contribution-service.ts';
export { createLogger, type LoggerOptions } from './create-logger.ts';
export type { PermissionGrants } from './permissions.ts';
export type { PluginState, PluginStatus } from './plugin-host.ts';
export type { ContributedCommand, ContributedSetting, ContributedView } from './contribution-service.ts';

/** Owner of the kernel's migrations in `kernel_migrations`. */
export const KERNEL_OWNER = 'kernel';
const GRANT_PREFIX = 'kernel.grants.';
/** Setting that lists the ids of plugins the user switched off. */
export const DISABLED_PLUGINS_KEY = 'kernel.disabledPlugins';

export interface KernelOptions {
  /** Plugin data dirs go under `<profileDir>/plugins/<id>`. */
  profileDir: string;
  /** The profile database; the kernel scopes what each plugin sees of it. */
  db: Kysely<any>;
  /** Its deferred commits (plugins' `durability: 'deferred'`); without it those commit as `sync`. */
  deferredSync?: DeferredSync;
  logger: Logger;
  /**
   * Binds the services the kernel does not make itself (IdentityInfo, ContactsService,
   * SecureChannels, ...). Runs after the kernel's own services are bound, so it may also
   * resolve them, e.g. to subscribe to `plugin.failed` before any plugin starts.
   */
  bind(container: Container): void;
  /** First-party plugins, passed in as modules. */
  plugins: PluginDefinition[];
  /** Folder of third-party plugins: each subfolder one plugin (see plugin-loader.ts and sdk/README.md). */
  thirdPartyPluginDir?: string;
  /**
   * What the user granted third-party plugins. Stored in `kernel_settings` (per plugin, replacing
   * what was stored for that plugin); plugins not listed keep their stored grants.
   */
  grants?: PermissionGrants;
  /** Plugins switched off for this run, in addition to those stored by {@link Kernel.setEnabled}. */
  disabledPlugins?: readonly string[];
  /** How long `activate` may take before the plugin is failed. Default 10 s. */
  activationTimeoutMs?: number;
  /** How long `deactivate` may take on stop. Default 5 s. */
  deactivationTimeoutMs?: number;
}

/**
 * The running kernel: the DI container with the kernel services, and the plugins on top of it.
 *
 * @example
 * const kernel = await Kernel.start({ profileDir, db, logger, plugins: [messaging], bind(c) { ... } });
 * await kernel.contributions.executeCommand('messaging.send', userId, 'hi');
 * await kernel.stop();
 */
export class Kernel {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly container: Container,
    /** The bus with kernel rights: publishes and subscribes to any topic. */
    readonly events: EventBus,
    /** Commands, views and settings of all plugins, for the shell. */
    readonly contributions: ContributionService,
    readonly settings: SettingsServiceImpl,
    private readonly host: PluginHost,
  ) {}

  /**
   * Runs the kernel migrations, binds the services, loads, validates and activates the plugins.
   * Plugin failures do not reject: see {@link Kernel.plugins}.
   * @throws AppError `storage/...` when the kernel's own tables cannot be migrated.
   */
  static async start(options: KernelOptions): Promise<Kernel> {
    checkOptions(options);
    const container = new Container();
    container.bind(Logger).toConstantValue(options.logger);
    container.bind(KernelDatabase).toConstantValue(options.db);
    container.bind(ContributionServiceImpl).toSelf().inSingletonScope();
    container.bind(ContributionService).toService(ContributionServiceImpl);
    container.bind(KernelEventBus).toSelf().inSingletonScope();
    container.bind(EventBus).toService(KernelEventBus);
    container.bind(SettingsServiceImpl).toSelf().inSingletonScope();
    container.bind(SettingsService).toService(SettingsServiceImpl);

    await runMigrations(options.db, KERNEL_OWNER, kernelMigrations);
    const settings = container.get(SettingsServiceImpl);
    await settings.load();
    for (const [pluginId, permissions] of Object.entries(options.grants ?? {})) {
      await settings.set(`${GRANT_PREFIX}${pluginId}`, grantsToList(permissions));
    }
    options.bind(container);

    const events = container.get(KernelEventBus);
    const contributions = container.get(ContributionServiceImpl);
    const host = new PluginHost({
      container, events, settings, contributions, db: options.db, ...(options.deferredSync ? { deferredSync: options.deferredSync } : {}), profileDir: options.profileDir, logger: options.logger,
      grantsFor: (pluginId) => {
        const list = settings.get<readonly string[]>(`${GRANT_PREFIX}${pluginId}`);
        return Array.isArray(list) ? grantsFromList(list) : undefined;
      },
      disabled: new Set([...(options.disabledPlugins ?? []), ...(settings.get<readonly string[]>(DISABLED_PLUGINS_KEY) ?? [])]),
      activationTimeoutMs: options.activationTimeoutMs ?? 10_000,
      deactivationTimeoutMs: options.deactivationTimeoutMs ?? 5_000,
    });
    const candidates: PluginCandidate[] = options.plugins.map((definition) => ({
      firstParty: true,
      source: 'first-party',
      label: typeof definition?.id === 'string' ? definition.id : '(unnamed)',
      definition,
    }));
    if (options.thirdPartyPluginDir !== undefined) {
      const firstPartyIds = new Set(candidates.map((c) => c.label));
      candidates.push(...(await loadThirdPartyPlugins(options.thirdPartyPluginDir, {
        refuse: (manifest, folder) => reservedIdError(manifest.id, false, firstPartyIds, folder),
      })));
    }
    await host.start(candidates);
    const kernel = new Kernel(container, events, contributions, settings, host);
    events.publish('kernel.ready', { plugins: host.activeIds() });
    return kernel;
  }

  /** Every plugin the kernel saw, in load order, with its state and, if failed, why. */
  plugins(): PluginStatus[] {
    return this.host.statuses();
  }

  /**
   * The API an active plugin returned from `activate` (for the shell: CLI, daemon, renderer
   * bridge); undefined when the plugin is not active.
   */
  pluginApi<T>(pluginId: string): T | undefined {
    return this.host.apiOf(pluginId) as T | undefined;
  }

  /** The stored grants of every third-party plugin that has some. */
  grants(): PermissionGrants {
    const result: PermissionGrants = {};
    for (const status of this.plugins()) {
      const list = this.settings.get<readonly string[]>(`${GRANT_PREFIX}${status.id}`);
      if (Array.isArray(list)) result[status.id] = grantsFromList(list);
    }
    return result;
  }

  /**
   * Stores what the user grants a third-party plugin, replacing its previous grants. Takes effect
   * at once for later calls; event subscriptions refused earlier are not retried by the kernel.
   */
  async grant(pluginId: string, permissions: PluginPermissions): Promise<void> {
    if (typeof pluginId !== 'string' || pluginId === '') throw new TypeError('grant: expected a plugin id');
    await this.settings.set(`${GRANT_PREFIX}${pluginId}`, grantsToList(permissions));
  }

  /** Stores whether a plugin is switched on; takes effect at the next start. */
  async setEnabled(pluginId: string, enabled: boolean): Promise<void> {
    if (typeof pluginId !== 'string' || pluginId === '') throw new TypeError('setEnabled: expected a plugin id');
    const current = this.settings.get<readonly string[]>(DISABLED_PLUGINS_KEY) ?? [];
    const next = enabled ? current.filter((id) => id !== pluginId) : [...new Set([...current, pluginId])];
    await this.settings.set(DISABLED_PLUGINS_KEY, next);
  }

  /** Deactivates plugins in reverse activation order and disposes their subscriptions. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.host.stop();
      this.settings.dispose();
      await this.container.unbindAllAsync();
    })();
    return this.stopping;
  }
}

function checkOptions(options: KernelOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('Kernel.start: expected options');
  if (typeof options.profileDir !== 'string' || options.profileDir === '') throw new TypeError('Kernel.start: options.profileDir must be a folder path');
  if (!options.db || typeof options.db.selectFrom !== 'function') throw new TypeError('Kernel.start: options.db must be a Kysely instance');
  if (!options.logger || typeof options.logger.child !== 'function') throw new TypeError('Kernel.start: options.logger must be a Logger');
  if (typeof options.bind !== 'function') throw new TypeError('Kernel.start: options.bind must be a function');
  if (!Array.isArray(options.plugins)) throw new TypeError('Kernel.start: options.plugins must be an array');
}
