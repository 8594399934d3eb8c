import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import {
  AppError, definePlugin, EventBus, nextEvent, toDisposable, type Disposable, type EventMap, type PluginContext,
  type PluginDefinition,
} from '@discordopus/sdk';
import { Kernel } from './kernel.ts';
import { BOB, openTempProfile, startKernel, type TempProfile } from './kernel-test-support.ts';

/** The bus without the compile-time topic map, for topics the tests make up. */
interface LooseBus {
  publish(topic: string, payload: unknown): void;
  subscribe(topic: string, handler: (payload: unknown) => void): Disposable;
}
const loose = (bus: EventBus): LooseBus => bus as unknown as LooseBus;

function plugin(id: string, rest: Partial<PluginDefinition> = {}): PluginDefinition {
  return definePlugin({ id, version: '1.0.0', activate: () => undefined, ...rest });
}

/** A plugin that hands its context to the test. */
function probe(id: string, rest: Partial<PluginDefinition> = {}): { definition: PluginDefinition; ctx: () => PluginContext } {
  let captured: PluginContext | undefined;
  return {
    definition: plugin(id, { ...rest, activate: (ctx) => { captured = ctx; return rest.activate?.(ctx); } }),
    ctx: () => captured ?? expect.unreachable(`${id} was not activated`),
  };
}

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

describe('Kernel dependencies', () => {
  it('activates plugins after their dependencies and hands them the dependencies’ APIs', async () => {
    const order: string[] = [];
    let fromB: unknown;
    const c = plugin('top', { dependsOn: ['mid'], activate: (ctx) => { order.push('top'); fromB = ctx.plugins.get<{ name: string }>('mid').name; } });
    const b = plugin('mid', { dependsOn: ['base'], activate: () => { order.push('mid'); return { name: 'api of mid' }; } });
    const a = plugin('base', { activate: () => { order.push('base'); } });
    let ready: EventMap['kernel.ready'] | undefined;
    ({ kernel } = await startKernel(profile, {
      plugins: [c, b, a],
      bind: (container) => { container.get<EventBus>(EventBus).subscribe('kernel.ready', (p) => { ready = p; }); },
    }));
    expect(order).toEqual(['base', 'mid', 'top']);
    expect(fromB).toBe('api of mid');
    expect(ready).toEqual({ plugins: ['base', 'mid', 'top'] });
    expect(kernel.plugins().map((p) => [p.id, p.state])).toEqual([['top', 'active'], ['mid', 'active'], ['base', 'active']]);
  });

  it('refuses the API of a plugin that is not a declared dependency', async () => {
    const p = probe('top', { dependsOn: ['mid'] });
    ({ kernel } = await startKernel(profile, { plugins: [plugin('base'), plugin('mid'), p.definition] }));
    expect(() => p.ctx().plugins.get('base')).toThrow(expect.objectContaining({ code: 'plugin/not-a-dependency', message: expect.stringContaining('"base"') }));
  });

  it('fails a plugin whose dependency is missing, naming both, and starts the others', async () => {
    ({ kernel } = await startKernel(profile, { plugins: [plugin('needy', { dependsOn: ['ghost'] }), plugin('fine')] }));
    const [needy, fine] = kernel.plugins();
    expect(needy).toMatchObject({ id: 'needy', state: 'failed', error: { code: 'plugin/missing-dependency' } });
    expect(needy!.error!.message).toContain('"needy"');
    expect(needy!.error!.message).toContain('"ghost"');
    expect(fine).toMatchObject({ id: 'fine', state: 'active' });
  });

  it('fails every plugin in a dependency cycle, naming them all, and those that depend on them', async () => {
    ({ kernel } = await startKernel(profile, {
      plugins: [
        plugin('one', { dependsOn: ['three'] }), plugin('two', { dependsOn: ['one'] }), plugin('three', { dependsOn: ['two'] }),
        plugin('after', { dependsOn: ['two'] }), plugin('alone'),
      ],
    }));
    const byId = Object.fromEntries(kernel.plugins().map((p) => [p.id, p]));
    for (const id of ['one', 'two', 'three']) {
      expect(byId[id]).toMatchObject({ state: 'failed', error: { code: 'plugin/dependency-cycle' } });
      for (const member of ['one', 'two', 'three']) expect(byId[id]!.error!.message).toContain(`"${member}"`);
    }
    expect(byId.after).toMatchObject({ state: 'failed', error: { code: 'plugin/dependency-failed' } });
    expect(byId.after!.error!.message).toContain('"two"');
    expect(byId.alone!.state).toBe('active');
  });
});

