import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '@discordopus/sdk';
import { numberedName } from '../common/sanitize-file-name.ts';

/*
 * The file-system boundary of the plugin. Production uses node:fs; a test can put a failing
 * file system (disk full, read-only) behind the same interface where it cannot mount one.
 */

/** An open file, read or written at explicit positions. */
export interface FileHandleLike {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface FilesFs {
  open(file: string, flags: 'r' | 'r+' | 'wx'): Promise<FileHandleLike>;
  stat(file: string): Promise<{ size: number; mtimeMs: number; isFile(): boolean; isDirectory(): boolean }>;
  mkdir(dir: string): Promise<void>;
  /** Makes `to` a second name of `from`; fails with EEXIST instead of replacing `to`. */
  link(from: string, to: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
}

export const nodeFilesFs: FilesFs = {
  open: (file, flags) => fsp.open(file, flags),
  stat: (file) => fsp.stat(file),
  mkdir: async (dir) => {
    await fsp.mkdir(dir, { recursive: true });
  },
  link: (from, to) => fsp.link(from, to),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (file) => fsp.unlink(file),
};

const codeOf = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code;

/** A write or create failure as an error the user can act on. */
export function writeError(error: unknown, target: string): AppError {
  const code = codeOf(error);
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') {
    return new AppError('files/disk-full', `The disk holding ${target} is full. Free some space, then accept the transfer again to resume (the partial file is kept).`, { cause: error });
  }
  return new AppError('files/target-unwritable', `Cannot write to ${target} (${code ?? 'unknown error'}). Check the folder exists and is writable, then accept the transfer again to resume (the partial file is kept).`, { cause: error });
}

export function readError(error: unknown, source: string): AppError {
  const code = codeOf(error);
  if (code === 'ENOENT') return new AppError('files/not-found', `${source} does not exist. Check the path.`, { cause: error });
  return new AppError('files/unreadable', `Cannot read ${source} (${code ?? 'unknown error'}). Check its permissions.`, { cause: error });
}

const HASH_BLOCK = 1024 * 1024;

/** SHA-256 of the first `length` bytes of `file`, read in 1 MiB blocks (flat memory). */
export async function hashFile(fs: FilesFs, file: string, length: number, into = createHash('sha256')): Promise<ReturnType<typeof createHash>> {
  const handle = await fs.open(file, 'r');
  try {
    const block = Buffer.allocUnsafe(Math.min(HASH_BLOCK, Math.max(length, 1)));
    let at = 0;
    while (at < length) {
      const { bytesRead } = await handle.read(block, 0, Math.min(block.length, length - at), at);
      if (bytesRead === 0) throw new AppError('files/source-changed', `${file} is shorter than expected.`);
      into.update(block.subarray(0, bytesRead));
      at += bytesRead;
    }
    return into;
  } finally {
    await handle.close();
  }
}

/** Creates a new, empty file named `name` (or `name (1)`, ...) in `dir`, never replacing one. */
export async function createUnique(fs: FilesFs, dir: string, name: string): Promise<{ path: string; handle: FileHandleLike }> {
  for (let n = 0; n < 1000; n++) {
    const candidate = path.join(dir, numberedName(name, n));
    try {
      return { path: candidate, handle: await fs.open(candidate, 'wx') };
    } catch (error) {
      if (codeOf(error) !== 'EEXIST') throw writeError(error, dir);
    }
  }
  throw new AppError('files/target-unwritable', `Too many files named like ${name} in ${dir}. Tidy the folder and accept again.`);
}

/**
 * Gives the finished partial file its final name in `dir` without replacing an existing file
 * (a hard link fails on an existing name, unlike rename); adds ` (1)`, ` (2)`, ... as needed.
 */
export async function placeFile(fs: FilesFs, partPath: string, dir: string, name: string): Promise<string> {
  for (let n = 0; n < 1000; n++) {
    const candidate = path.join(dir, numberedName(name, n));
    try {
      await fs.link(partPath, candidate);
      await fs.unlink(partPath);
      return candidate;
    } catch (error) {
      const code = codeOf(error);
      if (code === 'EEXIST') continue;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EXDEV' || code === 'ENOSYS') {
        // File systems without hard links (FAT, some FUSE): check, then rename (a small race, no better option there).
        if (await exists(fs, candidate)) continue;
        await fs.rename(partPath, candidate);
        return candidate;
      }
      throw writeError(error, dir);
    }
  }
  throw new AppError('files/target-unwritable', `Too many files named like ${name} in ${dir}. Tidy the folder and accept again.`);
}

async function exists(fs: FilesFs, file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch {
    return false;
  }
}

/** Size of `file`, or undefined if it does not exist. */
export async function sizeOf(fs: FilesFs, file: string): Promise<number | undefined> {
  try {
    return (await fs.stat(file)).size;
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}
