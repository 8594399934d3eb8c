import { AppError, pluginManifestSchema, SDK_VERSION, type PluginDefinition, type PluginManifest } from '@discordopus/sdk';
import { satisfies } from './semver-range.ts';

const CODE_FIELDS = new Set(['activate', 'deactivate', 'migrations']);

/** The manifest part of a definition: everything but code and migrations. */
export function manifestOf(definition: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(definition).filter(([name]) => !CODE_FIELDS.has(name)));
}

/**
 * Checks a manifest against the SDK schema and the rules the schema cannot express: contribution
 * ids namespaced by the plugin id, no self-dependency, and `engines.sdk` accepting this SDK.
 * @param label how to name the plugin in messages when its id is unreadable (folder name).
 * @throws AppError `plugin/invalid-manifest` or `plugin/incompatible-sdk`
 */
export function validateManifest(raw: unknown, label: string): PluginManifest {
  const parsed = pluginManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(manifest)'}: ${issue.message}`).join('; ');
    throw invalid(label, problems);
  }
  const manifest = parsed.data as PluginManifest;
  const { id } = manifest;
  const contributes = manifest.contributes ?? {};
  const ids = [...(contributes.commands ?? []).map((c) => c.id), ...(contributes.views ?? []).map((v) => v.id), ...(contributes.settings ?? []).map((s) => s.key)];
  const foreign = ids.filter((cid) => !cid.startsWith(`${id}.`));
  if (foreign.length > 0) throw invalid(id, `contributions must be namespaced "${id}.<name>": ${foreign.join(', ')}`);
  const dependsOn = manifest.dependsOn ?? [];
  if (dependsOn.includes(id)) throw invalid(id, 'dependsOn lists the plugin itself');
  if (new Set(dependsOn).size !== dependsOn.length) throw invalid(id, 'dependsOn lists a plugin twice');
  const undeclared = (manifest.permissions?.apis ?? []).filter((api) => !dependsOn.includes(api));
  if (undeclared.length > 0) throw invalid(id, `permissions.apis names plugins missing from dependsOn: ${undeclared.join(', ')}`);
  const range = manifest.engines?.sdk;
  if (range !== undefined) {
    let ok: boolean;
    try {
      ok = satisfies(SDK_VERSION, range);
    } catch {
      throw invalid(id, `engines.sdk "${range}" is not a semver range`);
    }
    if (!ok) {
      throw new AppError('plugin/incompatible-sdk', `Plugin "${id}" needs SDK ${range}, but this app provides SDK ${SDK_VERSION}. Install a version of the plugin made for SDK ${SDK_VERSION}, or update the app.`, {
        details: { pluginId: id, range, sdk: SDK_VERSION },
      });
    }
  }
  return manifest;
}

/**
 * Checks a whole plugin definition: its manifest, `activate`, `deactivate` and `migrations`.
 * @throws AppError `plugin/invalid-manifest` or `plugin/incompatible-sdk`
 */
export function validateDefinition(raw: unknown, label: string): PluginDefinition {
  if (raw === null || typeof raw !== 'object') throw invalid(label, 'the plugin is not an object (export definePlugin({...}) as default)');
  const definition = raw as Record<string, unknown>;
  const manifest = validateManifest(manifestOf(definition), typeof definition.id === 'string' ? definition.id : label);
  if (typeof definition.activate !== 'function') throw invalid(manifest.id, 'activate must be a function');
  if (definition.deactivate !== undefined && typeof definition.deactivate !== 'function') throw invalid(manifest.id, 'deactivate must be a function');
  const migrations = definition.migrations;
  if (migrations !== undefined) {
    const ok = Array.isArray(migrations) && migrations.every((m) => m !== null && typeof m === 'object' && typeof m.id === 'string' && m.id.length > 0 && typeof m.up === 'function');
    if (!ok) throw invalid(manifest.id, 'migrations must be a list of { id: string, up(db) }');
  }
  return raw as PluginDefinition;
}

function invalid(label: string, problems: string): AppError {
  return new AppError('plugin/invalid-manifest', `Plugin "${label}" has an invalid manifest (${problems}). Fix the manifest or remove the plugin.`, {
    details: { pluginId: label },
  });
}
