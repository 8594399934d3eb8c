import type { Container } from 'inversify';
import type { Kysely } from 'kysely';
import {
  AppError, isAppError, tablePrefixFor, type Logger, type PluginDefinition, type PluginPermissions,
} from '@discordopus/sdk';
import { runMigrations } from '../storage/migrations.ts';
import type { ContributionServiceImpl } from './contribution-service.ts';
import type { KernelEventBus } from './kernel-event-bus.ts';
import { createPluginContext, type PluginContextHandle } from './plugin-context.ts';
import { orderPlugins, type GraphNode } from './plugin-graph.ts';
import type { PluginCandidate } from './plugin-loader.ts';
import { validateDefinition } from './plugin-validation.ts';
import { effectivePermissions, FIRST_PARTY_PLUGIN_IDS, RESERVED_PLUGIN_IDS } from './permissions.ts';
import type { SettingsServiceImpl } from './settings-service.ts';
import type { DeferredSync } from '../storage/deferred-sync.ts';

export type PluginState = 'active' | 'failed' | 'disabled';

/** What the shell shows about one plugin. */
export interface PluginStatus {
  id: string;
  version: string;
  displayName?: string;
  state: PluginState;
  error?: { code: string; message: string };
  /** What the plugin holds now (for third-party plugins: requested AND granted). */
  permissions: PluginPermissions;
  /** What its manifest asks for, for the grant dialog. */
  requestedPermissions: PluginPermissions;
  firstParty: boolean;
  /** `first-party` or the plugin's folder. */
  source: string;
}

export interface PluginHostOptions {
  container: Container;
  events: KernelEventBus;
  settings: SettingsServiceImpl;
  contributions: ContributionServiceImpl;
  db: Kysely<any>;
  deferredSync?: DeferredSync;
  profileDir: string;
  logger: Logger;
  /** The user's grants for a third-party plugin, read at every permission check. */
  grantsFor: (pluginId: string) => PluginPermissions | undefined;
  /** Ids the user switched off. */
  disabled: ReadonlySet<string>;
  activationTimeoutMs: number;
  deactivationTimeoutMs: number;
}

interface PluginRecord {
  id: string;
  version: string;
  displayName?: string;
  firstParty: boolean;
  source: string;
  definition?: PluginDefinition;
  requested: PluginPermissions;
  state: PluginState | 'pending';
  error?: AppError;
  api?: unknown;
  handle?: PluginContextHandle;
}

/**
 * Validates, orders, migrates and activates plugins, and tears them down in reverse. A plugin
 * that cannot start is marked failed with a reason (also published as `plugin.failed`); the
 * kernel and every plugin that does not depend on it keep running.
 */
export class PluginHost {
  private readonly records: PluginRecord[] = [];
  /** Active plugins in activation order. */
  private readonly active: PluginRecord[] = [];
  private stopped = false;

  constructor(private readonly options: PluginHostOptions) {}

  async start(candidates: readonly PluginCandidate[]): Promise<void> {
    for (const candidate of candidates) this.records.push(this.admit(candidate));
    this.checkIds();
    for (const record of this.records) {
      if (record.state === 'pending' && this.options.disabled.has(record.id)) record.state = 'disabled';
    }

    // Valid plugins first, so a failed duplicate never stands in for the real one in the graph.
    const nodes = new Map<string, GraphNode>();
    for (const record of [...this.pending(), ...this.records]) {
      if (!nodes.has(record.id)) nodes.set(record.id, { id: record.id, dependsOn: record.definition?.dependsOn ?? [] });
    }
    const { order, failures } = orderPlugins([...nodes.values()]);
    for (const id of order) {
      const record = this.pending().find((r) => r.id === id);
      if (!record) continue;
      const failure = failures.get(id);
      if (failure) {
        this.fail(record, failure);
        continue;
      }
      const blocker = (record.definition!.dependsOn ?? []).map((dep) => this.byId(dep)!).find((dep) => dep.state !== 'active');
      if (blocker) {
        const why = blocker.state === 'disabled' ? 'is disabled' : `failed (${blocker.error?.code ?? 'unknown'})`;
        this.fail(record, new AppError('plugin/dependency-failed', `Plugin "${record.id}" was not started because the plugin it depends on, "${blocker.id}", ${why}. Fix or enable "${blocker.id}" first.`, {
          details: { pluginId: record.id, dependency: blocker.id },
        }));
        continue;
      }
      await this.activate(record);
    }
  }

