import { parseArgs } from 'node:util';
import { createLogger } from '@discordopus/core';
import { BridgeServer } from './bridge-server.ts';
import { CallsEngineRelay } from './calls-engine-relay.ts';
import { CoreClientFactory } from './core-client-factory.ts';
import { startEmbeddedServer, type EmbeddedServer } from './embedded-server.ts';
import { ProfileLauncher } from './profile-launcher.ts';
import { profileDirFor } from './profile-paths.ts';
import { ensureRendererBuilt } from './renderer-build.ts';

/*
 * The web host behind `npm run start:web`: the desktop app's renderer in a plain browser. Builds the renderer when
 * stale, starts (or joins) an embedded signaling server unless --server is given, serves the
 * renderer and the bridge on 127.0.0.1 and prints the address to open, token included, alone on
 * one line of stdout. Everything else goes to stderr. Serves until SIGINT/SIGTERM.
 */

export const USAGE = `Usage: npm run start:web -- [--profile NAME] [--port PORT] [--server URL] [--plugin-dir DIR]
  --profile NAME    profile under $DISCORDOPUS_HOME/profiles (default ~/.discordopus/profiles), default "default"
  --port PORT       port of the local web host (default: a free port)
  --server URL      signaling server; without it an embedded one runs on 127.0.0.1
  --plugin-dir DIR  folder of third-party plugins`;

export interface WebHostArgs {
  profile: string;
  port: number;
  server: string | undefined;
  pluginDir: string | undefined;
}

/**
 * Our arguments out of Electron's main-process `argv`: after the executable, and after the app's
 * path when Electron runs it unpackaged (`defaultApp`); without the Chromium switches that a
 * launcher (`--js-flags`) or a debugger (`--inspect`) adds.
 */
export function desktopHostArgv(argv: readonly string[], defaultApp: boolean): string[] {
  return argv.slice(defaultApp ? 2 : 1).filter((arg) => !arg.startsWith('--js-flags') && !arg.startsWith('--inspect') && arg !== '.');
}

/** Parses the command line. @throws Error with the usage text on a bad argument. */
export function parseWebHostArgs(argv: string[]): WebHostArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string', default: 'default' },
      port: { type: 'string', default: '0' },
      server: { type: 'string' },
      'plugin-dir': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) throw new Error(USAGE);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a number from 0 to 65535.\n${USAGE}`);
  if (values.server !== undefined && !/^(https?|wss?):\/\/\S+$/.test(values.server)) throw new Error(`--server must be an http(s):// URL.\n${USAGE}`);
  return { profile: values.profile, port, server: values.server, pluginDir: values['plugin-dir'] };
}

export interface RunningWebHost {
  url: string;
  stop(): Promise<void>;
}

export async function startWebHost(args: WebHostArgs, log: (line: string) => void): Promise<RunningWebHost> {
  const profileDir = profileDirFor(args.profile);
  const staticDir = await ensureRendererBuilt({ log });
  let embedded: EmbeddedServer | undefined;
  if (args.server === undefined) {
    embedded = await startEmbeddedServer();
    log(embedded.owned ? `Embedded signaling server on ${embedded.url}` : `Using the embedded signaling server of another instance on ${embedded.url}`);
  }
  const logger = createLogger({ level: process.env.DISCORDOPUS_LOG_LEVEL ?? 'warn', name: 'discordopus-web' });
  const launcher = new ProfileLauncher({
    profileName: args.profile,
    profileDir,
    factory: new CoreClientFactory({ logger, ...(args.pluginDir ? { thirdPartyPluginDir: args.pluginDir } : {}) }),
    defaultServerUrl: args.server ?? embedded!.url,
  });
  // A window can be the calls plugin's media engine (Chromium WebRTC); see calls-engine-relay.ts.
  const callsRelay = new CallsEngineRelay((method, params) => launcher.call(method, params));
  const bridge = await BridgeServer.start({
    staticDir,
    port: args.port,
    handler: (method, params) => (callsRelay.handles(method) ? callsRelay.call(method, params) : launcher.call(method, params)),
    onEvent: (listener) => launcher.onEvent((event) => {
      const mapped = callsRelay.mapEvent(event);
      if (mapped) listener(mapped);
    }),
    onConnectionCount: (count) => {
      if (count === 0) void callsRelay.windowsGone();
    },
    onInternalError: (error) => logger.error('bridge: method failed', { error: String(error) }),
  });
  log(`Profile "${args.profile}" in ${profileDir}`);
  return {
    url: bridge.url,
    async stop() {
      await bridge.close();
      await launcher.close();
      await embedded?.close();
    },
  };
}
