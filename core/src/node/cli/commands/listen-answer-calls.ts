import path from 'node:path';
import type { Disposable } from '@discordopus/sdk';
import type { CreateCallsPluginOptions } from '@discordopus/plugin-calls';
import type { DiscordOpusClient } from '../../client/create-client.ts';
import { callsPluginOptions, toCallEvent, type CallEvent } from './call.ts';

/**
 * The calls plugin's options for `listen --answer-calls [--record FILE]`: each answered call is
 * recorded to FILE, with `{callId}` in the name replaced by the call's id (without it, each call
 * overwrites the file).
 */
export function answerCallsOptions(record: string | undefined): Promise<CreateCallsPluginOptions> {
  const file = record === undefined ? undefined : path.resolve(record);
  return callsPluginOptions(file ? { record: (callId) => file.replaceAll('{callId}', callId) } : {});
}

/** Accepts every incoming call (bots, tests) and prints one event per call change. */
export async function answerCalls(client: DiscordOpusClient, print: (event: CallEvent) => void): Promise<Disposable> {
  const { callsOf } = await import('../../daemon/calls-rpc-methods.ts');
  const api = callsOf(client);
  return api.onDidChange((view) => {
    print(toCallEvent(view));
    if (view.direction === 'in' && view.state === 'ringing') {
      void api.accept(view.callId).catch(() => undefined);
    }
  });
}
