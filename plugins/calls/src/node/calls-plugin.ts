import { definePlugin } from '@discordopus/sdk';
import type { CallsApi } from '../common/calls-api.ts';
import { callsMigrations } from './calls-migrations.ts';
import { CallsService, type CallsServiceOptions } from './calls-service.ts';
import { LazyMediaEngine } from './lazy-media-engine.ts';

const CALL_COMMAND = { id: 'calls.call', title: 'Call a contact', category: 'Calls' };
const CALL_BUTTON = {
  id: 'calls.callButton', title: 'Call', location: 'conversation-toolbar' as const, component: 'calls.CallButton',
  ariaLabel: 'Start a voice or video call',
};

export interface CreateCallsPluginOptions extends Omit<CallsServiceOptions, 'engine'> {
  /** `null`: no default engine (the host attaches one, e.g. the desktop renderer). Default: a werift engine sending the built-in clip. */
  engine?: CallsServiceOptions['engine'] | null;
}

/** Builds the calls plugin; tests and the CLI pass an engine, timeouts or loopback-only ICE. */
export function createCallsPlugin(options: CreateCallsPluginOptions = {}) {
  let service: CallsService | undefined;
  return definePlugin<CallsApi>({
    id: 'calls',
    version: '0.1.0',
    displayName: 'Calls',
    description: 'End-to-end encrypted 1:1 voice and video calls.',
    engines: { sdk: '^0.1.0' },
    permissions: { contacts: true, peers: true },
    contributes: { commands: [CALL_COMMAND], views: [CALL_BUTTON] },
    migrations: callsMigrations,
    activate(ctx) {
      const { engine, ...rest } = options;
      const calls = new CallsService(ctx, {
        ...rest,
        ...(engine === null ? {} : { engine: engine ?? defaultEngine() }),
      });
      service = calls;
      ctx.subscriptions.push(calls);
      ctx.subscriptions.push(ctx.ui.registerCommand(CALL_COMMAND, async (to, opts) => {
        if (typeof to !== 'string') throw new TypeError('calls.call: expected (userIdOrName: string, { video?: boolean })');
        return calls.call(to, { video: (opts as { video?: unknown } | undefined)?.video === true });
      }));
      ctx.subscriptions.push(ctx.ui.registerView(CALL_BUTTON, () => calls.calls()));
      calls.start();
      return calls;
    },
    async deactivate() {
      const calls = service;
      service = undefined;
      calls?.dispose();
      // Hung-up calls finish their recordings before the process may exit.
      await calls?.whenIdle();
    },
  });
}

/** The werift engine with the built-in clip, imported by the first call: werift stays out of start-up. */
function defaultEngine(): LazyMediaEngine {
  return new LazyMediaEngine('werift', async () => new (await import('./werift-media-engine.ts')).WeriftMediaEngine());
}

/** The first-party calls plugin (werift engine, built-in clip). */
export const callsPlugin = createCallsPlugin();
