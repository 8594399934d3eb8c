import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { AppError, isAppError } from '@discordopus/sdk';
import type { Logger, PluginDefinition } from '@discordopus/sdk';
import type { ClientProgress, DiscordOpusClient } from '../client/create-client.ts';
import { contactToJson } from '../daemon/contact-json.ts';
import type { ContactJson } from '../daemon/contact-json.ts';
import type { UnixSocketTransport } from '../daemon/unix-socket-transport.ts';
import { ExitCode, exitCodeFor } from './exit-codes.ts';
import { readPassphrase } from './passphrase-prompt.ts';
import { ProgressLine } from './progress-line.ts';
import type { CommandContext } from './commands/command-context.ts';
import { register as registerSend } from './commands/send.ts';
import { register as registerListen } from './commands/listen.ts';
import { register as registerCall } from './commands/call.ts';
import { register as registerSendFile } from './commands/send-file.ts';

interface GlobalOptions {
  profile: string;
  server?: string;
  json?: boolean;
}

const runtime = () => import('./cli-runtime.ts');
const daemonRuntime = () => import('./daemon-runtime.ts');

const PASSPHRASE_ENV = 'DISCORDOPUS_PASSPHRASE';
const BACKUP_PASSPHRASE_ENV = 'DISCORDOPUS_BACKUP_PASSPHRASE';

/** Runs the CLI with `argv` (as in process.argv) and exits with its code. */
export async function main(argv: readonly string[]): Promise<never> {
  const code = await runCli(argv);
  process.exit(code);
}

