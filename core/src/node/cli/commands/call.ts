import path from 'node:path';
import { Option, type Command } from 'commander';
import { AppError, SecureChannels, type Disposable } from '@discordopus/sdk';
import type { CallView, CreateCallsPluginOptions, WeriftMediaEngineOptions } from '@discordopus/plugin-calls';
import type { CommandContext } from './command-context.ts';

/** One line of `call --json` (and of `listen --answer-calls --json`, as `type: 'call'`). */
export interface CallEvent {
  type: 'call';
  callId: string;
  peer: string;
  direction: 'in' | 'out';
  state: CallView['state'];
  video: boolean;
  endReason?: string;
  error?: { code: string; message: string };
  durationS?: number;
  recording?: string;
}

const END_ERRORS: Record<string, [string, string]> = {
  declined: ['calls/declined', 'declined the call'],
  busy: ['calls/busy', 'is in another call'],
  'no-answer': ['calls/no-answer', 'did not answer'],
};

/**
 * `discordopus call <contact> [--video] [--send FILE] [--record FILE] [--duration S]`: rings the
 * contact, sends a WebM file (VP8/Opus; the built-in test clip by default) in a loop once they
 * answer, records what they send to a WebM file, and hangs up after --duration seconds (or on
 * Ctrl+C). Exits 0 after a call that connected; declined / busy / no answer / failed are errors.
 */
export function register(program: Command, context: CommandContext): void {
  context.sub(program, 'call', 'call a contact (voice, or video with --video) and send a media file')
    .argument('<contact>', 'user ID or contact name')
    .option('--video', 'start with video on')
    .option('--send <file>', 'WebM file (VP8 video and/or Opus audio) to send, looped; default: the built-in test clip')
    .option('--record <file>', 'record what the contact sends to this WebM file')
    .addOption(new Option('--duration <seconds>', 'hang up after this many seconds of connected call (default: until Ctrl+C)'))
    .addOption(new Option('--ring-timeout <seconds>', 'give up if not answered in time').default('45'))
    .action(async (contact: string, _opts, command: Command) => {
      const g = context.globals(command);
      const durationMs = typeof g.duration === 'string' ? seconds('--duration', g.duration) : undefined;
      const ringTimeoutMs = seconds('--ring-timeout', g.ringTimeout);
      if (g.server === undefined) throw new AppError('cli/usage', 'call needs a signaling server to reach the contact: pass --server or set DISCORDOPUS_SERVER.');
      const recording = typeof g.record === 'string' ? path.resolve(g.record) : undefined;
      const calls = await callsPluginOptions({
        ...(typeof g.send === 'string' ? { source: path.resolve(g.send) } : {}),
        ...(recording ? { record: recording } : {}),
      }, { ringTimeoutMs });
      const { firstPartyPlugins } = await import('../../client/first-party-plugins.ts');
      // Loaded on use: werift and the media stack stay out of every other command's start-up.
      const { callsOf } = await import('../../daemon/calls-rpc-methods.ts');
      await context.withClient(g, { connectSignaling: true, plugins: firstPartyPlugins({ calls }) }, async (client) => {
        const api = callsOf(client);
        const print = (view: CallView, extra: Partial<CallEvent> = {}) => process.stdout.write(g.json
          ? `${JSON.stringify(toCallEvent(view, extra))}\n`
          : `${describeCall(view, contact)}\n`);
        const channels = client.kernel.container.get<SecureChannels & { whenReady?(): Promise<void> }>(SecureChannels);
        await channels.whenReady?.();
        let callId: string | undefined;
        let settle: (view: CallView) => void = () => {};
        const done = new Promise<CallView>((resolve) => (settle = resolve));
        const sub: Disposable = api.onDidChange((view) => {
          if (callId === undefined || view.callId !== callId) return;
          if (view.state !== 'ringing') print(view);
          if (view.state === 'active' && durationMs !== undefined) setTimeout(() => void api.hangUp(view.callId).catch(() => undefined), durationMs).unref();
          if (view.state === 'ended') settle(view);
        });
        const stop = () => {
          if (callId) void api.hangUp(callId).catch(() => undefined);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          const placed = await api.call(contact, { video: g.video === true });
          callId = placed.callId;
          print(placed);
          // It may have ended while `call` was finishing (before callId was known here).
          const now = api.get(placed.callId);
          if (now?.state === 'ended') settle(now);
          const final = await done;
          await api.whenIdle();
          if (final.connectedAt === undefined) {
            const [code, what] = END_ERRORS[final.endReason ?? ''] ?? [final.error?.code ?? 'calls/failed', `could not be reached: ${final.error?.message ?? final.endReason}`];
            throw new AppError(code, `${contact} ${what}.`);
          }
          const durationS = Math.round(((final.endedAt ?? Date.now()) - final.connectedAt) / 1000);
          if (g.json) process.stdout.write(`${JSON.stringify({ ...toCallEvent(final), durationS, ...(recording ? { recording } : {}) })}\n`);
          else process.stdout.write(`call ended after ${durationS} s${recording ? `; recording: ${recording}` : ''}\n`);
        } finally {
          sub.dispose();
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      });
    });
}

/** The calls plugin's options for a CLI run (`DISCORDOPUS_PEER_LINKS=loopback` keeps media on 127.0.0.1, for tests). */
export async function callsPluginOptions(engine: WeriftMediaEngineOptions, rest: CreateCallsPluginOptions = {}): Promise<CreateCallsPluginOptions> {
  const { WeriftMediaEngine } = await import('@discordopus/plugin-calls');
  return {
    ...rest,
    engine: new WeriftMediaEngine(engine),
    ...(process.env.DISCORDOPUS_PEER_LINKS === 'loopback' ? { loopbackOnly: true } : {}),
  };
}

export function toCallEvent(view: CallView, extra: Partial<CallEvent> = {}): CallEvent {
  return {
    type: 'call', callId: view.callId, peer: view.peer, direction: view.direction, state: view.state, video: view.video,
    ...(view.endReason ? { endReason: view.endReason } : {}), ...(view.error ? { error: view.error } : {}), ...extra,
  };
}

export function describeCall(view: Pick<CallEvent, 'callId' | 'direction' | 'state' | 'video' | 'endReason' | 'error'>, who: string): string {
  const id = view.callId.slice(0, 8);
  switch (view.state) {
    case 'ringing': return view.direction === 'out' ? `calling ${who} (call ${id})…` : `${who} is calling (call ${id})`;
    case 'connecting': return `call ${id}: connecting…`;
    case 'active': return `call ${id}: connected${view.video ? ' (video)' : ''}`;
    case 'ended': return `call ${id}: ended (${view.endReason ?? 'ended'}${view.error ? `: ${view.error.message}` : ''})`;
  }
}

function seconds(flag: string, value: unknown): number {
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 86_400) {
    throw new AppError('cli/usage', `${flag} expects a number of seconds between 0 and 86400 (got ${JSON.stringify(value)}).`);
  }
  return n * 1000;
}
