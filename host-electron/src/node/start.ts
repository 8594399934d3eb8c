import { spawn } from 'node:child_process';
import { buildElectronBundles, electronCanLoadNativeModules, findElectronBinary } from './electron-build.ts';
import { ensureRendererBuilt } from './renderer-build.ts';

/*
 * `npm start`: builds and launches the Electron app when the Electron binary is installed and can
 * load the native modules; otherwise runs the web version and says why in one line.
 */

const log = (line: string) => process.stderr.write(`${line}\n`);
const args = process.argv.slice(2);
const electron = findElectronBinary();

if (!electron) {
  log('Electron is not installed on this machine (its binary was not downloaded): starting the web version instead.');
  await import('./start-web.ts');
} else if (!electronCanLoadNativeModules(electron)) {
  log('Electron cannot load the encrypted-SQLite module built for Node; run `npm run rebuild:electron --workspace host-electron` once (see host-electron/README.md): starting the web version instead.');
  await import('./start-web.ts');
} else {
  await ensureRendererBuilt({ log });
  const { main } = await buildElectronBundles({ useElectronNativeBuild: true });
  const child = spawn(electron, [main, ...args], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code) => process.exit(code ?? 0));
}
