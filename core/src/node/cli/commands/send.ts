import { Option, type Command } from 'commander';
import { AppError, type Disposable } from '@discordopus/sdk';
import type { MessageStatus, MessagingChange } from '@discordopus/plugin-messaging';
import type { CommandContext } from './command-context.ts';
import { messagingOf } from './messaging-client.ts';

const DEFAULT_TIMEOUT_S = 10;
const RANK: readonly MessageStatus[] = ['failed', 'queued', 'sent', 'delivered', 'read'];

/**
 * `discordopus send <contact> <text> [--timeout S]`: prints "delivered" once the peer's messaging
 * plugin stored it; "queued" when the peer was not reachable in time (it stays in the outbox for
 * the next `listen` or `daemon` run); "sent" when the peer's client has it but did not confirm
 * storing it in time. All three exit 0; a message that cannot be sent at all is an error.
 */
export function register(program: Command, context: CommandContext): void {
  context.sub(program, 'send', 'send a text message to a contact (queued if they are offline)')
    .argument('<contact>', 'user ID or contact name')
    .argument('<text>', 'the message')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for delivery before leaving it queued').default(String(DEFAULT_TIMEOUT_S)))
    .action(async (contact: string, text: string, _opts, command: Command) => {
      const g = context.globals(command);
      const timeoutMs = parseTimeout(g.timeout);
      const { firstPartyPlugins } = await import('../../client/first-party-plugins.ts');
      await context.withClient(g, { connectSignaling: g.server !== undefined, plugins: firstPartyPlugins() }, async (client) => {
        const messaging = messagingOf(client);
        const seen: Extract<MessagingChange, { kind: 'status' }>[] = [];
        let wake: () => void = () => {};
        // Listening before sending: a fast peer may confirm before sendText returns.
        const sub: Disposable = messaging.onDidChange((change) => {
          if (change.kind !== 'status') return;
          seen.push(change);
          wake();
        });
        try {
          const message = await messaging.sendText(contact, text);
          let status: MessageStatus = message.status;
          let error = message.error;
          const deadline = Date.now() + timeoutMs;
          if (g.server !== undefined) {
            while (!['delivered', 'read', 'failed'].includes(status) && Date.now() < deadline) {
              await new Promise<void>((resolve) => {
                wake = resolve;
                setTimeout(resolve, Math.max(deadline - Date.now(), 0)).unref();
              });
              for (const change of seen.splice(0).filter((c) => c.id === message.id)) {
                if (change.status === 'failed' || RANK.indexOf(change.status) > RANK.indexOf(status)) {
                  status = change.status;
                  error = change.error;
                }
              }
            }
          } else {
            process.stderr.write('No signaling server is configured (--server or DISCORDOPUS_SERVER): the message waits in the outbox.\n');
          }
          if (status === 'failed') {
            throw new AppError(error?.code ?? 'messaging/send-failed', `The message was stored but cannot be sent: ${error?.message ?? 'unknown reason'}`);
          }
          const shown = status === 'delivered' || status === 'read' ? 'delivered' : status === 'sent' ? 'sent' : 'queued';
          process.stdout.write(g.json ? `${JSON.stringify({ id: message.id, to: message.peer, status: shown })}\n` : `${shown}\n`);
        } finally {
          sub.dispose();
        }
      });
    });
}

function parseTimeout(value: unknown): number {
  const seconds = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new AppError('cli/usage', `--timeout expects a number of seconds between 0 and 3600 (got ${JSON.stringify(value)}).`);
  }
  return seconds * 1000;
}
