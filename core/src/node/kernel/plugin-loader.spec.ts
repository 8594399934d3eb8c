import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { definePlugin, type EventMap, type PluginContext } from '@discordopus/sdk';
import type { Kernel } from './kernel.ts';
import { BOB, openTempProfile, startKernel, type TempProfile } from './kernel-test-support.ts';
import type { HelloApi } from '../../../../test/fixtures/plugins/hello/index.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const fixtures = path.join(repo, 'test/fixtures/plugins');

let profile: TempProfile;
let kernel: Kernel | undefined;

beforeEach(async () => {
  profile = await openTempProfile();
});

afterEach(async () => {
  await kernel?.stop();
  kernel = undefined;
  await profile.cleanup();
});

const byId = (k: Kernel) => Object.fromEntries(k.plugins().map((p) => [p.id, p]));

describe('third-party plugins from a folder', () => {
  it('loads each fixture as active or failed with its reason', async () => {
    ({ kernel } = await startKernel(profile, { thirdPartyPluginDir: fixtures, grants: { hello: { peers: true } } }));
    const plugins = byId(kernel);
    expect(plugins.hello).toMatchObject({
      state: 'active', version: '1.0.0', displayName: 'Hello', firstParty: false, permissions: { peers: true }, source: path.join(fixtures, 'hello'),
    });
    // Refused from package.json alone: importing its module would have failed differently.
    expect(plugins['bad-manifest']).toMatchObject({ state: 'failed', error: { code: 'plugin/invalid-manifest' } });
    expect(plugins['bad-manifest']!.error!.message).toContain('permissions');
    expect(plugins['throws-on-activate']).toMatchObject({ state: 'failed', error: { code: 'plugin/activation-failed' } });
    expect(plugins['throws-on-activate']!.error!.message).toContain('cannot reach the moon');
    expect(plugins['wants-contacts']).toMatchObject({ state: 'active', permissions: {}, requestedPermissions: { contacts: true, events: ['hello.*'] } });
    expect(plugins.messaging).toMatchObject({ state: 'failed', error: { code: 'plugin/reserved-id' }, source: path.join(fixtures, 'shadows-first-party') });
    expect(plugins['needs-newer-sdk']).toMatchObject({ state: 'failed', error: { code: 'plugin/incompatible-sdk' } });
    expect(kernel.contributions.commands().map((c) => c.id).sort()).toEqual(['hello.greet', 'wants-contacts.count', 'wants-contacts.watch']);
  });

  it('runs the README’s hello plugin: migration, command, channel, setting, event and API', async () => {
    let ctx: PluginContext | undefined;
    const friend = definePlugin({ id: 'friend', version: '1.0.0', dependsOn: ['hello'], activate: (c) => { ctx = c; } });
    const { kernel: k, services } = await startKernel(profile, { thirdPartyPluginDir: fixtures, grants: { hello: { peers: true } }, plugins: [friend] });
    kernel = k;
    const greeted = new Promise<EventMap['hello.greeted']>((resolve) => {
      const sub = kernel!.events.subscribe('hello.greeted', (payload) => { sub.dispose(); resolve(payload); });
    });
    await kernel.settings.set('hello.greeting', 'Hi!');
    // The loopback channel delivers the greeting back to hello's own handler, as if from Bob.
    await kernel.contributions.executeCommand('hello.greet', BOB);
    expect(await greeted).toEqual({ from: BOB, count: 1 });
    expect(services.channels.sent).toEqual(['hello/greeting']);
    expect(await ctx!.plugins.get<HelloApi>('hello').greetingsFrom(BOB)).toBe(1);
    await expect(kernel.contributions.executeCommand('hello.greet', 'do1-not-an-id')).rejects.toMatchObject({ code: 'identity/invalid-user-id' });
  });

  it('refuses what the user has not granted, and applies and keeps a grant', async () => {
    ({ kernel } = await startKernel(profile, { thirdPartyPluginDir: fixtures }));
    // hello registers a channel handler in activate: without `peers` it cannot start.
    expect(byId(kernel).hello).toMatchObject({ state: 'failed', error: { code: 'plugin/permission-denied' } });
    expect(byId(kernel).hello!.error!.message).toContain('"peers"');
    await expect(kernel.contributions.executeCommand('wants-contacts.count')).rejects.toMatchObject({
      code: 'plugin/permission-denied', message: expect.stringContaining('not granted'),
    });
    await expect(kernel.contributions.executeCommand('wants-contacts.watch')).rejects.toMatchObject({ code: 'plugin/permission-denied', message: expect.stringContaining('hello.greeted') });

    await kernel.grant('wants-contacts', { contacts: true, events: ['hello.*'] });
    expect(await kernel.contributions.executeCommand('wants-contacts.count')).toBe(1);
    expect(await kernel.contributions.executeCommand('wants-contacts.watch')).toBe(true);
    await kernel.stop();

    ({ kernel } = await startKernel(profile, { thirdPartyPluginDir: fixtures }));
    expect(kernel.grants()).toEqual({ 'wants-contacts': { contacts: true, events: ['hello.*'] } });
    expect(byId(kernel)['wants-contacts']!.permissions).toEqual({ contacts: true, events: ['hello.*'] });
    expect(await kernel.contributions.executeCommand('wants-contacts.count')).toBe(1);
  });

  it('does not grant what the manifest does not request', async () => {
    ({ kernel } = await startKernel(profile, { thirdPartyPluginDir: fixtures, grants: { 'wants-contacts': { peers: true, contacts: true } } }));
    expect(byId(kernel)['wants-contacts']!.permissions).toEqual({ contacts: true });
  });
});

