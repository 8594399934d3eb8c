import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { electronNativeEntry, NATIVE_MODULES } from './electron-native.ts';
import { HOST_ROOT } from './renderer-build.ts';

/** Where `npm start` puts Electron's main and preload bundles. */
export const ELECTRON_DIST = path.join(HOST_ROOT, 'dist', 'electron');

/**
 * The Electron executable, or undefined when the binary was never downloaded (as with
 * ELECTRON_SKIP_BINARY_DOWNLOAD=1): the `electron` package then throws when asked for its path.
 */
export function findElectronBinary(): string | undefined {
  try {
    const binary = createRequire(import.meta.url)('electron') as unknown;
    return typeof binary === 'string' && existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when Electron can load the native SQLite module as installed. It is built for Node's ABI
 * by `npm ci`; Electron needs its own build (see README), without which the app could not open
 * a profile.
 */
export function electronCanLoadNativeModules(binary: string): boolean {
  // The Electron build in its own folder (rebuild:electron) when there is one, else the repository's.
  const entry = electronNativeEntry('better-sqlite3-multiple-ciphers') ?? 'better-sqlite3-multiple-ciphers';
  // Opening a database proves the addon loads, not just its JavaScript.
  const probe = spawnSync(binary, ['-e', `new (require(${JSON.stringify(entry)}))(':memory:').close()`], {
    cwd: HOST_ROOT,
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    stdio: 'ignore',
    timeout: 60_000,
  });
  return probe.status === 0;
}

/**
 * Bundles src/electron/main.ts (ESM, with the workspace packages inlined because they ship as
 * TypeScript; npm packages stay external, native modules included) and src/electron/preload.ts
 * (one CommonJS file: a sandboxed preload cannot load other modules).
 */
export async function buildElectronBundles(options: { useElectronNativeBuild?: boolean } = {}): Promise<{ main: string; preload: string }> {
  const esbuild = await import('esbuild');
  const main = path.join(ELECTRON_DIST, 'main.js');
  const preload = path.join(ELECTRON_DIST, 'preload.cjs');
  const externals = {
    name: 'npm-externals',
    setup(build: import('esbuild').PluginBuild) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('@discordopus/')) return undefined;
        // `npm start` on this checkout: the native modules' Electron build from its separate folder.
        // Packages never do this (their main must not name this machine's paths).
        const native = options.useElectronNativeBuild && (NATIVE_MODULES as readonly string[]).includes(args.path) ? electronNativeEntry(args.path) : undefined;
        return { path: native ?? args.path, external: true };
      });
    },
  };
  await esbuild.build({
    entryPoints: [path.join(HOST_ROOT, 'src/electron/main.ts')],
    outfile: main, bundle: true, platform: 'node', format: 'esm', target: 'node22',
    plugins: [externals], tsconfig: path.join(HOST_ROOT, 'tsconfig.json'), logLevel: 'warning',
  });
  await esbuild.build({
    entryPoints: [path.join(HOST_ROOT, 'src/electron/preload.ts')],
    outfile: preload, bundle: true, platform: 'node', format: 'cjs', target: 'node22',
    external: ['electron'], logLevel: 'warning',
  });
  return { main, preload };
}
