import { AppError, type PermissionName, type PluginPermissions } from '@discordopus/sdk';

/**
 * What the user granted each third-party plugin, by plugin id. A third-party plugin holds a
 * permission only when its manifest requests it AND it is granted here; `events` patterns and
 * `apis` ids must appear, letter for letter, in both lists.
 */
export type PermissionGrants = Record<string, PluginPermissions>;

/** Ids no plugin may take: they name kernel event topics and services. */
export const RESERVED_PLUGIN_IDS: ReadonlySet<string> = new Set([
  'kernel', 'contacts', 'presence', 'link', 'plugin', 'plugins', 'identity', 'channels', 'storage', 'settings',
  'commands', 'events', 'core', 'sdk',
]);

/** Ids of first-party plugins; a third-party plugin cannot take them even when they are not loaded. */
export const FIRST_PARTY_PLUGIN_IDS: ReadonlySet<string> = new Set(['messaging', 'files', 'groups', 'calls', 'sfu']);

/**
 * Kernel topics a plugin may subscribe to, with the permission each needs (null: none), so a
 * plugin without `contacts` cannot learn about contacts through the bus either.
 */
export const KERNEL_TOPICS: ReadonlyMap<string, PermissionName | null> = new Map<string, PermissionName | null>([
  ['kernel.ready', null],
  ['plugin.failed', null],
  ['contacts.changed', 'contacts'],
  ['presence.changed', 'contacts'],
  ['link.changed', 'peers'],
]);

const BOOLEAN_PERMISSIONS: readonly PermissionName[] = ['contacts', 'peers', 'files', 'network'];
/** Permissions that list what they cover (topic patterns, plugin ids); stored as `name:value`. */
const LIST_PERMISSIONS = ['events', 'apis'] as const;

/** The permissions a plugin actually holds. First-party plugins hold what they request. */
export function effectivePermissions(requested: PluginPermissions | undefined, firstParty: boolean, granted: PluginPermissions | undefined): PluginPermissions {
  const result: PluginPermissions = {};
  const req = requested ?? {};
  for (const name of BOOLEAN_PERMISSIONS) {
    if (req[name] === true && (firstParty || granted?.[name] === true)) result[name] = true;
  }
  for (const name of LIST_PERMISSIONS) {
    const held = (req[name] ?? []).filter((value) => firstParty || (granted?.[name] ?? []).includes(value));
    if (held.length > 0) result[name] = held;
  }
  return result;
}

/** True when `topic` matches an `events` pattern: exact, `prefix.*`, or `*`. */
export function topicMatches(pattern: string, topic: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return topic.startsWith(pattern.slice(0, -1));
  return pattern === topic;
}

/** The error every refused plugin call throws. */
export function permissionDenied(pluginId: string, permission: string, requested: boolean): AppError {
  const why = requested
    ? `the user has not granted it. Grant "${permission}" to "${pluginId}" in the plugin settings if you trust it`
    : `its manifest does not request it. The plugin author must add it to "permissions" in the manifest`;
  return new AppError('plugin/permission-denied', `Plugin "${pluginId}" is not allowed to use "${permission}": ${why}.`, {
    details: { pluginId, permission },
  });
}

/** Encodes grants as a setting value (`['contacts', 'events:messaging.*']`) for the settings table. */
export function grantsToList(permissions: PluginPermissions): string[] {
  const list: string[] = BOOLEAN_PERMISSIONS.filter((name) => permissions[name] === true);
  for (const name of LIST_PERMISSIONS) for (const value of permissions[name] ?? []) list.push(`${name}:${value}`);
  return list;
}

/** Inverse of {@link grantsToList}; unknown entries are ignored. */
export function grantsFromList(list: readonly string[]): PluginPermissions {
  const result: PluginPermissions = {};
  for (const entry of list) {
    const listed = LIST_PERMISSIONS.find((name) => entry.startsWith(`${name}:`));
    if (listed) (result[listed] ??= []).push(entry.slice(listed.length + 1));
    else if ((BOOLEAN_PERMISSIONS as readonly string[]).includes(entry)) result[entry as PermissionName] = true;
  }
  return result;
}
