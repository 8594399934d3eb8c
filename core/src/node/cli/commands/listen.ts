import path from 'node:path';
import type { Command } from 'commander';
import { SecureChannels, type Disposable, type Event, type UserId } from '@discordopus/sdk';
import type { MessagingChange } from '@discordopus/plugin-messaging';
import type { CommandContext } from './command-context.ts';
import { messagingOf } from './messaging-client.ts';
import { acceptFilesInto } from './listen-accept-files.ts';
import { answerCalls, answerCallsOptions } from './listen-answer-calls.ts';
import { describeCall, type CallEvent } from './call.ts';

/** One line of `listen --json`. */
export type ListenEvent =
  | { type: 'ready'; userId: UserId }
  | { type: 'message'; from: UserId; text: string; id: string; sentAt: number; replyTo?: string }
  | { type: 'status'; peer: UserId; id: string; status: string; error?: { code: string; message: string } }
  | { type: 'updated'; peer: UserId; id: string; text: string | null; deleted: boolean; editedAt?: number; reactions: { from: UserId; emoji: string }[] }
  | { type: 'typing'; from: UserId; typing: boolean }
  | { type: 'presence'; userId: UserId; presence: string }
  | { type: 'session-reset'; peer: UserId }
  | { type: 'file'; from: UserId; name: string; path: string; size: number }
  | CallEvent;

/**
 * `discordopus listen [--json]`: stays online (delivering the outbox, receiving messages) until
 * SIGINT/SIGTERM, printing one line per event; with --json one JSON object per line.
 */
export function register(program: Command, context: CommandContext): void {
  context.sub(program, 'listen', 'stay online and print incoming messages and delivery updates')
    .option('--accept-files <dir>', 'accept files from contacts into this folder (one line per verified file)')
    .option('--answer-calls', 'answer incoming calls (sending the built-in test clip)')
    .option('--record <file>', 'with --answer-calls: record each call to this WebM file ({callId} in the name is replaced)')
    .action(async (_opts, command: Command) => {
      const g = context.globals(command);
      const { firstPartyPlugins } = await import('../../client/first-party-plugins.ts');
      const calls = g.answerCalls === true ? await answerCallsOptions(typeof g.record === 'string' ? g.record : undefined) : undefined;
      await context.withClient(g, { connectSignaling: true, plugins: firstPartyPlugins(calls ? { calls } : {}) }, async (client) => {
        const messaging = messagingOf(client);
        const names = new Map((await client.contacts.list()).map((c) => [c.userId, c.name || c.userId]));
        const print = (event: ListenEvent) => process.stdout.write(g.json ? `${JSON.stringify(event)}\n` : `${describe(event, names)}\n`);
        const subs: Disposable[] = [
          messaging.onDidChange((change) => {
            const event = toEvent(change);
            if (event) print(event);
          }),
          client.events.subscribe('presence.changed', ({ userId, presence }) => print({ type: 'presence', userId, presence })),
        ];
        const secure = client.kernel.container.get<SecureChannels & { onDidResetSession?: Event<{ userId: UserId }> }>(SecureChannels);
        if (secure.onDidResetSession) subs.push(secure.onDidResetSession(({ userId }) => print({ type: 'session-reset', peer: userId })));
        if (typeof g.acceptFiles === 'string') subs.push(await acceptFilesInto(client, path.resolve(g.acceptFiles), print));
        if (g.answerCalls === true) subs.push(await answerCalls(client, print));
        const stopped = new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        try {
          // Online means: authenticated on the server with our prekeys published.
          const channels = client.kernel.container.get<SecureChannels & { whenReady?(): Promise<void> }>(SecureChannels);
          await Promise.race([channels.whenReady?.(), stopped]);
          print({ type: 'ready', userId: client.identity.userId });
          await stopped;
        } finally {
          subs.forEach((s) => s.dispose());
        }
      });
    });
}

function toEvent(change: MessagingChange): ListenEvent | undefined {
  switch (change.kind) {
    case 'message': {
      const m = change.message;
      if (m.direction !== 'in' || m.text === null) return undefined;
      return { type: 'message', from: m.from, text: m.text, id: m.id, sentAt: m.sentAt, ...(m.replyTo ? { replyTo: m.replyTo } : {}) };
    }
    case 'status':
      return { type: 'status', peer: change.peer, id: change.id, status: change.status, ...(change.error ? { error: change.error } : {}) };
    case 'updated': {
      const m = change.message;
      return { type: 'updated', peer: m.peer, id: m.id, text: m.text, deleted: m.deleted, ...(m.editedAt ? { editedAt: m.editedAt } : {}), reactions: m.reactions };
    }
    case 'typing':
      return { type: 'typing', from: change.peer, typing: change.typing };
    case 'applied':
      return undefined;
  }
}

function describe(event: ListenEvent, names: Map<UserId, string>): string {
  const who = (id: UserId) => names.get(id) ?? id;
  switch (event.type) {
    case 'ready': return `listening as ${event.userId} (Ctrl+C to stop)`;
    case 'message': return `${who(event.from)}: ${event.text}`;
    case 'status': return `[${event.status}] message ${event.id.slice(0, 8)} to ${who(event.peer)}${event.error ? ` (${event.error.message})` : ''}`;
    case 'updated': return event.deleted ? `${who(event.peer)} deleted message ${event.id.slice(0, 8)}` : `message ${event.id.slice(0, 8)} now: ${event.text ?? ''}`;
    case 'typing': return `${who(event.from)} ${event.typing ? 'is typing…' : 'stopped typing'}`;
    case 'presence': return `${who(event.userId)} is ${event.presence}`;
    case 'session-reset': return `${who(event.peer)} lost their session with you (restored from a backup?); a new one was started and undelivered messages are sent again`;
    case 'file': return `${who(event.from)} sent ${event.name} (${event.size} bytes): ${event.path}`;
    case 'call': return describeCall(event, who(event.peer as UserId));
  }
}
