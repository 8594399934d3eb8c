// Fast start for the TypeScript bins (`discordopus`, `discordopus-server`).
//
// Running the sources through tsx costs 2-5 s of CPU per start, mostly tsx's module hooks (a loader
// thread every import goes through, node_modules included) and on-the-fly transforms. Instead the
// bin imports an esbuild bundle of its entry and of our own workspace sources; every npm package
// stays external and is loaded by Node as usual (native modules, werift's file layout, package
// exports unchanged).
//
// Never stale: the manifest records size, mtime and ctime of every file the bundle was built from
// (plus the package.json and tsconfig files that steer resolution and this file), taken before
// esbuild reads them; any difference rebuilds. A source that does not build falls back to tsx,
// so the user sees the same error as before and never an old bundle.
//
// Concurrent starts: each build writes into its own new folder and publishes it by renaming a
// manifest over `current.json`, so a reader only ever sees a complete bundle. A mkdir lock makes
// simultaneous first starts wait for one build instead of all building.
//
// Plain JavaScript on purpose: it has to run before anything can compile TypeScript.
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bump when the bundle's shape changes, so old caches are ignored. */
const FORMAT = 1;
const LOCK_WAIT_MS = 60_000;
const STALE_LOCK_MS = 30_000;
const KEEP_OLD_BUILDS_MS = 24 * 3600_000;
const self = fileURLToPath(import.meta.url);

/**
 * Imports a bin's TypeScript entry: from a fresh esbuild bundle when possible, else through tsx.
 * `DISCORDOPUS_FROM_SOURCE=1` forces tsx; `DISCORDOPUS_BIN_DEBUG=1` says on stderr which path ran.
 *
 * @param {object} spec
 * @param {string} spec.entry absolute path of the entry .ts file
 * @param {string} spec.cacheDir folder (gitignored) holding the bundles and current.json
 * @param {string} [spec.tsconfig] tsconfig.json for decorators and JSX settings, when it exists
 * @param {string} [spec.esbuild] module specifier of esbuild (tests point it at a missing one)
 * @returns {Promise<Record<string, unknown>>} the entry's module namespace
 */
export async function importBin(spec) {
  const debug = process.env.DISCORDOPUS_BIN_DEBUG === '1' ? (message) => process.stderr.write(`bin: ${message}\n`) : () => {};
  if (process.env.DISCORDOPUS_FROM_SOURCE !== '1') {
    let bundle;
    try {
      bundle = await ensureBundle(spec, debug);
    } catch (error) {
      debug(`bundle unavailable (${error?.message ?? error}), running the sources through tsx`);
    }
    // Outside the try: an error thrown by the program itself must not run it a second time.
    if (bundle) return import(pathToFileURL(bundle).href);
  }
  debug('source via tsx');
  const { register } = await import('tsx/esm/api');
  register(spec.tsconfig && exists(spec.tsconfig) ? { tsconfig: spec.tsconfig } : {});
  return import(pathToFileURL(spec.entry).href);
}

/**
 * Returns the path of an up-to-date bundle of `spec.entry`, building it first when a source
 * changed. Throws when esbuild is missing or the sources do not build.
 */
export async function ensureBundle(spec, debug = () => {}) {
  const fresh = freshBundle(spec);
  if (fresh) {
    debug(`bundle reused ${fresh}`);
    return fresh;
  }
  mkdirSync(spec.cacheDir, { recursive: true });
  const lock = path.join(spec.cacheDir, 'build.lock');
  const locked = await acquire(lock, debug);
  try {
    // Another process may have published a build while this one waited for the lock.
    const built = locked ? freshBundle(spec) : undefined;
    if (built) {
      debug(`bundle reused ${built}`);
      return built;
    }
    const file = await build(spec);
    debug(`bundle built ${file}`);
    return file;
  } finally {
    if (locked) rmSync(lock, { recursive: true, force: true });
  }
}