describe('Kernel activation failures', () => {
  it('isolates plugins that throw, reject or time out, and skips their dependents', async () => {
    const failed: EventMap['plugin.failed'][] = [];
    let lateResolve: () => void = () => {};
    const late = new Promise<void>((resolve) => { lateResolve = resolve; });
    let lateRegistered = false;
    const healthy = probe('healthy');
    ({ kernel } = await startKernel(profile, {
      activationTimeoutMs: 300,
      bind: (container) => { container.get<EventBus>(EventBus).subscribe('plugin.failed', (p) => failed.push(p)); },
      plugins: [
        plugin('thrower', {
          activate: (ctx) => {
            ctx.subscriptions.push(ctx.ui.registerCommand({ id: 'thrower.run', title: 'Run' }, () => 1));
            throw new Error('database exploded');
          },
        }),
        plugin('rejecter', { activate: async () => { throw new AppError('rejecter/broken', 'Rejecter is broken.'); } }),
        plugin('sleeper', {
          activate: async (ctx) => {
            await late;
            lateRegistered = true;
            ctx.subscriptions.push(ctx.ui.registerCommand({ id: 'sleeper.run', title: 'Run' }, () => 1));
          },
        }),
        plugin('dependent', { dependsOn: ['thrower'] }),
        healthy.definition,
      ],
    }));
    const byId = Object.fromEntries(kernel.plugins().map((p) => [p.id, p]));
    expect(byId.thrower).toMatchObject({ state: 'failed', error: { code: 'plugin/activation-failed' } });
    expect(byId.thrower!.error!.message).toContain('database exploded');
    expect(byId.rejecter).toMatchObject({ state: 'failed', error: { code: 'rejecter/broken', message: 'Rejecter is broken.' } });
    expect(byId.sleeper).toMatchObject({ state: 'failed', error: { code: 'plugin/activation-timeout' } });
    expect(byId.dependent).toMatchObject({ state: 'failed', error: { code: 'plugin/dependency-failed' } });
    expect(byId.healthy!.state).toBe('active');
    expect(failed.map((f) => f.pluginId).sort()).toEqual(['dependent', 'rejecter', 'sleeper', 'thrower']);
    // What the thrower registered before throwing is gone.
    expect(kernel.contributions.commands().map((c) => c.id)).not.toContain('thrower.run');

    // The timed-out plugin finishing late does not leave its registrations behind.
    const changed = nextEvent(kernel.contributions.onDidChange, () => !kernel!.contributions.commands().some((c) => c.id === 'sleeper.run') && lateRegistered);
    lateResolve();
    await changed;
    expect(kernel.contributions.commands().map((c) => c.id)).not.toContain('sleeper.run');

    // The healthy plugin and the kernel keep working.
    const seen: unknown[] = [];
    healthy.ctx().subscriptions.push(loose(healthy.ctx().events).subscribe('healthy.ping', (p) => seen.push(p)));
    loose(kernel.events).publish('healthy.ping', 1);
    expect(seen).toEqual([1]);
  });
});

