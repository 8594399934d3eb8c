import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppError, isAppError, type PluginDefinition, type PluginManifest } from '@discordopus/sdk';
import { manifestOf, validateManifest } from './plugin-validation.ts';

/** A plugin as the host receives it: a definition to validate, or why it could not be loaded. */
export interface PluginCandidate {
  firstParty: boolean;
  /** Where it came from: `first-party` or the plugin's folder. */
  source: string;
  /** The id to report when the definition is unusable (the folder name for third-party plugins). */
  label: string;
  definition?: unknown;
  /** Version to report when loading failed early. */
  version?: string;
  error?: AppError;
}

/**
 * Loads the third-party plugins in `dir`: every subfolder is one plugin.
 *
 * A plugin folder holds a `package.json` whose `discordopus` field is the plugin manifest
 * (id, permissions, contributions, ...; `version` defaults to the package version) and whose
 * `exports` (or `main`) names an ESM module whose default export is the `definePlugin({...})`
 * object. The manifest is read from package.json and validated BEFORE the module is imported,
 * so a plugin with a bad manifest never runs any code; the module then supplies `activate`,
 * `deactivate` and `migrations`; manifest fields it repeats (`id`, `version` for definePlugin's
 * type) must equal package.json's.
 *
 * Importing runs the plugin's code in this process: the permission checks guard the SDK
 * services, they are not a sandbox. Install only plugins you trust.
 */
export async function loadThirdPartyPlugins(dir: string, options: LoadOptions = {}): Promise<PluginCandidate[]> {
  if (!existsSync(dir)) return [];
  const folders = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();
  const candidates: PluginCandidate[] = [];
  for (const name of folders) candidates.push(await loadOne(path.join(dir, name), name, options));
  return candidates;
}

export interface LoadOptions {
  /** Refuses a plugin by its manifest before its code is imported (e.g. an id it may not take). */
  refuse?: (manifest: PluginManifest, folder: string) => AppError | undefined;
}

async function loadOne(folder: string, label: string, options: LoadOptions): Promise<PluginCandidate> {
  const base = { firstParty: false, source: folder, label };
  let pkg: Record<string, unknown>;
  try {
    pkg = JSON.parse(readFileSync(path.join(folder, 'package.json'), 'utf8')) as Record<string, unknown>;
    if (pkg === null || typeof pkg !== 'object' || Array.isArray(pkg)) throw new Error('not a JSON object');
  } catch (error) {
    return { ...base, error: badPackage(label, folder, `package.json is missing or unreadable (${(error as Error).message})`) };
  }
  const field = pkg.discordopus;
  if (field === null || typeof field !== 'object' || Array.isArray(field)) {
    return { ...base, error: badPackage(label, folder, 'package.json has no "discordopus" manifest object') };
  }
  const rawManifest: Record<string, unknown> = { ...(typeof pkg.version === 'string' ? { version: pkg.version } : {}), ...(field as Record<string, unknown>) };
  const version = typeof rawManifest.version === 'string' ? rawManifest.version : undefined;
  let manifest;
  try {
    manifest = validateManifest(rawManifest, typeof rawManifest.id === 'string' ? rawManifest.id : label);
  } catch (error) {
    return { ...base, version, label: typeof rawManifest.id === 'string' ? rawManifest.id : label, error: error as AppError };
  }
  const labelled = { ...base, label: manifest.id, version: manifest.version };
  const refusal = options.refuse?.(manifest, folder);
  if (refusal) return { ...labelled, error: refusal };

  const entry = entryOf(pkg);
  const entryPath = path.resolve(folder, entry);
  const relative = path.relative(folder, entryPath);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    return { ...labelled, error: badPackage(manifest.id, folder, `its entry "${entry}" lies outside the plugin folder`) };
  }
  if (!existsSync(entryPath) || !statSync(entryPath).isFile()) {
    return { ...labelled, error: badPackage(manifest.id, folder, `its entry "${entry}" does not exist`) };
  }
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(entryPath).href)) as { default?: unknown };
  } catch (error) {
    return {
      ...labelled,
      error: isAppError(error) ? error : new AppError('plugin/load-failed', `Plugin "${manifest.id}" could not be loaded from ${entryPath}: ${(error as Error)?.message ?? String(error)}. Reinstall or remove the plugin.`, {
        cause: error, details: { pluginId: manifest.id },
      }),
    };
  }
  const code = module.default as Partial<PluginDefinition> | undefined;
  if (code === null || typeof code !== 'object') {
    return { ...labelled, error: badPackage(manifest.id, folder, `its entry "${entry}" has no default export (export default definePlugin({...}))`) };
  }
  // The manifest lives in package.json; a module that repeats a field must agree, so nothing
  // an author writes in the module is silently ignored.
  const disagreeing = Object.entries(manifestOf(code as Record<string, unknown>))
    .filter(([name, value]) => canonical(value) !== canonical((manifest as unknown as Record<string, unknown>)[name]))
    .map(([name]) => name);
  if (disagreeing.length > 0) {
    return { ...labelled, error: badPackage(manifest.id, folder, `its module's ${disagreeing.join(', ')} differ from package.json's "discordopus" manifest (keep the manifest in package.json)`) };
  }
  const definition: Record<string, unknown> = { ...manifest };
  if (code.activate !== undefined) definition.activate = typeof code.activate === 'function' ? (ctx: unknown) => code.activate!.call(code, ctx as never) : code.activate;
  if (code.deactivate !== undefined) definition.deactivate = typeof code.deactivate === 'function' ? () => code.deactivate!.call(code) : code.deactivate;
  if (code.migrations !== undefined) definition.migrations = code.migrations;
  return { ...labelled, definition };
}

/** JSON with sorted keys, so key order does not count as a difference. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : 1)))
      : item);
}

function entryOf(pkg: Record<string, unknown>): string {
  const exports = pkg.exports;
  if (typeof exports === 'string') return exports;
  if (exports !== null && typeof exports === 'object') {
    const dot = (exports as Record<string, unknown>)['.'];
    if (typeof dot === 'string') return dot;
    if (dot !== null && typeof dot === 'object') {
      const conditional = dot as Record<string, unknown>;
      for (const condition of ['import', 'default']) if (typeof conditional[condition] === 'string') return conditional[condition] as string;
    }
  }
  return typeof pkg.main === 'string' ? pkg.main : 'index.js';
}

function badPackage(label: string, folder: string, problem: string): AppError {
  return new AppError('plugin/invalid-package', `Plugin folder "${folder}" (${label}) cannot be loaded: ${problem}. Fix the plugin package or remove the folder.`, {
    details: { pluginId: label, folder },
  });
}