/** Runs the CLI and returns the exit code instead of exiting. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message and the usage; help and --version exit 0.
      return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    reportError(error);
    return exitCodeFor(error);
  }
}

function reportError(error: unknown): void {
  const debug = Boolean(process.env.DEBUG);
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${isAppError(error) ? message : `unexpected failure: ${message}`}\n`);
  if (debug && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
  else if (!isAppError(error)) process.stderr.write('(set DEBUG=1 for details)\n');
}

function buildProgram(): Command {
  const program = new Command('discordopus')
    .description('End-to-end encrypted peer-to-peer chat, calls and files: headless client.')
    .addOption(new Option('--profile <dir>', 'profile folder').env('DISCORDOPUS_PROFILE').default(path.join(os.homedir(), '.discordopus', 'default')))
    .addOption(new Option('--server <url>', 'signaling server URL').env('DISCORDOPUS_SERVER'))
    .option('--json', 'machine-readable output (JSON)')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeErr: (text) => process.stderr.write(text), writeOut: (text) => process.stdout.write(text) });
  const sub = (parent: Command, spec: string, description: string) =>
    parent.command(spec).description(description).exitOverride().showHelpAfterError();
  const globals = (command: Command) => command.optsWithGlobals() as GlobalOptions & Record<string, unknown>;

  sub(program, 'init', 'create a new profile with a new identity and print its user ID')
    .option('--name <name>', 'your display name', '')
    .action(async (_opts, command: Command) => {
      const g = globals(command);
      const { profileExists } = await runtime();
      if (profileExists(g.profile)) {
        throw new AppError('identity/profile-exists', `A profile already exists in ${g.profile}; it was left untouched. Use --profile to create another one.`);
      }
      const passphrase = await readPassphrase({ envVar: PASSPHRASE_ENV, prompt: `New passphrase for ${g.profile}: `, confirm: true });
      const client = await open(g, passphrase, { create: true, displayName: String(g.name ?? '') });
      try {
        print(g, identityJson(client), () => client.identity.userId);
      } finally {
        await client.close();
      }
    });

  sub(program, 'id', 'print your user ID')
    .action(async (_opts, command: Command) => {
      const g = globals(command);
      await withClient(g, async (client) => print(g, identityJson(client), () => client.identity.userId));
    });

  sub(program, 'safety-number', 'show the safety number with a contact, to compare out of band')
    .argument('<contact>', 'user ID or contact name')
    .option('--compare <payload>', 'compare with the code scanned from the contact\'s screen')
    .action(async (contact: string, _opts, command: Command) => {
      const g = globals(command);
      const { compareSafetyNumberPayload } = await runtime();
      await withClient(g, async (client) => {
        const number = await client.safetyNumber(contact);
        if (typeof g.compare === 'string') {
          if (!compareSafetyNumberPayload(number, g.compare)) {
            throw new AppError('identity/safety-number-mismatch', `The safety numbers differ: this is not the key ${number.contact.userId} has, or not the same pair. Do not mark the contact verified.`);
          }
          print(g, { userId: number.contact.userId, match: true }, () => 'match: the safety numbers are identical; you may run "contacts verify".');
          return;
        }
        const who = number.contact.name ? `${number.contact.name} (${number.contact.userId})` : number.contact.userId;
        const qr = g.json ? '' : await (await import('qrcode')).default.toString(number.payload, { type: 'terminal', small: true });
        print(g, { userId: number.contact.userId, digits: number.digits, groups: number.groups, payload: number.payload }, () => [
          `Safety number with ${who}:`,
          '',
          ...[0, 4, 8].map((i) => `  ${number.groups.slice(i, i + 4).join(' ')}`),
          '',
          qr.trimEnd(),
          `payload: ${number.payload}`,
        ].join('\n'));
      });
    });

  const contacts = sub(program, 'contacts', 'manage your contacts');
  sub(contacts, 'add', 'add a contact by user ID')
    .argument('<userId>', 'the contact\'s user ID (do1...)')
    .option('--name <name>', 'a unique local name')
    .option('--key <hex>', 'the contact\'s identity key (64 hex digits), if you have it')
    .action(async (userId: string, _opts, command: Command) => {
      const g = globals(command);
      const key = typeof g.key === 'string' ? parseKey(g.key) : undefined;
      await withClient(g, async (client) => {
        const contact = await client.contacts.add(userId, { ...(typeof g.name === 'string' ? { name: g.name } : {}), ...(key ? { identityKey: key } : {}) });
        print(g, contactToJson(contact, client.contacts.presence(contact.userId)), () => `added ${contact.name ? `${contact.name} ` : ''}${contact.userId}`);
      });
    });
  sub(contacts, 'list', 'list your contacts')
    .action(async (_opts, command: Command) => {
      const g = globals(command);
      await withClient(g, async (client) => {
        const list = (await client.contacts.list()).map((c) => contactToJson(c, client.contacts.presence(c.userId)));
        if (!g.json && list.length === 0) {
          process.stderr.write('No contacts yet. Add one with: discordopus contacts add <userId> --name <name>\n');
          return;
        }
        print(g, list, () => contactsTable(list));
      });
    });
  sub(contacts, 'verify', 'mark a contact verified after comparing safety numbers')
    .argument('<contact>', 'user ID or contact name')
    .action(async (ref: string, _opts, command: Command) => {
      const g = globals(command);
      await withClient(g, async (client) => {
        const contact = await client.contacts.verify(ref);
        print(g, contactToJson(contact, client.contacts.presence(contact.userId)), () => `verified ${contact.name || contact.userId}`);
      });
    });
  sub(contacts, 'rename', 'change a contact\'s name')
    .argument('<contact>', 'user ID or contact name')
    .argument('<name>', 'the new name')
    .action(async (ref: string, name: string, _opts, command: Command) => {
      const g = globals(command);
      await withClient(g, async (client) => {
        const contact = await client.contacts.rename(ref, name);
        print(g, contactToJson(contact, client.contacts.presence(contact.userId)), () => `renamed ${contact.userId} to ${contact.name}`);
      });
    });
  sub(contacts, 'remove', 'remove a contact')
    .argument('<contact>', 'user ID or contact name')
    .action(async (ref: string, _opts, command: Command) => {
      const g = globals(command);
      await withClient(g, async (client) => {
        const contact = await client.contacts.remove(ref);
        print(g, { removed: contact.userId }, () => `removed ${contact.name || contact.userId}`);
      });
    });

  const backup = sub(program, 'backup', 'export or import an encrypted identity backup');
  sub(backup, 'export', 'write an encrypted backup of your identity and contacts')
    .argument('<file>', 'the backup file to create (never overwritten)')
    .action(async (file: string, _opts, command: Command) => {
      const g = globals(command);
      await withClient(g, async (client) => {
        const backupPassphrase = await readPassphrase({ envVar: BACKUP_PASSPHRASE_ENV, prompt: 'Passphrase for the backup: ', confirm: true });
        const progress = new ProgressLine();
        try {
          const result = await client.exportBackup(path.resolve(file), backupPassphrase, { onProgress: (f) => progress.update('Encrypting backup', f) });
          progress.done();
          print(g, result, () => `backup of ${result.userId} (${result.contacts} contacts) written to ${result.file}`);
        } finally {
          progress.done();
        }
      });
    });
  sub(backup, 'import', 'create the --profile folder from a backup (same user ID)')
    .argument('<file>', 'the backup file')
    .action(async (file: string, _opts, command: Command) => {
      const g = globals(command);
      const { profileExists, restoreClientFromBackup } = await runtime();
      if (profileExists(g.profile)) {
        throw new AppError('identity/profile-exists', `A profile already exists in ${g.profile}; choose an empty folder with --profile to restore into.`);
      }
      const backupPassphrase = await readPassphrase({ envVar: BACKUP_PASSPHRASE_ENV, prompt: 'Passphrase of the backup: ' });
      const passphrase = await readPassphrase({ envVar: PASSPHRASE_ENV, prompt: `New passphrase for ${g.profile}: `, confirm: true });
      const progress = new ProgressLine();
      let client: DiscordOpusClient;
      try {
        client = await restoreClientFromBackup({
          profileDir: g.profile, passphrase, backupFile: path.resolve(file), backupPassphrase, logger: await cliLogger(),
          ...(g.server ? { serverUrl: g.server } : {}),
          onProgress: (p) => progress.update(progressLabel(p), p.fraction),
        });
      } finally {
        progress.done();
      }
      try {
        print(g, identityJson(client), () => client.identity.userId);
      } finally {
        await client.close();
      }
    });

  sub(program, 'daemon', 'serve the client API as JSON-RPC 2.0 on a Unix socket')
    .option('--socket <path>', 'the socket to listen on (default: <profile>/daemon.sock)')
    .action(async (_opts, command: Command) => {
      const g = globals(command);
      await runDaemon(g, typeof g.socket === 'string' ? g.socket : path.join(g.profile, 'daemon.sock'));
    });

  const commandContext: CommandContext = { sub, globals, withClient: (g, options, fn) => withClient(g, fn, options) };
  registerSend(program, commandContext);
  registerListen(program, commandContext);
  registerCall(program, commandContext);
  registerSendFile(program, commandContext);

  return program;
}

async function runDaemon(g: GlobalOptions, socketPath: string): Promise<void> {
  const { createLogger } = await runtime();
  const { RpcServer, UnixSocketTransport, clientRpcMethods } = await daemonRuntime();
  const logger = createLogger({ level: process.env.DEBUG ? 'debug' : 'info', name: 'discordopus-daemon', destination: 2 });
  const { firstPartyPlugins } = await import('../client/first-party-plugins.ts');
  const client = await open(g, await readPassphrase({ envVar: PASSPHRASE_ENV, prompt: `Passphrase for ${g.profile}: ` }), { connectSignaling: true, plugins: firstPartyPlugins() }, logger);
  const rpc = new RpcServer(clientRpcMethods(client), logger);
  let transport: UnixSocketTransport;
  try {
    transport = await UnixSocketTransport.listen(rpc, path.resolve(socketPath), logger);
  } catch (error) {
    await client.close();
    throw error;
  }
  print(g, { listening: transport.path, userId: client.identity.userId }, () => `daemon listening on ${transport.path}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await transport.close();
  rpc.dispose();
  await client.close();
}

async function withClient(g: GlobalOptions, fn: (client: DiscordOpusClient) => Promise<void>, options: { connectSignaling?: boolean; plugins?: PluginDefinition[] } = {}): Promise<void> {
  const { profileExists } = await runtime();
  if (!profileExists(g.profile)) {
    throw new AppError('storage/no-profile', `There is no profile in ${g.profile}. Create one with "discordopus init", or pass --profile.`);
  }
  const passphrase = await readPassphrase({ envVar: PASSPHRASE_ENV, prompt: `Passphrase for ${g.profile}: ` });
  const client = await open(g, passphrase, options);
  try {
    await fn(client);
  } finally {
    await client.close();
  }
}

async function open(g: GlobalOptions, passphrase: string, options: { create?: boolean; displayName?: string; connectSignaling?: boolean; plugins?: PluginDefinition[] }, logger?: Logger): Promise<DiscordOpusClient> {
  const { createClient, peerLinksFromEnv } = await runtime();
  const progress = new ProgressLine();
  // DISCORDOPUS_PEER_LINKS=off|loopback (tests) and DISCORDOPUS_STUN; unset: direct links on.
  const peerLinks = peerLinksFromEnv(process.env);
  try {
    return await createClient({
      profileDir: g.profile, passphrase, logger: logger ?? await cliLogger(), ...options,
      ...(peerLinks === undefined ? {} : { peerLinks }),
      ...(g.server ? { serverUrl: g.server } : {}),
      onProgress: (p) => progress.update(progressLabel(p), p.fraction),
    });
  } finally {
    progress.done();
  }
}

async function cliLogger(): Promise<Logger> {
  const { createLogger } = await runtime();
  return createLogger({ level: process.env.DEBUG ? 'debug' : 'error', name: 'discordopus', destination: 2 });
}

function progressLabel(p: ClientProgress): string {
  switch (p.phase) {
    case 'derive-key': return 'Unlocking profile';
    case 'backup-key': return 'Decrypting backup';
    case 'open': return 'Opening profile';
    case 'migrate': return 'Updating profile';
  }
}

function identityJson(client: DiscordOpusClient) {
  return {
    userId: client.identity.userId,
    publicKey: Buffer.from(client.identity.publicKey).toString('hex'),
    displayName: client.identity.displayName,
    profile: client.profileDir,
  };
}

function parseKey(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(text.trim())) {
    throw new AppError('cli/usage', '--key expects the contact\'s identity key as 64 hex digits (as "discordopus id --json" prints it).');
  }
  return new Uint8Array(Buffer.from(text.trim(), 'hex'));
}

function print(g: GlobalOptions, json: unknown, text: () => string): void {
  process.stdout.write(g.json ? `${JSON.stringify(json, null, 2)}\n` : `${text()}\n`);
}

function contactsTable(list: ContactJson[]): string {
  const rows = [
    ['NAME', 'USER ID', 'VERIFIED', 'KEY', 'PRESENCE'],
    ...list.map((c) => [c.name || '-', c.userId, c.verified ? 'yes' : 'no', c.identityChanged ? 'CHANGED' : c.identityKey ? 'known' : 'unknown', c.presence]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
