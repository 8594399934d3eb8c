import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Disposable } from './disposable.ts';
import type { ContributionRegistry, Contributions } from './contributions.ts';
import type {
  ContactsService, EventBus, IdentityInfo, Logger, PluginApis, PeerStreams, PluginStorage, SecureChannels, SettingsService,
} from './services.ts';

/** Version of this SDK; a plugin's `engines.sdk` range is checked against it. */
export const SDK_VERSION = '0.1.0';

/**
 * One migration step of a plugin's tables. Steps run in `id` order, each once per profile, all
 * pending steps of a plugin in one transaction; a failing step rolls them back and names the
 * plugin and step. Table names must start with the plugin's `tablePrefix`.
 */
export interface PluginMigration {
  /** Ordered id, conventionally numbered in steps of 10: `0010-create-messages`. */
  id: string;
  up(db: Kysely<any>): Promise<void>;
}

/**
 * What a plugin asks to be allowed. First-party plugins get what they declare; a third-party
 * plugin gets it only when the user grants it (the host shows the list).
 */
export interface PluginPermissions {
  /** Read the contact list and presence. */
  contacts?: boolean;
  /** Exchange end-to-end encrypted messages with contacts on the plugin's own channels. */
  peers?: boolean;
  /** Event topics of other plugins it may subscribe to (`'messaging.*'`). */
  events?: string[];
  /**
   * Plugins whose APIs (`ctx.plugins.get`) and events it may use; each must also be in
   * `dependsOn`. An API acts with its plugin's power (`'messaging'` reads and sends the user's
   * messages), so a third-party plugin gets it only when the user grants it.
   */
  apis?: string[];
  /** Read or write user files outside the profile (e.g. saving received files). */
  files?: boolean;
  /** Open network connections of its own (beyond peers). */
  network?: boolean;
}

export type PermissionName = Exclude<keyof PluginPermissions, 'events' | 'apis'>;

/** The static description of a plugin, validated by the host before anything runs. */
export interface PluginManifest {
  /** Lower-case id, 2-32 characters of `a-z 0-9 -`, starting with a letter; first-party ids are reserved. */
  id: string;
  /** Semantic version of the plugin. */
  version: string;
  displayName?: string;
  description?: string;
  /** SDK versions the plugin works with, as a semver range (`^0.1.0`). Defaults to any. */
  engines?: { sdk: string };
  /** Ids of plugins that must be activated first; their APIs are reachable through `ctx.plugins`. */
  dependsOn?: string[];
  permissions?: PluginPermissions;
  contributes?: Contributions;
}

/** Everything a plugin gets from the kernel. All of it is SDK services; none of it holds keys. */
export interface PluginContext {
  readonly pluginId: string;
  /** Push every disposable here; the host disposes them in reverse order on deactivation. */
  readonly subscriptions: Disposable[];
  readonly identity: IdentityInfo;
  readonly contacts: ContactsService;
  readonly channels: SecureChannels;
  /** Direct peer-to-peer byte streams for bulk data (needs the `peers` permission). */
  readonly streams: PeerStreams;
  readonly storage: PluginStorage;
  readonly settings: SettingsService;
  readonly events: EventBus;
  readonly ui: ContributionRegistry;
  readonly log: Logger;
  readonly plugins: PluginApis;
  /** A folder for this plugin's own files inside the profile (created on first use). */
  readonly dataDir: string;
}

/** A plugin: its manifest, its migrations and its activation function. */
export interface PluginDefinition<Api = unknown> extends PluginManifest {
  migrations?: PluginMigration[];
  /**
   * Called once the plugin's dependencies are active and its migrations have run. May return an
   * API object that plugins depending on this one reach through `ctx.plugins.get(id)`.
   * A plugin that throws here is disabled and reported; the rest of the app keeps running.
   */
  activate(ctx: PluginContext): Api | Promise<Api>;
  /** Called on shutdown, in reverse activation order, before `ctx.subscriptions` are disposed. */
  deactivate?(): void | Promise<void>;
}

/**
 * Declares a plugin. The returned object is what a plugin module exports as default.
 *
 * @example
 * export default definePlugin({
 *   id: 'hello', version: '1.0.0', permissions: { peers: true },
 *   activate(ctx) {
 *     ctx.subscriptions.push(ctx.channels.onMessage('greeting', (m) => ctx.log.info('greeted', { from: m.from })));
 *   },
 * });
 */
export function definePlugin<Api = unknown>(definition: PluginDefinition<Api>): PluginDefinition<Api> {
  return definition;
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const PLUGIN_ID = /^[a-z][a-z0-9-]{1,31}$/;
const NAMESPACED = /^[a-z][a-z0-9-]*\.[A-Za-z0-9.-]+$/;

const settingValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);

/** Schema of {@link PluginManifest}; the host validates every plugin against it. */
export const pluginManifestSchema = z.strictObject({
  id: z.string().regex(PLUGIN_ID, 'must be 2-32 characters of a-z, 0-9 and -, starting with a letter'),
  version: z.string().regex(SEMVER, 'must be a semantic version such as 1.2.3'),
  displayName: z.string().max(64).optional(),
  description: z.string().max(500).optional(),
  engines: z.strictObject({ sdk: z.string().max(64) }).optional(),
  dependsOn: z.array(z.string().regex(PLUGIN_ID)).max(32).optional(),
  permissions: z
    .strictObject({
      contacts: z.boolean().optional(),
      peers: z.boolean().optional(),
      events: z.array(z.string().max(128)).max(64).optional(),
      apis: z.array(z.string().regex(PLUGIN_ID)).max(32).optional(),
      files: z.boolean().optional(),
      network: z.boolean().optional(),
    })
    .optional(),
  contributes: z
    .strictObject({
      commands: z
        .array(z.strictObject({
          id: z.string().regex(NAMESPACED), title: z.string().max(100), category: z.string().max(50).optional(),
          keybinding: z.string().max(50).optional(),
        }))
        .optional(),
      views: z
        .array(z.strictObject({
          id: z.string().regex(NAMESPACED), title: z.string().max(100),
          location: z.enum(['sidebar', 'conversation', 'conversation-toolbar', 'settings', 'panel']),
          component: z.string().max(100).optional(), order: z.number().optional(), ariaLabel: z.string().max(200).optional(),
        }))
        .optional(),
      settings: z
        .array(z.strictObject({
          key: z.string().regex(NAMESPACED), title: z.string().max(100), description: z.string().max(500).optional(),
          type: z.enum(['string', 'number', 'boolean', 'enum', 'string-list']), default: settingValue,
          options: z.array(z.string()).optional(),
        }))
        .optional(),
    })
    .optional(),
});

/** The table-name prefix of a plugin's tables: `my-plugin` → `my_plugin_`. */
export function tablePrefixFor(pluginId: string): string {
  return `${pluginId.replaceAll('-', '_')}_`;
}
