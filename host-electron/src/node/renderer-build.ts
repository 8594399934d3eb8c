import { existsSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** host-electron/ */
export const HOST_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Where the renderer build lives; the web host serves it and Electron loads it. */
export const RENDERER_DIST = path.join(HOST_ROOT, 'dist', 'renderer');
// The plugins' renderer parts are bundled in too (the calls engine and its device lists).
const PLUGIN_RENDERER_SOURCES = ['calls'].flatMap((plugin) => ['renderer', 'common'].map((dir) => path.join(HOST_ROOT, '..', 'plugins', plugin, 'src', dir)));
const SOURCES = [path.join(HOST_ROOT, 'src', 'renderer'), path.join(HOST_ROOT, 'src', 'common'), path.join(HOST_ROOT, 'vite.config.ts'), ...PLUGIN_RENDERER_SOURCES];

/** True when the build is missing or older than any renderer source. */
export async function rendererBuildIsStale(): Promise<boolean> {
  const index = path.join(RENDERER_DIST, 'index.html');
  if (!existsSync(index)) return true;
  const built = (await stat(index)).mtimeMs;
  for (const source of SOURCES) if ((await newestMtime(source)) > built) return true;
  return false;
}

/**
 * Builds the renderer with Vite when it is stale (or always with `force`). The build goes to a
 * temporary folder first and is then renamed into place, so a host serving the old build never
 * sees a half-written one.
 */
export async function ensureRendererBuilt(options: { force?: boolean; log?: (line: string) => void } = {}): Promise<string> {
  if (!options.force && !(await rendererBuildIsStale())) return RENDERER_DIST;
  options.log?.('Building the renderer (vite)…');
  const { build } = await import('vite');
  const temp = `${RENDERER_DIST}.tmp-${process.pid}`;
  await build({ configFile: path.join(HOST_ROOT, 'vite.config.ts'), build: { outDir: temp, emptyOutDir: true }, logLevel: 'warn' });
  // Two renames (old out of the way, new into place) leave a gap of microseconds where a
  // recursive delete first would leave a host serving nothing for as long as the delete takes.
  const old = `${RENDERER_DIST}.old-${process.pid}`;
  await rename(RENDERER_DIST, old).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  try {
    await rename(temp, RENDERER_DIST);
  } catch (error) {
    // Another process put its fresh build in place between our two renames: serve that one.
    if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    await rm(temp, { recursive: true, force: true });
  }
  await rm(old, { recursive: true, force: true });
  return RENDERER_DIST;
}

async function newestMtime(target: string): Promise<number> {
  const info = await stat(target);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of await readdir(target)) {
    if (entry.endsWith('.spec.ts')) continue;
    newest = Math.max(newest, await newestMtime(path.join(target, entry)));
  }
  return newest;
}
