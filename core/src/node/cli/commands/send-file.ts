import path from 'node:path';
import { Option, type Command } from 'commander';
import { AppError, type Disposable } from '@discordopus/sdk';
import type { Transfer } from '@discordopus/plugin-files';
import type { CommandContext } from './command-context.ts';
import { filesOf } from './files-client.ts';

/**
 * `discordopus send-file <contact> <path> [--timeout S]`: offers the file, shows a progress bar
 * on a terminal (stderr), and exits 0 once the receiver has verified the whole file. Declined,
 * cancelled or failed transfers are errors. A transfer cut short (Ctrl+C, timeout) stays in the
 * profile and resumes the next time this profile is online (`listen`, `daemon`, the app).
 */
export function register(program: Command, context: CommandContext): void {
  context.sub(program, 'send-file', 'send a file to a contact, end to end encrypted and peer to peer')
    .argument('<contact>', 'user ID or contact name')
    .argument('<path>', 'the file to send')
    .addOption(new Option('--timeout <seconds>', 'give up waiting after this long (the transfer stays resumable)'))
    .action(async (contact: string, file: string, _opts, command: Command) => {
      const g = context.globals(command);
      const timeoutMs = g.timeout === undefined ? undefined : parseTimeout(g.timeout);
      if (g.server === undefined) {
        throw new AppError('cli/usage', 'send-file needs a signaling server to reach the contact: pass --server or set DISCORDOPUS_SERVER.');
      }
      const { firstPartyPlugins } = await import('../../client/first-party-plugins.ts');
      await context.withClient(g, { connectSignaling: true, plugins: firstPartyPlugins() }, async (client) => {
        const files = filesOf(client);
        const bar = await progressBar(path.basename(file));
        let latest: Transfer | undefined;
        let transferId: string | undefined;
        let wake: () => void = () => {};
        // Listening before sending: a fast receiver may answer before send() returns.
        const sub: Disposable = files.onDidChange((t) => {
          if (transferId !== undefined && t.id !== transferId) return;
          latest = t;
          wake();
        });
        const stopped = new Promise<'stopped'>((resolve) => {
          process.once('SIGINT', () => resolve('stopped'));
          process.once('SIGTERM', () => resolve('stopped'));
        });
        try {
          ({ transferId } = await files.send(contact, file));
          latest = await files.get(transferId);
          const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
          while (latest && !['completed', 'failed', 'cancelled', 'declined'].includes(latest.state)) {
            bar?.update(latest);
            const outcome = await Promise.race([
              new Promise<'changed'>((resolve) => {
                wake = () => resolve('changed');
                if (deadline !== Infinity) setTimeout(() => resolve('changed'), Math.max(deadline - Date.now(), 0)).unref();
              }),
              stopped,
            ]);
            if (outcome === 'stopped' || Date.now() >= deadline) {
              bar?.stop();
              throw new AppError('files/not-finished', `The transfer ${transferId} is not finished (${latest.state}, ${latest.bytes} of ${latest.size} bytes); it resumes the next time this profile is online (listen, daemon or the app).`);
            }
          }
          bar?.update(latest!);
          bar?.stop();
          const t = latest!;
          if (t.state === 'declined') throw new AppError('files/declined', `${t.name} was declined by the receiver.`);
          if (t.state === 'cancelled') throw new AppError(t.error?.code ?? 'files/cancelled', `The transfer of ${t.name} was cancelled${t.error ? `: ${t.error.message}` : '.'}`);
          if (t.state === 'failed') throw new AppError(t.error?.code ?? 'files/failed', t.error?.message ?? `The transfer of ${t.name} failed.`);
          process.stdout.write(g.json
            ? `${JSON.stringify({ id: t.id, to: t.peer, name: t.name, size: t.size, state: 'verified' })}\n`
            : `verified: ${t.name} (${t.size} bytes) arrived intact\n`);
        } finally {
          sub.dispose();
        }
      });
    });
}

interface Bar {
  update(t: Transfer): void;
  stop(): void;
}

/** A cli-progress bar on stderr, only on a terminal (pipes and tests get just the final line). */
async function progressBar(name: string): Promise<Bar | undefined> {
  if (process.stderr.isTTY !== true) return undefined;
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  const bar = new SingleBar({
    stream: process.stderr, hideCursor: true,
    format: `${name} [{bar}] {percentage}% | {done}/{total} MB | {rate} MB/s | ETA {eta_s}s | {state}`,
  }, Presets.shades_classic);
  let started = false;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return {
    update(t) {
      const payload = { done: mb(t.bytes), total: mb(t.size), rate: mb(t.rateBytesPerS), eta_s: Math.round(t.etaMs / 1000), state: t.state };
      if (!started) {
        bar.start(Math.max(t.size, 1), t.bytes, payload);
        started = true;
      } else {
        bar.update(t.size === 0 && t.state === 'completed' ? 1 : t.bytes, payload);
      }
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

function parseTimeout(value: unknown): number {
  const seconds = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 7 * 86_400) {
    throw new AppError('cli/usage', `--timeout expects a number of seconds between 0 and 604800 (got ${JSON.stringify(value)}).`);
  }
  return seconds * 1000;
}