/** The bundle current.json points to, when every recorded input is unchanged. */
function freshBundle(spec) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(path.join(spec.cacheDir, 'current.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (manifest?.format !== FORMAT || manifest.entry !== spec.entry || manifest.tsconfig !== (spec.tsconfig ?? null) || manifest.node !== process.versions.node) return undefined;
  if (typeof manifest.inputs !== 'object' || manifest.inputs === null) return undefined;
  for (const [file, recorded] of Object.entries(manifest.inputs)) {
    if (recorded === null || stamp(file) !== recorded) return undefined;
  }
  const bundle = path.join(spec.cacheDir, manifest.dir, 'main.js');
  return exists(bundle) ? bundle : undefined;
}

async function build(spec) {
  const esbuild = await import(spec.esbuild ?? 'esbuild');
  /** Stamps taken before reading, so an edit during the build makes the result stale at once. */
  const stamps = new Map();
  const dir = `b-${Date.now().toString(36)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const outdir = path.join(spec.cacheDir, dir);
  const tsconfig = spec.tsconfig && exists(spec.tsconfig) ? spec.tsconfig : undefined;
  let result;
  try {
    result = await esbuild.build({
      entryPoints: { main: spec.entry },
      outdir,
      bundle: true,
      // Lazily imported modules stay in their own chunks, so their packages load only when used.
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: `node${process.versions.node}`,
      // Same choices as tsx: class and function names survive (error messages, DI diagnostics).
      keepNames: true,
      sourcemap: 'linked',
      sourcesContent: false,
      metafile: true,
      logLevel: 'silent',
      ...(tsconfig ? { tsconfig } : {}),
      plugins: [sourcesOnly(stamps)],
    });
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  } finally {
    // esbuild's service process would otherwise live as long as the program (a daemon: days).
    await esbuild.stop?.();
  }
  const inputs = {};
  const record = (file) => {
    if (!(file in inputs)) inputs[file] = stamps.has(file) ? stamps.get(file) : stamp(file);
  };
  for (const input of Object.keys(result.metafile.inputs)) {
    const file = path.resolve(input);
    record(file);
    for (const manifest of packageJsonsAbove(file)) record(manifest);
  }
  for (const config of tsconfig ? tsconfigChain(tsconfig) : []) record(config);
  record(self);
  const manifest = { format: FORMAT, entry: spec.entry, tsconfig: spec.tsconfig ?? null, node: process.versions.node, dir, inputs };
  const temp = path.join(spec.cacheDir, `current.json.${process.pid}.${Math.random().toString(36).slice(2, 8)}`);
  writeFileSync(temp, JSON.stringify(manifest));
  renameSync(temp, path.join(spec.cacheDir, 'current.json'));
  pruneOldBuilds(spec.cacheDir, dir);
  return path.join(outdir, 'main.js');
}

/**
 * Bundles workspace sources only: bare specifiers other than our own `@discordopus/*` packages
 * stay imports. Each module keeps its own import.meta.url (code that finds files next to itself).
 */
function sourcesOnly(stamps) {
  return {
    name: 'discordopus-sources-only',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('@discordopus/') || path.isAbsolute(args.path)) return undefined;
        return { external: true };
      });
      b.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
        const fd = openSync(args.path, 'r');
        let source;
        try {
          stamps.set(args.path, stampOf(fstatSync(fd)));
          source = readFileSync(fd, 'utf8');
        } finally {
          closeSync(fd);
        }
        const url = pathToFileURL(args.path).href;
        const contents = source
          .replace(/\bimport\.meta\.url\b/g, JSON.stringify(url))
          .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(args.path))
          .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(path.dirname(args.path)));
        const ext = path.extname(args.path).slice(1);
        return { contents, loader: ext.startsWith('c') || ext.startsWith('m') ? ext.slice(1) : ext };
      });
    },
  };
}

function stampOf(stat) {
  return `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

/** A file's size, mtime and ctime (ctime cannot be set back by tools), or null when missing. */
function stamp(file) {
  try {
    return stampOf(statSync(file));
  } catch {
    return null;
  }
}

function exists(file) {
  return stamp(file) !== null;
}

const seenPackageDirs = new Map();
/** package.json files from a source file's folder up to the file system root (they steer resolution). */
function packageJsonsAbove(file) {
  const found = [];
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (!seenPackageDirs.has(dir)) seenPackageDirs.set(dir, exists(path.join(dir, 'package.json')));
    if (seenPackageDirs.get(dir)) found.push(path.join(dir, 'package.json'));
    if (path.dirname(dir) === dir) return found;
  }
}

/** tsconfig.json and the local files it extends. */
function tsconfigChain(file) {
  const chain = [file];
  try {
    const text = readFileSync(file, 'utf8');
    const base = /"extends"\s*:\s*"([^"]+)"/.exec(text)?.[1];
    if (base?.startsWith('.')) chain.push(...tsconfigChain(path.resolve(path.dirname(file), base.endsWith('.json') ? base : `${base}.json`)));
  } catch {
    // A missing tsconfig is recorded as missing (null): creating it rebuilds.
  }
  return chain;
}

/** Waits for the build lock; false when it stayed taken (a crashed holder): then build unlocked. */
async function acquire(lock, debug) {
  const deadline = Date.now() + LOCK_WAIT_MS;
  while (true) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, 'pid'), String(process.pid));
      return true;
    } catch (error) {
      if (error.code !== 'EEXIST') return false;
    }
    const holder = abandoned(lock);
    if (holder) {
      debug(`removed an abandoned build lock (${holder})`);
      rmSync(lock, { recursive: true, force: true });
    }
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/**
 * Why a lock's holder is known to have been killed mid-build (its process is gone, or the lock is
 * far older than a build takes), or undefined while it may still be building.
 */
function abandoned(lock) {
  try {
    const pid = Number(readFileSync(path.join(lock, 'pid'), 'utf8'));
    if (pid > 0) {
      try {
        process.kill(pid, 0);
      } catch (error) {
        if (error.code === 'ESRCH') return `pid ${pid} is gone`;
      }
    }
  } catch {
    // No pid yet: the holder is between mkdir and writing it, or died there; the age decides.
  }
  const stat = statSync(lock, { throwIfNoEntry: false });
  return stat !== undefined && Date.now() - stat.mtimeMs > STALE_LOCK_MS ? 'too old' : undefined;
}

/**
 * Removes builds other than the current one after a day: a long-running process (a daemon) may
 * still import lazily loaded chunks from the build it started with.
 */
function pruneOldBuilds(cacheDir, current) {
  for (const name of readdirSync(cacheDir)) {
    if (name === current || !(name.startsWith('b-') || name.startsWith('current.json.'))) continue;
    const file = path.join(cacheDir, name);
    try {
      if (Date.now() - statSync(file).mtimeMs > KEEP_OLD_BUILDS_MS) rmSync(file, { recursive: true, force: true });
    } catch {
      // Another process pruned it first.
    }
  }
}
