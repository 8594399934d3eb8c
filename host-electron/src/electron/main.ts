import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { app, BrowserWindow, ipcMain, session, type IpcMainInvokeEvent } from 'electron';
import { createLogger } from '@discordopus/core';
import { IpcChannel } from '../common/bridge-protocol.ts';
import { CoreClientFactory } from '../node/core-client-factory.ts';
import { startEmbeddedServer, type EmbeddedServer } from '../node/embedded-server.ts';
import { parseIpcCall } from '../node/ipc-call.ts';
import { ProfileLauncher } from '../node/profile-launcher.ts';
import { profileDirFor } from '../node/profile-paths.ts';
import { toRpcError } from '../node/rpc-endpoint.ts';
import { parseWebHostArgs } from '../node/web-host.ts';

/*
 * Electron main: the same ProfileLauncher and client as the web host, in the main process; the
 * window is a locked-down view (context isolation, sandbox, no Node, strict CSP, no navigation,
 * no new windows, no remote content) that reaches the host only through the preload's bridge.
 * Built by src/node/electron-build.ts into dist/electron/ (main.js + preload.cjs) next to the
 * renderer build in dist/renderer/.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const rendererIndex = path.join(here, '..', 'renderer', 'index.html');
const rendererUrl = pathToFileURL(rendererIndex).href;

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async function start(): Promise<void> {
  // Electron passes its own flags first; ours follow the script path.
  const args = parseWebHostArgs(process.argv.slice(2).filter((arg) => !arg.startsWith('--inspect') && arg !== '.'));
  const logger = createLogger({ level: process.env.DISCORDOPUS_LOG_LEVEL ?? 'warn', name: 'discordopus-desktop' });
  let embedded: EmbeddedServer | undefined;
  if (args.server === undefined) embedded = await startEmbeddedServer();
  const launcher = new ProfileLauncher({
    profileName: args.profile,
    profileDir: profileDirFor(args.profile),
    factory: new CoreClientFactory({ logger, ...(args.pluginDir ? { thirdPartyPluginDir: args.pluginDir } : {}) }),
    defaultServerUrl: args.server ?? embedded!.url,
  });

  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  // No remote content: only our own files load.
  session.defaultSession.webRequest.onBeforeRequest((details, callback) => {
    callback({ cancel: !(details.url.startsWith('file://') || details.url.startsWith('data:') || details.url.startsWith('devtools://')) });
  });
  session.defaultSession.setPermissionRequestHandler((_contents, permission, callback) => callback(permission === 'notifications' || permission === 'clipboard-sanitized-write'));

  const win = new BrowserWindow({
    width: 1100,
    height: 760,
    title: 'DiscordOpus',
    webPreferences: {
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      preload: path.join(here, 'preload.cjs'),
    },
  });
  win.webContents.on('will-navigate', (event) => event.preventDefault());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));

  ipcMain.handle(IpcChannel.call, async (event: IpcMainInvokeEvent, payload: unknown) => {
    // Only our own page may call; a frame that navigated elsewhere gets nothing.
    if (event.senderFrame?.url !== rendererUrl) return { ok: false, error: { code: -32600, message: 'Unknown sender.', data: { code: 'bridge/forbidden' } } };
    try {
      const call = parseIpcCall(payload);
      return { ok: true, result: (await launcher.call(call.method, call.params)) ?? null };
    } catch (error) {
      const rpcError = toRpcError(error);
      if (rpcError.code === -32603) logger.error('bridge: method failed', { error: String(error) });
      return { ok: false, error: rpcError };
    }
  });
  const events = launcher.onEvent((event) => {
    if (!win.isDestroyed()) win.webContents.send(IpcChannel.event, event);
  });

  app.on('window-all-closed', () => {
    events.dispose();
    void launcher.close().then(() => embedded?.close()).finally(() => app.quit());
  });
  await win.loadFile(rendererIndex);
}

app.on('web-contents-created', (_event, contents) => {
  contents.on('will-attach-webview', (event) => event.preventDefault());
});
app.whenReady().then(start).catch((error) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  app.exit(1);
});
