import { inject, injectable } from 'inversify';
import {
  AppError, Emitter, Logger, toDisposable, type CommandContribution, type Contributions, type Disposable, type Event,
  type SettingContribution, type ViewContribution,
} from '@discordopus/sdk';

export const ContributionService = Symbol.for('discordopus.kernel.ContributionService');

export interface ContributedCommand extends CommandContribution {
  pluginId: string;
  /** False while no handler is registered (declared in a manifest, plugin not active yet or failed). */
  available: boolean;
}

export interface ContributedView extends ViewContribution {
  pluginId: string;
  available: boolean;
}

export interface ContributedSetting extends SettingContribution {
  pluginId: string;
}

/** All commands, views and settings that plugins contribute, for the shell to show. */
export interface ContributionService {
  /** Fires whenever a contribution is added or removed. */
  readonly onDidChange: Event<void>;
  commands(): ContributedCommand[];
  /** Sorted by `order`, then id. */
  views(): ContributedView[];
  settings(): ContributedSetting[];
  setting(key: string): ContributedSetting | undefined;
  /**
   * Runs a command's handler with `args`.
   * @throws AppError `commands/unknown-command` or `commands/unavailable`; whatever the handler throws.
   */
  executeCommand<T = unknown>(id: string, ...args: unknown[]): Promise<T>;
  /** The current model of a view. @throws AppError `contributions/unknown-view` or `contributions/view-unavailable` */
  viewModel(id: string): unknown;
}

interface Entry<T, R> {
  pluginId: string;
  declared?: T;
  runtime?: { contribution: T; implementation: R };
}

/** Kernel-side implementation; the plugin host adds and removes contributions per plugin. */
@injectable()
export class ContributionServiceImpl implements ContributionService {
  private readonly changed: Emitter<void>;
  readonly onDidChange: Event<void>;
  private readonly commandEntries = new Map<string, Entry<CommandContribution, (...args: unknown[]) => unknown>>();
  private readonly viewEntries = new Map<string, Entry<ViewContribution, () => unknown>>();
  private readonly settingEntries = new Map<string, Entry<SettingContribution, true>>();

  constructor(@inject(Logger) log: Logger) {
    // A shell listener that throws must not take the kernel down.
    this.changed = new Emitter((error) => log.error('contributions listener threw', { error }));
    this.onDidChange = this.changed.event;
  }

  commands(): ContributedCommand[] {
    return [...this.commandEntries.values()].map((e) => ({ ...(e.runtime?.contribution ?? e.declared!), pluginId: e.pluginId, available: e.runtime !== undefined }));
  }

  views(): ContributedView[] {
    return [...this.viewEntries.values()]
      .map((e) => ({ ...(e.runtime?.contribution ?? e.declared!), pluginId: e.pluginId, available: e.runtime !== undefined }))
      .sort((a, b) => (a.order ?? 0) - (b.order ?? 0) || a.id.localeCompare(b.id));
  }

  settings(): ContributedSetting[] {
    return [...this.settingEntries.values()].map((e) => ({ ...(e.runtime?.contribution ?? e.declared!), pluginId: e.pluginId }));
  }

  setting(key: string): ContributedSetting | undefined {
    const e = this.settingEntries.get(key);
    return e ? { ...(e.runtime?.contribution ?? e.declared!), pluginId: e.pluginId } : undefined;
  }

  async executeCommand<T = unknown>(id: string, ...args: unknown[]): Promise<T> {
    if (typeof id !== 'string') throw new TypeError('executeCommand: expected a command id string');
    const entry = this.commandEntries.get(id);
    if (!entry) {
      throw new AppError('commands/unknown-command', `There is no command "${id}". Check the id, and that the plugin providing it is installed and active.`, { details: { command: id } });
    }
    if (!entry.runtime) {
      throw new AppError('commands/unavailable', `Command "${id}" is not available: plugin "${entry.pluginId}" is not active. See the plugin list for why.`, {
        details: { command: id, pluginId: entry.pluginId },
      });
    }
    return (await entry.runtime.implementation(...args)) as T;
  }

  viewModel(id: string): unknown {
    const entry = this.viewEntries.get(id);
    if (!entry) throw new AppError('contributions/unknown-view', `There is no view "${id}".`, { details: { view: id } });
    if (!entry.runtime) {
      throw new AppError('contributions/view-unavailable', `View "${id}" is not available: plugin "${entry.pluginId}" is not active.`, {
        details: { view: id, pluginId: entry.pluginId },
      });
    }
    return entry.runtime.implementation();
  }

  /** Adds a plugin's manifest contributions (ids were checked against the plugin id by the host). */
  addDeclared(pluginId: string, contributes: Contributions | undefined): void {
    for (const command of contributes?.commands ?? []) this.commandEntries.set(command.id, { pluginId, declared: command });
    for (const view of contributes?.views ?? []) this.viewEntries.set(view.id, { pluginId, declared: view });
    for (const setting of contributes?.settings ?? []) this.settingEntries.set(setting.key, { pluginId, declared: setting });
    if (contributes) this.changed.fire();
  }

  registerCommand(pluginId: string, command: CommandContribution, run: (...args: unknown[]) => unknown): Disposable {
    if (typeof run !== 'function') throw new TypeError('registerCommand: expected a handler function');
    return this.register('registerCommand', this.commandEntries, pluginId, command?.id, command, run);
  }

  registerView(pluginId: string, view: ViewContribution, getModel: () => unknown): Disposable {
    if (typeof getModel !== 'function') throw new TypeError('registerView: expected a getModel function');
    return this.register('registerView', this.viewEntries, pluginId, view?.id, view, getModel);
  }

  registerSetting(pluginId: string, setting: SettingContribution): Disposable {
    return this.register('registerSetting', this.settingEntries, pluginId, setting?.key, setting, true as const);
  }

  /** Removes everything a plugin contributed (on failure or stop). */
  removePlugin(pluginId: string): void {
    let removed = false;
    for (const map of [this.commandEntries, this.viewEntries, this.settingEntries] as Map<string, Entry<unknown, unknown>>[]) {
      for (const [id, entry] of map) {
        if (entry.pluginId === pluginId) {
          map.delete(id);
          removed = true;
        }
      }
    }
    if (removed) this.changed.fire();
  }

  private register<T, R>(method: string, map: Map<string, Entry<T, R>>, pluginId: string, id: unknown, contribution: T, implementation: R): Disposable {
    if (typeof id !== 'string' || !id.startsWith(`${pluginId}.`) || id.length === pluginId.length + 1) {
      throw new RangeError(`${method}: id must start with "${pluginId}." (got ${JSON.stringify(id)})`);
    }
    const existing = map.get(id);
    if (existing?.runtime) throw new RangeError(`${method}: "${id}" is already registered`);
    const entry: Entry<T, R> = existing ?? { pluginId };
    const runtime = { contribution: { ...contribution }, implementation };
    entry.runtime = runtime;
    map.set(id, entry);
    this.changed.fire();
    return toDisposable(() => {
      if (map.get(id) !== entry || entry.runtime !== runtime) return;
      entry.runtime = undefined;
      // A declared contribution stays listed (unavailable); a runtime-only one goes.
      if (!entry.declared) map.delete(id);
      this.changed.fire();
    });
  }
}