  statuses(): PluginStatus[] {
    return this.records.map((r) => ({
      id: r.id,
      version: r.version,
      ...(r.displayName === undefined ? {} : { displayName: r.displayName }),
      state: r.state === 'pending' ? 'failed' : r.state,
      ...(r.error ? { error: { code: r.error.code, message: r.error.message } } : {}),
      permissions: this.permissionsOf(r),
      requestedPermissions: r.requested,
      firstParty: r.firstParty,
      source: r.source,
    }));
  }

  /** The API an active plugin returned from `activate`; undefined for any other id. */
  apiOf(id: string): unknown {
    return this.active.find((r) => r.id === id)?.api;
  }

  /** Ids of active plugins in activation order. */
  activeIds(): string[] {
    return this.active.map((r) => r.id);
  }

  /** Deactivates active plugins in reverse activation order; each one's subscriptions after its deactivate. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const record of [...this.active].reverse()) {
      const deactivate = record.definition!.deactivate;
      if (deactivate) {
        try {
          await withTimeout(Promise.resolve().then(() => deactivate.call(record.definition)), this.options.deactivationTimeoutMs);
        } catch (error) {
          this.options.logger.warn('plugin deactivate failed', { pluginId: record.id, error });
        }
      }
      this.teardown(record);
    }
    this.active.length = 0;
  }

  private admit(candidate: PluginCandidate): PluginRecord {
    const record: PluginRecord = {
      id: candidate.label, version: candidate.version ?? '0.0.0', firstParty: candidate.firstParty, source: candidate.source,
      requested: {}, state: 'pending',
    };
    if (candidate.error) {
      this.fail(record, candidate.error);
      return record;
    }
    try {
      const definition = validateDefinition(candidate.definition, candidate.label);
      record.definition = definition;
      record.id = definition.id;
      record.version = definition.version;
      if (definition.displayName !== undefined) record.displayName = definition.displayName;
      record.requested = definition.permissions ?? {};
    } catch (error) {
      const raw = candidate.definition as { id?: unknown; version?: unknown } | undefined;
      if (typeof raw?.id === 'string') record.id = raw.id;
      if (typeof raw?.version === 'string') record.version = raw.version;
      this.fail(record, toAppError(error, record.id));
    }
    return record;
  }

  private checkIds(): void {
    const firstPartyIds = new Set(this.records.filter((r) => r.firstParty && r.definition).map((r) => r.id));
    const seen = new Set<string>();
    for (const record of this.pending()) {
      const { id } = record;
      const reserved = reservedIdError(id, record.firstParty, firstPartyIds, record.source);
      if (reserved) {
        this.fail(record, reserved);
      } else if (seen.has(id)) {
        this.fail(record, new AppError('plugin/duplicate-id', `Plugin id "${id}" is used by more than one plugin; the one in ${record.source} was not loaded. Remove one of them.`, {
          details: { pluginId: id },
        }));
      } else {
        seen.add(id);
      }
    }
  }

  private async activate(record: PluginRecord): Promise<void> {
    const definition = record.definition!;
    const { options } = this;
    options.contributions.addDeclared(record.id, definition.contributes);
    const handle = createPluginContext({
      pluginId: record.id,
      firstParty: record.firstParty,
      dependsOn: definition.dependsOn ?? [],
      requested: record.requested,
      permissions: () => this.permissionsOf(record),
      container: options.container,
      events: options.events,
      settings: options.settings,
      contributions: options.contributions,
      db: options.db,
      ...(options.deferredSync ? { deferredSync: options.deferredSync } : {}),
      profileDir: options.profileDir,
      logger: options.logger,
      otherPrefixes: this.otherPrefixes(record.id),
      apiOf: (id) => this.byId(id)?.api,
    });
    record.handle = handle;
    try {
      await runMigrations(options.db, record.id, definition.migrations ?? [], {
        tablePrefix: tablePrefixFor(record.id), otherPrefixes: this.otherPrefixes(record.id),
      });
      const activation = Promise.resolve().then(() => definition.activate.call(definition, handle.context));
      try {
        record.api = await withTimeout(activation, options.activationTimeoutMs);
      } catch (error) {
        // A late activation still registers things: clean them up once it settles.
        if (error instanceof TimeoutError) activation.then(() => this.teardown(record), () => this.teardown(record));
        throw error instanceof TimeoutError
          ? new AppError('plugin/activation-timeout', `Plugin "${record.id}" did not finish activating within ${options.activationTimeoutMs} ms and was disabled. Restart the app; if it persists, update or remove the plugin.`, {
            details: { pluginId: record.id },
          })
          : error;
      }
      record.state = 'active';
      this.active.push(record);
      options.logger.debug('plugin active', { pluginId: record.id, version: record.version });
    } catch (error) {
      this.teardown(record);
      this.fail(record, toAppError(error, record.id));
    }
  }

  /** Disposes `ctx.subscriptions` in reverse order, then what the plugin registered through its context. */
  private teardown(record: PluginRecord): void {
    const handle = record.handle;
    if (!handle) return;
    const { subscriptions, owned } = handle;
    while (subscriptions.length > 0) {
      const item = subscriptions.pop()!;
      try {
        item?.dispose();
      } catch (error) {
        this.options.logger.warn('plugin subscription threw on dispose', { pluginId: record.id, error });
      }
    }
    try {
      owned.dispose();
    } catch (error) {
      this.options.logger.warn('plugin registration threw on dispose', { pluginId: record.id, error });
    }
    this.options.contributions.removePlugin(record.id);
  }