describe('third-party plugin packages', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'discordopus-plugins-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (folder: string, files: Record<string, string>) => {
    mkdirSync(path.join(dir, folder), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, folder, name), text);
  };
  const pkg = (discordopus: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ name: 'x', version: '1.0.0', type: 'module', main: 'index.js', discordopus, ...extra });

  it('reports each broken package with what to fix', async () => {
    write('no-package', { 'index.js': 'export default {};' });
    write('not-json', { 'package.json': '{ nope' });
    write('no-field', { 'package.json': JSON.stringify({ name: 'x', version: '1.0.0' }) });
    write('outside', { 'package.json': pkg({ id: 'outside' }, { main: '../elsewhere.js' }) });
    write('missing-entry', { 'package.json': pkg({ id: 'missing-entry' }) });
    write('import-fails', { 'package.json': pkg({ id: 'import-fails' }), 'index.js': 'throw new Error("boom at import");' });
    write('no-default', { 'package.json': pkg({ id: 'no-default' }), 'index.js': 'export const x = 1;' });
    write('disagrees', {
      'package.json': pkg({ id: 'disagrees' }),
      'index.js': 'export default { id: "disagrees", version: "1.0.0", permissions: { contacts: true }, activate() {} };',
    });
    write('works', {
      'package.json': pkg({ id: 'works', contributes: { commands: [{ title: 'Ping', id: 'works.ping' }] } }, { exports: { '.': { import: './main.js' } } }),
      'main.js': 'export default { id: "works", activate(ctx) { ctx.subscriptions.push(ctx.ui.registerCommand({ id: "works.ping", title: "Ping" }, () => "pong")); } };',
    });
    write('.hidden', { 'package.json': '{}' });
    writeFileSync(path.join(dir, 'stray-file.txt'), 'not a plugin');

    ({ kernel } = await startKernel(profile, { thirdPartyPluginDir: dir }));
    const statuses = Object.fromEntries(kernel.plugins().map((p) => [p.id, p]));
    expect(Object.keys(statuses).sort()).toEqual(['disagrees', 'import-fails', 'missing-entry', 'no-default', 'no-field', 'no-package', 'not-json', 'outside', 'works']);
    const expectations: [string, string, string][] = [
      ['no-package', 'plugin/invalid-package', 'package.json'],
      ['not-json', 'plugin/invalid-package', 'package.json'],
      ['no-field', 'plugin/invalid-package', '"discordopus"'],
      ['outside', 'plugin/invalid-package', 'outside the plugin folder'],
      ['missing-entry', 'plugin/invalid-package', 'does not exist'],
      ['import-fails', 'plugin/load-failed', 'boom at import'],
      ['no-default', 'plugin/invalid-package', 'default export'],
      ['disagrees', 'plugin/invalid-package', 'permissions'],
    ];
    for (const [id, code, text] of expectations) {
      expect(statuses[id], id).toMatchObject({ state: 'failed', error: { code } });
      expect(statuses[id]!.error!.message, id).toContain(text);
    }
    expect(statuses.works!.state).toBe('active');
    expect(await kernel.contributions.executeCommand('works.ping')).toBe('pong');
  });

  it('lets a third-party plugin use another plugin\'s API or events only when it requests "apis" and the user grants it', async () => {
    write('vault', {
      'package.json': pkg({ id: 'vault' }),
      'index.js': 'export default { id: "vault", version: "1.0.0", activate() { return { secret: () => "the user\'s messages" }; } };',
    });
    const dependent = (id: string, permissions?: object) => {
      const manifest = {
        id, dependsOn: ['vault'], ...(permissions ? { permissions } : {}),
        contributes: { commands: [{ id: `${id}.read`, title: 'Read' }, { id: `${id}.listen`, title: 'Listen' }] },
      };
      write(id, {
        'package.json': pkg(manifest),
        'index.js': `export default { ...${JSON.stringify(manifest)}, version: "1.0.0", activate(ctx) {
          ctx.subscriptions.push(ctx.ui.registerCommand({ id: "${id}.read", title: "Read" }, () => ctx.plugins.get("vault").secret()));
          ctx.subscriptions.push(ctx.ui.registerCommand({ id: "${id}.listen", title: "Listen" }, () => { ctx.subscriptions.push(ctx.events.subscribe("vault.opened", () => {})); return true; }));
        } };`,
      });
    };
    dependent('sneaky');
    dependent('asks', { apis: ['vault'] });
    write('undeclared', { 'package.json': pkg({ id: 'undeclared', permissions: { apis: ['vault'] } }), 'index.js': 'export default { id: "undeclared", version: "1.0.0", permissions: { apis: ["vault"] }, activate() {} };' });

    ({ kernel } = await startKernel(profile, { thirdPartyPluginDir: dir }));
    expect(byId(kernel).undeclared).toMatchObject({ state: 'failed', error: { code: 'plugin/invalid-manifest', message: expect.stringContaining('dependsOn') } });
    await expect(kernel.contributions.executeCommand('sneaky.read')).rejects.toMatchObject({
      code: 'plugin/permission-denied', message: expect.stringMatching(/"apis:vault".*does not request/),
    });
    await expect(kernel.contributions.executeCommand('asks.read')).rejects.toMatchObject({
      code: 'plugin/permission-denied', message: expect.stringMatching(/"apis:vault".*not granted/),
    });
    // Its events are the same power: listed in dependsOn is not enough.
    await expect(kernel.contributions.executeCommand('asks.listen')).rejects.toMatchObject({ code: 'plugin/permission-denied', message: expect.stringContaining('vault.opened') });

    await kernel.grant('asks', { apis: ['vault'] });
    expect(await kernel.contributions.executeCommand('asks.read')).toBe("the user's messages");
    expect(await kernel.contributions.executeCommand('asks.listen')).toBe(true);
    // A grant to a plugin that did not request it does nothing.
    await kernel.grant('sneaky', { apis: ['vault'] });
    await expect(kernel.contributions.executeCommand('sneaky.read')).rejects.toMatchObject({ code: 'plugin/permission-denied' });
    await kernel.stop();

    ({ kernel } = await startKernel(profile, { thirdPartyPluginDir: dir }));
    expect(byId(kernel).asks!.permissions).toEqual({ apis: ['vault'] });
    expect(await kernel.contributions.executeCommand('asks.read')).toBe("the user's messages");
  });

  it('treats a plugin folder that does not exist as empty', async () => {
    ({ kernel } = await startKernel(profile, { thirdPartyPluginDir: path.join(dir, 'absent') }));
    expect(kernel.plugins()).toEqual([]);
  });
});

describe('sdk/README.md', () => {
  it('shows the hello fixture’s code and manifest verbatim', () => {
    const readme = readFileSync(path.join(repo, 'sdk/README.md'), 'utf8');
    for (const file of ['index.ts', 'package.json']) {
      const code = readFileSync(path.join(fixtures, 'hello', file), 'utf8').trim();
      expect(readme, `README must contain hello/${file}`).toContain(code);
    }
  });
});
