import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '@discordopus/sdk';

/*
 * Files the web renderer sends: a browser has File objects, not paths, so the page uploads the
 * bytes in chunks into a staging folder of the profile, and the host then offers the staged file
 * with `files.send`. The page never names a host path. A staged file stays until its transfer
 * ends (the files plugin reads it again to resume after a restart).
 */

/** Largest chunk accepted per call (raw bytes; base64 on the bridge stays under its 8 MiB cap). */
export const MAX_STAGE_CHUNK_BYTES = 4 * 1024 * 1024;
const MAX_OPEN_UPLOADS = 16;
const RESERVED = /[<>:"/\\|?*]/g;
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

interface Upload {
  file: string;
  handle: FileHandle;
  size: number;
  received: number;
}

export class FileStaging {
  private readonly uploads = new Map<string, Upload>();

  constructor(readonly dir: string) {}

  /**
   * Starts an upload of `size` bytes under the (cleaned) name `name`.
   * @throws AppError `files/too-many-uploads`; RangeError for a bad size.
   */
  async begin(name: string, size: number): Promise<string> {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('stageBegin: size must be a non-negative integer');
    if (this.uploads.size >= MAX_OPEN_UPLOADS) {
      throw new AppError('files/too-many-uploads', `At most ${MAX_OPEN_UPLOADS} files can be prepared at once. Wait for the others to start sending.`);
    }
    const id = randomBytes(16).toString('hex');
    const folder = path.join(this.dir, id);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const file = path.join(folder, stagedName(name));
    const handle = await open(file, 'wx', 0o600);
    this.uploads.set(id, { file, handle, size, received: 0 });
    return id;
  }

  /**
   * Appends one chunk; chunks come in order (`offset` = bytes received so far).
   * @throws AppError `files/unknown-upload`, `files/upload-out-of-order`, `files/upload-too-large`
   */
  async chunk(id: string, offset: number, data: Uint8Array): Promise<number> {
    const upload = this.get(id);
    if (data.byteLength > MAX_STAGE_CHUNK_BYTES) throw new RangeError(`stageChunk: a chunk may have at most ${MAX_STAGE_CHUNK_BYTES} bytes`);
    if (offset !== upload.received) {
      throw new AppError('files/upload-out-of-order', `The upload expected bytes from ${upload.received}, not ${offset}. Start sending the file again.`);
    }
    if (upload.received + data.byteLength > upload.size) {
      await this.discard(id);
      throw new AppError('files/upload-too-large', 'The file grew while it was read. Send it again.');
    }
    await upload.handle.write(data, 0, data.byteLength, offset);
    upload.received += data.byteLength;
    return upload.received;
  }

  /** Closes a complete upload and returns the staged file's path. @throws AppError `files/upload-incomplete` */
  async finish(id: string): Promise<string> {
    const upload = this.get(id);
    if (upload.received !== upload.size) {
      throw new AppError('files/upload-incomplete', `Only ${upload.received} of ${upload.size} bytes arrived. Send the file again.`);
    }
    this.uploads.delete(id);
    await upload.handle.close();
    return upload.file;
  }

  /** Drops an unfinished upload and its bytes. */
  async discard(id: string): Promise<void> {
    const upload = this.uploads.get(id);
    if (!upload) return;
    this.uploads.delete(id);
    await upload.handle.close().catch(() => undefined);
    await rm(path.dirname(upload.file), { recursive: true, force: true });
  }

  /** True when `file` is a staged file (so it may be deleted once its transfer ended). */
  owns(file: string): boolean {
    const relative = path.relative(this.dir, file);
    return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) && relative.split(path.sep).length === 2;
  }

  /** Deletes a staged file (and its folder) once its transfer ended. */
  async release(file: string): Promise<void> {
    if (this.owns(file)) await rm(path.dirname(file), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    for (const id of [...this.uploads.keys()]) await this.discard(id);
  }

  private get(id: string): Upload {
    const upload = this.uploads.get(id);
    if (!upload) throw new AppError('files/unknown-upload', 'This upload is unknown (the app may have restarted). Send the file again.');
    return upload;
  }
}

/** The base name a staged file gets: what the receiver will see, so close to the original. */
export function stagedName(name: string): string {
  const base = String(name).split(/[/\\]/).pop() ?? '';
  const clean = base.normalize('NFC').replace(INVISIBLE, '').replace(RESERVED, '_').replace(/^[.\s]+/, '').slice(0, 200).trim();
  return clean === '' ? 'file' : clean;
}
