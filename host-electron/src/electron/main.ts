import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { app, BrowserWindow, desktopCapturer, ipcMain, Notification, session, shell, type IpcMainInvokeEvent } from 'electron';
import { createLogger } from '@discordopus/core';
import { AppError } from '@discordopus/sdk';
import { DesktopMethod, IpcChannel, OPEN_CONVERSATION_TOPIC, type BridgeEvent } from '../common/bridge-protocol.ts';
import { MESSAGING_CHANGED_TOPIC } from '../common/client-api.ts';
import type { HostSettings } from '../common/host-settings.ts';
import { messageNotificationFor } from '../common/message-notification.ts';
import { safeHref } from '../common/message-format.ts';
import { CallsEngineRelay } from '../node/calls-engine-relay.ts';
import { CoreClientFactory } from '../node/core-client-factory.ts';
import { startEmbeddedServer, type EmbeddedServer } from '../node/embedded-server.ts';
import { parseIpcCall } from '../node/ipc-call.ts';
import { ProfileLauncher } from '../node/profile-launcher.ts';
import { profileDirFor } from '../node/profile-paths.ts';
import { toRpcError } from '../node/rpc-endpoint.ts';
import { desktopHostArgv, parseWebHostArgs } from '../node/web-host.ts';

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
  const args = parseWebHostArgs(desktopHostArgv(process.argv, process.defaultApp === true));
  const logger = createLogger({ level: process.env.DISCORDOPUS_LOG_LEVEL ?? 'warn', name: 'discordopus-desktop' });
  let embedded: EmbeddedServer | undefined;
  if (args.server === undefined) embedded = await startEmbeddedServer();
  const launcher = new ProfileLauncher({
    profileName: args.profile,
    profileDir: profileDirFor(args.profile),
    factory: new CoreClientFactory({ logger, ...(args.pluginDir ? { thirdPartyPluginDir: args.pluginDir } : {}) }),
    defaultServerUrl: args.server ?? embedded!.url,
  });

  // The window can be the calls plugin's media engine (Chromium WebRTC); see calls-engine-relay.ts.
  const callsRelay = new CallsEngineRelay((method, params) => launcher.call(method, params));

  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  // No remote content: only our own files load.
  session.defaultSession.webRequest.onBeforeRequest((details, callback) => {
    callback({ cancel: !(details.url.startsWith('file://') || details.url.startsWith('data:') || details.url.startsWith('devtools://')) });
  });
  session.defaultSession.setPermissionRequestHandler((_contents, permission, callback) => callback(permission === 'notifications' || permission === 'clipboard-sanitized-write' || permission === 'media' || permission === 'display-capture'));
  // Screen sharing in a call: the first screen (a picker is future work).
  session.defaultSession.setDisplayMediaRequestHandler((_request, callback) => {
    void desktopCapturer.getSources({ types: ['screen'] }).then((sources) => callback(sources[0] ? { video: sources[0] } : {}));
  });

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
  // A link in a message (target=_blank) opens in the system browser, never in the app; only
  // http(s) and mailto addresses (the renderer makes no others into links, checked again here).
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (safeHref(url) !== undefined) void shell.openExternal(url);
    return { action: 'deny' };
  });

  ipcMain.handle(IpcChannel.call, async (event: IpcMainInvokeEvent, payload: unknown) => {
    // Only our own page may call; a frame that navigated elsewhere gets nothing.
    if (event.senderFrame?.url !== rendererUrl) return { ok: false, error: { code: -32600, message: 'Unknown sender.', data: { code: 'bridge/forbidden' } } };
    try {
      const call = parseIpcCall(payload);
      if (call.method === DesktopMethod.filesOpen || call.method === DesktopMethod.filesReveal) {
        await showReceivedFile(call.method, call.params);
        return { ok: true, result: null };
      }
      if (callsRelay.handles(call.method)) return { ok: true, result: (await callsRelay.call(call.method, call.params)) ?? null };
      return { ok: true, result: (await launcher.call(call.method, call.params)) ?? null };
    } catch (error) {
      const rpcError = toRpcError(error);
      if (rpcError.code === -32603) logger.error('bridge: method failed', { error: String(error) });
      return { ok: false, error: rpcError };
    }
  });
  // A file the user picked or dropped: the preload read its path from the File object.
  ipcMain.handle(IpcChannel.sendFile, async (event: IpcMainInvokeEvent, payload: unknown) => {
    if (event.senderFrame?.url !== rendererUrl) return { ok: false, error: { code: -32600, message: 'Unknown sender.', data: { code: 'bridge/forbidden' } } };
    try {
      const { contact, path: file } = (payload ?? {}) as { contact?: unknown; path?: unknown };
      if (typeof contact !== 'string' || typeof file !== 'string' || !path.isAbsolute(file)) throw new AppError('bridge/invalid-params', 'Pick or drop a file from your disk to send it.');
      return { ok: true, result: await launcher.callTrusted('files.send', { contact, path: file }) };
    } catch (error) {
      return { ok: false, error: toRpcError(error) };
    }
  });

  /** Opens, or shows in its folder, a file received in a completed transfer (never any other path). */
  async function showReceivedFile(method: string, params: unknown): Promise<void> {
    const id = (params as { transferId?: unknown } | undefined)?.transferId;
    const transfers = (await launcher.call('files.list', {})) as { id: string; direction: string; state: string; path?: string }[];
    const transfer = transfers.find((t) => t.id === id && t.direction === 'in' && t.state === 'completed' && typeof t.path === 'string');
    if (!transfer?.path) throw new AppError('files/unknown-transfer', 'That file is not a completed download.');
    if (method === DesktopMethod.filesReveal) shell.showItemInFolder(transfer.path);
    else {
      const problem = await shell.openPath(transfer.path);
      if (problem) throw new AppError('files/open-failed', `The file could not be opened: ${problem}`);
    }
  }

  const events = launcher.onEvent((raw) => {
    const event = callsRelay.mapEvent(raw);
    if (!event) return;
    if (!win.isDestroyed()) win.webContents.send(IpcChannel.event, event);
    if (event.topic === MESSAGING_CHANGED_TOPIC) notify(event).catch((error) => logger.warn('notification failed', { error: String(error) }));
  });

  // Message notifications while the window is not focused, with the system's notifications.
  async function notify(event: BridgeEvent): Promise<void> {
    if (!Notification.isSupported() || win.isDestroyed()) return;
    const settings = (await launcher.call('host.settings.get', {})) as HostSettings;
    const first = messageNotificationFor(event.payload, { settings, focused: win.isFocused() });
    if (!first) return;
    const contact = (await launcher.call('contacts.get', { contact: first.peer }).catch(() => undefined)) as { name?: string } | undefined;
    const shown = messageNotificationFor(event.payload, { settings, focused: false, senderName: contact?.name })!;
    const notification = new Notification({ title: shown.title, body: shown.body });
    notification.on('click', () => {
      if (win.isDestroyed()) return;
      if (win.isMinimized()) win.restore();
      win.show();
      win.focus();
      win.webContents.send(IpcChannel.event, { topic: OPEN_CONVERSATION_TOPIC, payload: { peer: shown.peer } });
    });
    notification.show();
  }

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
