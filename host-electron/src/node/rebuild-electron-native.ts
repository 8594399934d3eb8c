import { createRequire } from 'node:module';
import { ELECTRON_NATIVE_DIR, rebuildNativeModulesForElectron } from './electron-native.ts';

/* `npm run rebuild:electron`: the Electron build of the native modules, in its own folder. */

const log = (line: string) => process.stderr.write(`${line}\n`);
const electronVersion = (createRequire(import.meta.url)('electron/package.json') as { version: string }).version;
if (await rebuildNativeModulesForElectron(electronVersion, log)) {
  log(`Done: ${ELECTRON_NATIVE_DIR}. \`npm start\` now runs Electron with it; the repository's node_modules is unchanged.`);
} else {
  log('The rebuild failed (it needs a compiler toolchain and the network for Electron\'s headers). `npm start` keeps running the web version.');
  process.exitCode = 1;
}