  private fail(record: PluginRecord, error: AppError): void {
    record.state = 'failed';
    record.error = error;
    this.options.logger.warn('plugin failed', { pluginId: record.id, code: error.code, reason: error.message });
    this.options.events.publish('plugin.failed', { pluginId: record.id, code: error.code, message: error.message });
  }

  /** Table prefixes of the other known plugins, so `a` cannot reach the tables of `a-b` (`a_b_...`). */
  private otherPrefixes(pluginId: string): string[] {
    return [...new Set(this.records.filter((r) => r.id !== pluginId).map((r) => tablePrefixFor(r.id)))];
  }

  private permissionsOf(record: PluginRecord): PluginPermissions {
    return effectivePermissions(record.requested, record.firstParty, record.firstParty ? undefined : this.options.grantsFor(record.id));
  }

  private pending(): PluginRecord[] {
    return this.records.filter((r) => r.state === 'pending');
  }

  private byId(id: string): PluginRecord | undefined {
    return this.records.find((r) => r.id === id && r.state !== 'failed') ?? this.records.find((r) => r.id === id);
  }
}

/** Why `id` may not be used by this plugin, if it may not: kernel ids, and first-party ids for third-party plugins. */
export function reservedIdError(id: string, firstParty: boolean, firstPartyIds: ReadonlySet<string>, source: string): AppError | undefined {
  if (RESERVED_PLUGIN_IDS.has(id)) {
    return new AppError('plugin/reserved-id', `Plugin id "${id}" is reserved by the kernel. Rename the plugin.`, { details: { pluginId: id } });
  }
  if (!firstParty && (firstPartyIds.has(id) || FIRST_PARTY_PLUGIN_IDS.has(id))) {
    return new AppError('plugin/reserved-id', `Third-party plugin "${id}" in ${source} uses the id of a first-party plugin and was not loaded. Rename it or remove the folder.`, {
      details: { pluginId: id },
    });
  }
  return undefined;
}

function toAppError(error: unknown, pluginId: string): AppError {
  if (isAppError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AppError('plugin/activation-failed', `Plugin "${pluginId}" failed to start: ${message}. It was disabled; update it or report this to its author.`, {
    cause: error, details: { pluginId },
  });
}

class TimeoutError extends Error {}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
