import { describe, expect, it } from 'vitest';
import { definePlugin, pluginManifestSchema, tablePrefixFor } from './plugin.ts';

describe('plugin manifests', () => {
  it('accept a complete manifest', () => {
    const plugin = definePlugin({
      id: 'hello-world', version: '1.2.3', dependsOn: ['messaging'], permissions: { peers: true, events: ['messaging.*'] },
      contributes: { commands: [{ id: 'hello-world.greet', title: 'Greet' }], settings: [{ key: 'hello-world.loud', title: 'Loud', type: 'boolean', default: false }] },
      activate: () => undefined,
    });
    const { activate: _a, ...manifest } = plugin;
    expect(pluginManifestSchema.parse(manifest).id).toBe('hello-world');
  });

  it.each([
    [{ id: 'X', version: '1.0.0' }, 'id'],
    [{ id: 'ok', version: '1.0' }, 'version'],
    [{ id: 'ok', version: '1.0.0', permissions: { root: true } }, 'permissions'],
    [{ id: 'ok', version: '1.0.0', extra: 1 }, ''],
    [{ id: 'ok', version: '1.0.0', contributes: { commands: [{ id: 'nodot', title: 't' }] } }, 'contributes'],
  ])('reject %j', (manifest, path) => {
    const result = pluginManifestSchema.safeParse(manifest);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.')).join(' ')).toContain(path);
  });

  it('derive SQL-safe table prefixes', () => {
    expect(tablePrefixFor('hello-world')).toBe('hello_world_');
  });
});
