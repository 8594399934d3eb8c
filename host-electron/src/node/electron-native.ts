import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { HOST_ROOT } from './renderer-build.ts';

/*
 * Native modules built for Electron, kept apart from the repository's node_modules (which stays
 * built for Node 20: the tests use it, and a rebuild in place would break them). `npm run
 * rebuild:electron --workspace host-electron` copies each native module into
 * dist/electron-native/node_modules and rebuilds the copy against Electron's headers (this needs
 * the network to fetch them); `npm start` then bundles Electron's main so that it loads the copy.
 * Packages do not use this folder: electron-builder rebuilds its own staged copy (npmRebuild).
 */

export const ELECTRON_NATIVE_DIR = path.join(HOST_ROOT, 'dist', 'electron-native');
export const NATIVE_MODULES = ['better-sqlite3-multiple-ciphers'] as const;
/** Pinned like the other tools; run through npx only on machines that rebuild. */
export const ELECTRON_REBUILD = '@electron/rebuild@3.7.2'; // 4.x needs Node 22

/** The Electron build of a native module's entry file, when `rebuild:electron` made one. */
export function electronNativeEntry(name: string): string | undefined {
  const dir = path.join(ELECTRON_NATIVE_DIR, 'node_modules', name);
  if (!existsSync(path.join(dir, 'package.json'))) return undefined;
  const require = createRequire(path.join(ELECTRON_NATIVE_DIR, 'index.js'));
  try {
    return require.resolve(name);
  } catch {
    return undefined;
  }
}

/** Copies the native modules into the separate folder and rebuilds them for `electronVersion`. */
export async function rebuildNativeModulesForElectron(electronVersion: string, log: (line: string) => void): Promise<boolean> {
  const require = createRequire(path.join(HOST_ROOT, 'package.json'));
  await rm(ELECTRON_NATIVE_DIR, { recursive: true, force: true });
  await mkdir(path.join(ELECTRON_NATIVE_DIR, 'node_modules'), { recursive: true });
  for (const name of NATIVE_MODULES) {
    const source = path.dirname(require.resolve(`${name}/package.json`));
    // Without the Node build's compiled output, so nothing of Node's ABI can be picked up by mistake.
    await cp(source, path.join(ELECTRON_NATIVE_DIR, 'node_modules', name), {
      recursive: true, dereference: true, filter: (file) => file !== path.join(source, 'build'),
    });
  }
  log(`Rebuilding ${NATIVE_MODULES.join(', ')} for Electron ${electronVersion} in ${ELECTRON_NATIVE_DIR} (downloads Electron's headers)…`);
  const result = spawnSync('npx', ['--yes', ELECTRON_REBUILD, '--force', '--version', electronVersion, '--module-dir', ELECTRON_NATIVE_DIR, '--only', NATIVE_MODULES.join(',')], {
    cwd: HOST_ROOT, stdio: 'inherit',
  });
  return result.status === 0;
}