describe('Kernel stop', () => {
  it('deactivates in reverse activation order and disposes subscriptions in reverse', async () => {
    const log: string[] = [];
    const make = (id: string, dependsOn: string[] = []) => plugin(id, {
      dependsOn,
      activate: (ctx) => {
        ctx.subscriptions.push(toDisposable(() => log.push(`${id}.first`)), toDisposable(() => log.push(`${id}.second`)));
        // Not pushed into ctx.subscriptions: the host still removes it.
        loose(ctx.events).subscribe(`${id}.tick`, () => log.push(`${id}.tick`));
      },
      deactivate: () => { log.push(`${id}.deactivate`); },
    });
    ({ kernel } = await startKernel(profile, { plugins: [make('top', ['base']), make('base')] }));
    loose(kernel.events).publish('top.tick', null);
    await kernel.stop();
    expect(log).toEqual(['top.tick', 'top.deactivate', 'top.second', 'top.first', 'base.deactivate', 'base.second', 'base.first']);
  });

  it('keeps stopping when a deactivate or a disposable throws', async () => {
    const log: string[] = [];
    ({ kernel } = await startKernel(profile, {
      plugins: [
        plugin('first', { activate: (ctx) => { ctx.subscriptions.push(toDisposable(() => log.push('first.sub'))); } }),
        plugin('second', {
          activate: (ctx) => { ctx.subscriptions.push(toDisposable(() => { throw new Error('dispose failed'); })); },
          deactivate: () => { throw new Error('deactivate failed'); },
        }),
      ],
    }));
    await kernel.stop();
    expect(log).toEqual(['first.sub']);
  });
});

