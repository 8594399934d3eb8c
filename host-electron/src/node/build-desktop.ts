import { buildElectronBundles } from './electron-build.ts';
import { ensureRendererBuilt } from './renderer-build.ts';

/* `npm run build:desktop`: the renderer and Electron's main/preload bundles, ready for electron-builder. */

await ensureRendererBuilt({ force: true, log: (line) => process.stderr.write(`${line}\n`) });
const { main, preload } = await buildElectronBundles();
process.stderr.write(`Built ${main} and ${preload}\n`);
