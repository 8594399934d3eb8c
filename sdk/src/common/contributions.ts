import type { Disposable } from './disposable.ts';

/**
 * UI contributions are typed data: a plugin says what it offers, the shell (desktop app, web
 * renderer, CLI) decides how to show it. Ids are namespaced by the plugin id (`chat.sendMessage`).
 */

/** A command a user can run from a menu, a keybinding or the command palette. */
export interface CommandContribution {
  /** Namespaced id, `<pluginId>.<name>`, e.g. `messaging.send`. */
  id: string;
  title: string;
  /** Optional category shown before the title in the palette. */
  category?: string;
  /** Keybinding in Electron accelerator syntax, e.g. `CmdOrCtrl+Shift+M`. */
  keybinding?: string;
}

/** Where a view is placed by the shell. */
export type ViewLocation = 'sidebar' | 'conversation' | 'conversation-toolbar' | 'settings' | 'panel';

/**
 * A view the shell renders. Views are declarative: the shell asks the plugin for the view's
 * current model through `getModel` and re-renders when `onDidChange` fires. A renderer
 * component registered under `component` (by a renderer-side plugin module) may render the
 * model; otherwise the shell's generic renderer shows it.
 */
export interface ViewContribution {
  id: string;
  title: string;
  location: ViewLocation;
  /** Name of the renderer component that renders this view (`messaging.Conversation`). */
  component?: string;
  /** Lower numbers come first. */
  order?: number;
  /** Accessible label; defaults to `title`. */
  ariaLabel?: string;
}

/** The type of a setting's value, as the settings screen edits it. */
export type SettingType = 'string' | 'number' | 'boolean' | 'enum' | 'string-list';

/** A user-editable setting, shown on the settings screen. Stored per profile. */
export interface SettingContribution {
  /** Namespaced key, `<pluginId>.<name>`, e.g. `messaging.sendReadReceipts`. */
  key: string;
  title: string;
  description?: string;
  type: SettingType;
  default: SettingValue;
  /** For `enum` settings. */
  options?: readonly string[];
}

export type SettingValue = string | number | boolean | readonly string[];

/** Static contributions declared in a manifest. */
export interface Contributions {
  commands?: CommandContribution[];
  views?: ViewContribution[];
  settings?: SettingContribution[];
}

/** Registry through which a plugin adds contributions at run time. */
export interface ContributionRegistry {
  registerCommand(command: CommandContribution, run: (...args: unknown[]) => unknown): Disposable;
  registerView(view: ViewContribution, getModel: () => unknown): Disposable;
  registerSetting(setting: SettingContribution): Disposable;
}