describe('Kernel storage', () => {
  const notes = (extra: Partial<PluginDefinition> = {}) => probe('notes', {
    migrations: [
      { id: '0010-create-items', up: async (db) => { await db.schema.createTable('notes_items').addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('body', 'text').execute(); } },
      { id: '0020-seed', up: async (db) => { await db.insertInto('notes_items').values({ id: 1, body: 'first' }).execute(); } },
    ],
    ...extra,
  });

  it('runs each plugin’s migrations once and gives it its own tables', async () => {
    let p = notes();
    ({ kernel } = await startKernel(profile, { plugins: [p.definition] }));
    const db = p.ctx().storage.db;
    expect(p.ctx().storage.tablePrefix).toBe('notes_');
    expect(await db.selectFrom('notes_items').selectAll().execute()).toEqual([{ id: 1, body: 'first' }]);
    await p.ctx().storage.transaction(async (trx) => { await trx.insertInto('notes_items').values({ id: 2, body: 'second' }).execute(); });
    // A deferred commit: committed at return, behind the same table guard; the disk confirms it after.
    await p.ctx().storage.transaction(async (trx) => { await trx.insertInto('notes_items').values({ id: 3, body: 'third' }).execute(); }, { durability: 'deferred' });
    expect(profile.database.deferredSync.whenDurable()).toBeInstanceOf(Promise);
    await profile.database.deferredSync.whenDurable();
    const outside = p.ctx().storage.transaction(async (trx) => { await trx.selectFrom('kernel_contacts').selectAll().execute(); }, { durability: 'deferred' });
    await expect(outside).rejects.toMatchObject({ code: 'storage/table-not-allowed' });
    expect(() => p.ctx().storage.transaction(async () => undefined, { durability: 'eventually' as 'sync' })).toThrow(TypeError);
    await kernel.stop();

    p = notes();
    ({ kernel } = await startKernel(profile, { plugins: [p.definition] }));
    // Not seeded twice.
    expect((await p.ctx().storage.db.selectFrom('notes_items').select('id').execute()).map((r) => r.id)).toEqual([1, 2, 3]);
    const applied = await sql<{ id: string }>`SELECT id FROM kernel_migrations WHERE owner = 'notes' ORDER BY id`.execute(profile.database.db);
    expect(applied.rows.map((r) => r.id)).toEqual(['0010-create-items', '0020-seed']);
  });

  it('fails a plugin whose migration fails, naming plugin and step, and rolls all its steps back', async () => {
    ({ kernel } = await startKernel(profile, {
      plugins: [
        plugin('broken', {
          migrations: [
            { id: '0010-create', up: async (db) => { await db.schema.createTable('broken_items').addColumn('id', 'integer').execute(); } },
            { id: '0020-fail', up: async () => { throw new Error('disk on fire'); } },
          ],
        }),
        plugin('fine'),
      ],
    }));
    const [broken, fine] = kernel.plugins();
    expect(broken).toMatchObject({ state: 'failed', error: { code: 'storage/migration-failed' } });
    expect(broken!.error!.message).toContain('broken/0020-fail');
    expect(broken!.error!.message).toContain('disk on fire');
    expect(fine!.state).toBe('active');
    const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE name = 'broken_items'`.execute(profile.database.db);
    expect(tables.rows).toEqual([]);
  });

  it('keeps a migration inside its plugin’s tables', async () => {
    ({ kernel } = await startKernel(profile, {
      plugins: [plugin('sneaky', { migrations: [{ id: '0010-drop', up: async (db) => { await db.deleteFrom('kernel_settings').execute(); } }] })],
    }));
    expect(kernel.plugins()[0]).toMatchObject({ state: 'failed', error: { code: 'storage/migration-failed' } });
    expect(kernel.plugins()[0]!.error!.message).toContain('kernel_settings');
  });

  it('refuses queries on other tables, also those of a plugin whose id extends its own', async () => {
    const ab = probe('ab');
    const abcd = probe('ab-cd', {
      migrations: [{ id: '0010', up: async (db) => { await db.schema.createTable('ab_cd_items').addColumn('id', 'integer').execute(); } }],
    });
    ({ kernel } = await startKernel(profile, { plugins: [ab.definition, abcd.definition] }));
    await expect(ab.ctx().storage.db.selectFrom('kernel_settings').selectAll().execute()).rejects.toMatchObject({ code: 'storage/table-not-allowed' });
    await expect(ab.ctx().storage.db.selectFrom('ab_cd_items').selectAll().execute()).rejects.toMatchObject({ code: 'storage/table-not-allowed' });
    expect(await abcd.ctx().storage.db.selectFrom('ab_cd_items').selectAll().execute()).toEqual([]);
  });

  it('creates the plugin’s data folder on first use', async () => {
    const p = probe('files-ish');
    ({ kernel } = await startKernel(profile, { plugins: [p.definition] }));
    const expected = path.join(profile.dir, 'plugins', 'files-ish');
    expect(existsSync(expected)).toBe(false);
    expect(p.ctx().dataDir).toBe(expected);
    expect(existsSync(expected)).toBe(true);
  });
});

describe('Kernel permissions', () => {
  it('gives first-party plugins what they declare and nothing else', async () => {
    const withContacts = probe('with-contacts', { permissions: { contacts: true } });
    const without = probe('without');
    ({ kernel } = await startKernel(profile, { plugins: [withContacts.definition, without.definition] }));
    expect((await withContacts.ctx().contacts.list()).map((c) => c.name)).toEqual(['bob']);
    await expect(without.ctx().contacts.list()).rejects.toMatchObject({ code: 'plugin/permission-denied', message: expect.stringContaining('"contacts"') });
    expect(() => without.ctx().contacts.onDidChange(() => {})).toThrow(expect.objectContaining({ code: 'plugin/permission-denied' }));
    expect(() => without.ctx().channels.onMessage('x', () => {})).toThrow(expect.objectContaining({ code: 'plugin/permission-denied', message: expect.stringContaining('"peers"') }));
    await expect(without.ctx().channels.send(BOB, 'x', new Uint8Array(1))).rejects.toMatchObject({ code: 'plugin/permission-denied' });
    expect(kernel.plugins()[1]!.permissions).toEqual({});
    // Identity's public parts need no permission.
    expect(without.ctx().identity.displayName).toBe('Alice');
  });

  it('namespaces channel names by plugin id', async () => {
    const chat = probe('chat', { permissions: { peers: true } });
    const other = probe('other', { permissions: { peers: true } });
    const { kernel: k, services } = await startKernel(profile, { plugins: [chat.definition, other.definition] });
    kernel = k;
    const received: { channel: string; text: string }[] = [];
    chat.ctx().subscriptions.push(chat.ctx().channels.onMessage('text', (m) => { received.push({ channel: m.channel, text: new TextDecoder().decode(m.data) }); }));
    let otherGot = 0;
    other.ctx().subscriptions.push(other.ctx().channels.onMessage('text', () => { otherGot++; }));
    await chat.ctx().channels.send(BOB, 'text', new TextEncoder().encode('hi'));
    expect(services.channels.sent).toEqual(['chat/text']);
    expect(received).toEqual([{ channel: 'text', text: 'hi' }]);
    expect(otherGot).toBe(0);
    expect(() => chat.ctx().channels.onMessage('', () => {})).toThrow(TypeError);
    // A storing handler needs both functions; anything else is refused before it reaches the kernel.
    for (const bad of ['nope', null, { store: async () => 1 }, { handle: () => {} }, { store: 1, handle: () => {} }]) {
      expect(() => chat.ctx().channels.onMessage('text', bad as never)).toThrow(TypeError);
    }
    expect(services.channels.handlerCount('chat/text')).toBe(1);
    await kernel.stop();
    expect(services.channels.handlerCount('chat/text')).toBe(0);
  });
});

describe('Kernel event bus', () => {
  it('lets a plugin publish only its own topics and subscribe only where allowed', async () => {
    const dep = probe('dep');
    const pub = probe('pub', { dependsOn: ['dep'], permissions: { events: ['watched.*'] } });
    ({ kernel } = await startKernel(profile, { plugins: [dep.definition, pub.definition] }));
    const bus = loose(pub.ctx().events);
    const seen: unknown[] = [];
    bus.subscribe('pub.ping', (p) => seen.push(p));
    bus.publish('pub.ping', 1);
    expect(seen).toEqual([1]);
    expect(() => bus.publish('dep.ping', 2)).toThrow(expect.objectContaining({ code: 'plugin/permission-denied', message: expect.stringContaining('"pub."') }));
    expect(() => bus.publish('kernel.ready', { plugins: [] })).toThrow(expect.objectContaining({ code: 'plugin/permission-denied' }));
    expect(() => bus.subscribe('kernel.ready', () => {})).not.toThrow();
    expect(() => bus.subscribe('dep.ping', () => {})).not.toThrow();
    expect(() => bus.subscribe('watched.anything', () => {})).not.toThrow();
    expect(() => bus.subscribe('stranger.ping', () => {})).toThrow(expect.objectContaining({ code: 'plugin/permission-denied', message: expect.stringContaining('events:stranger.ping') }));
    // Kernel topics about contacts need the contacts permission.
    expect(() => bus.subscribe('contacts.changed', () => {})).toThrow(expect.objectContaining({ code: 'plugin/permission-denied' }));
    expect(() => bus.publish('not a topic', 1)).toThrow(TypeError);
    // The kernel may publish any topic.
    loose(kernel.events).publish('dep.ping', 3);
  });

  it('logs a listener that throws and still calls the others', async () => {
    const { kernel: k, log } = await startKernel(profile);
    kernel = k;
    const bus = loose(kernel.events);
    const seen: number[] = [];
    bus.subscribe('kernel.ready', () => { throw new Error('listener broke'); });
    bus.subscribe('kernel.ready', () => seen.push(1));
    expect(() => bus.publish('kernel.ready', { plugins: [] })).not.toThrow();
    expect(seen).toEqual([1]);
    expect(log.lines).toContainEqual(expect.objectContaining({ msg: 'event handler threw', topic: 'kernel.ready', error: expect.objectContaining({ message: 'listener broke' }) }));
  });
});

describe('Kernel settings', () => {
  const prefs = () => probe('prefs', {
    contributes: {
      settings: [
        { key: 'prefs.greeting', title: 'Greeting', type: 'string', default: 'hello' },
        { key: 'prefs.mode', title: 'Mode', type: 'enum', options: ['fast', 'safe'], default: 'safe' },
      ],
    },
  });

  it('reads defaults from contributions and persists values across a restart', async () => {
    let p = prefs();
    ({ kernel } = await startKernel(profile, { plugins: [p.definition] }));
    expect(p.ctx().settings.get('prefs.greeting')).toBe('hello');
    const changed = nextEvent(kernel.settings.onDidChange);
    await p.ctx().settings.set('prefs.greeting', 'hi there');
    expect(await changed).toEqual({ key: 'prefs.greeting', value: 'hi there' });
    await kernel.settings.set('prefs.mode', 'fast');
    await kernel.stop();
    await profile.reopen();

    p = prefs();
    ({ kernel } = await startKernel(profile, { plugins: [p.definition] }));
    expect(p.ctx().settings.get('prefs.greeting')).toBe('hi there');
    expect(kernel.settings.get('prefs.mode')).toBe('fast');
  });

  it('refuses values of the wrong type and keys of other plugins', async () => {
    const p = prefs();
    ({ kernel } = await startKernel(profile, { plugins: [p.definition] }));
    await expect(kernel.settings.set('prefs.mode', 'reckless')).rejects.toMatchObject({ code: 'settings/invalid-value', message: expect.stringContaining('"fast"') });
    await expect(kernel.settings.set('prefs.greeting', 3)).rejects.toMatchObject({ code: 'settings/invalid-value' });
    await expect(kernel.settings.set('prefs.other', { a: 1 } as never)).rejects.toMatchObject({ code: 'settings/invalid-value' });
    await expect(p.ctx().settings.set('kernel.grants.prefs', ['contacts'])).rejects.toMatchObject({ code: 'plugin/permission-denied' });
    expect(() => kernel!.settings.get(undefined as never)).toThrow(TypeError);
    expect(kernel.settings.get('prefs.mode')).toBe('safe');
  });
});

describe('Kernel contributions', () => {
  it('lists declared and registered commands and runs them', async () => {
    const p = probe('tools', {
      contributes: { commands: [{ id: 'tools.add', title: 'Add' }, { id: 'tools.later', title: 'Later' }], views: [{ id: 'tools.panel', title: 'Panel', location: 'panel', order: 2 }] },
      activate: (ctx) => {
        ctx.subscriptions.push(ctx.ui.registerCommand({ id: 'tools.add', title: 'Add numbers' }, (a, b) => (a as number) + (b as number)));
        ctx.subscriptions.push(ctx.ui.registerView({ id: 'tools.side', title: 'Side', location: 'sidebar', order: 1 }, () => ({ items: 3 })));
      },
    });
    ({ kernel } = await startKernel(profile, { plugins: [p.definition] }));
    const c = kernel.contributions;
    expect(c.commands()).toEqual([
      { id: 'tools.add', title: 'Add numbers', pluginId: 'tools', available: true },
      { id: 'tools.later', title: 'Later', pluginId: 'tools', available: false },
    ]);
    expect(await c.executeCommand('tools.add', 2, 3)).toBe(5);
    await expect(c.executeCommand('tools.nope')).rejects.toMatchObject({ code: 'commands/unknown-command' });
    await expect(c.executeCommand('tools.later')).rejects.toMatchObject({ code: 'commands/unavailable' });
    expect(c.views().map((v) => v.id)).toEqual(['tools.side', 'tools.panel']);
    expect(c.viewModel('tools.side')).toEqual({ items: 3 });
    expect(() => c.viewModel('tools.panel')).toThrow(expect.objectContaining({ code: 'contributions/view-unavailable' }));

    const changed = nextEvent(c.onDidChange);
    const registration = p.ctx().ui.registerCommand({ id: 'tools.later', title: 'Later' }, () => 'now');
    await changed;
    expect(await c.executeCommand('tools.later')).toBe('now');
    registration.dispose();
    await expect(c.executeCommand('tools.later')).rejects.toMatchObject({ code: 'commands/unavailable' });
    expect(() => p.ctx().ui.registerCommand({ id: 'other.cmd', title: 'X' }, () => 1)).toThrow(RangeError);
    expect(() => p.ctx().ui.registerCommand({ id: 'tools.add', title: 'Again' }, () => 1)).toThrow(RangeError);

    await kernel.stop();
    expect(c.commands()).toEqual([]);
  });
});

describe('Kernel manifests', () => {
  it('refuses invalid manifests, reserved and duplicate ids, and SDK ranges it does not meet', async () => {
    ({ kernel } = await startKernel(profile, {
      plugins: [
        plugin('Bad_Id'),
        plugin('kernel'),
        plugin('twice'),
        plugin('twice', { version: '2.0.0' }),
        plugin('future', { engines: { sdk: '^9.0.0' } }),
        plugin('current', { engines: { sdk: '^0.1.0' } }),
        plugin('loose-ids', { contributes: { commands: [{ id: 'someone.else', title: 'X' }] } }),
        { id: 'no-activate', version: '1.0.0' } as unknown as PluginDefinition,
        plugin('typo', { dependOn: ['x'] } as never),
      ],
      disabledPlugins: ['current'],
    }));
    const statuses = kernel.plugins().map((p) => [p.id, p.state, p.error?.code]);
    expect(statuses).toEqual([
      ['Bad_Id', 'failed', 'plugin/invalid-manifest'],
      ['kernel', 'failed', 'plugin/reserved-id'],
      ['twice', 'active', undefined],
      ['twice', 'failed', 'plugin/duplicate-id'],
      ['future', 'failed', 'plugin/incompatible-sdk'],
      ['current', 'disabled', undefined],
      ['loose-ids', 'failed', 'plugin/invalid-manifest'],
      ['no-activate', 'failed', 'plugin/invalid-manifest'],
      ['typo', 'failed', 'plugin/invalid-manifest'],
    ]);
    expect(kernel.plugins()[4]!.error!.message).toContain('^9.0.0');
  });

  it('keeps plugins the user switched off disabled across restarts', async () => {
    ({ kernel } = await startKernel(profile, { plugins: [plugin('optional'), plugin('user', { dependsOn: ['optional'] })] }));
    expect(kernel.plugins().map((p) => p.state)).toEqual(['active', 'active']);
    await kernel.setEnabled('optional', false);
    await kernel.stop();

    ({ kernel } = await startKernel(profile, { plugins: [plugin('optional'), plugin('user', { dependsOn: ['optional'] })] }));
    expect(kernel.plugins().map((p) => [p.state, p.error?.code])).toEqual([['disabled', undefined], ['failed', 'plugin/dependency-failed']]);
    expect(kernel.plugins()[1]!.error!.message).toContain('disabled');
    await kernel.setEnabled('optional', true);
    await kernel.stop();

    ({ kernel } = await startKernel(profile, { plugins: [plugin('optional')] }));
    expect(kernel.plugins()[0]!.state).toBe('active');
  });

  it('checks its options', async () => {
    await expect(Kernel.start({ profileDir: '', db: profile.database.db } as never)).rejects.toThrow(TypeError);
    await expect(Kernel.start(undefined as never)).rejects.toThrow(TypeError);
  });

  it('binds the kernel services under the SDK tokens', async () => {
    ({ kernel } = await startKernel(profile));
    expect(kernel.container.get(EventBus)).toBe(kernel.events);
    const db: Kysely<any> = profile.database.db;
    expect((await db.selectFrom('kernel_settings').selectAll().execute()).length).toBe(0);
  });
});

describe('Kernel without optional services', () => {
  it('answers kernel/service-unavailable for services the app did not bind, and stops twice safely', async () => {
    const p = probe('lonely', { permissions: { contacts: true, peers: true } });
    ({ kernel } = await startKernel(profile, { bind: () => {}, plugins: [p.definition] }));
    await expect(p.ctx().contacts.list()).rejects.toMatchObject({ code: 'kernel/service-unavailable', message: expect.stringContaining('contacts') });
    expect(() => p.ctx().identity).toThrow(expect.objectContaining({ code: 'kernel/service-unavailable' }));
    expect(() => p.ctx().channels.onMessage('x', () => {})).toThrow(expect.objectContaining({ code: 'kernel/service-unavailable' }));
    await Promise.all([kernel.stop(), kernel.stop()]);
    await kernel.stop();
  });
});
