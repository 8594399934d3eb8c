import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStaging, MAX_STAGE_CHUNK_BYTES, stagedName } from './file-staging.ts';

let dir: string;
let staging: FileStaging;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'file-staging-'));
  staging = new FileStaging(path.join(dir, 'staging'));
});
afterEach(async () => {
  await staging.close();
  await rm(dir, { recursive: true, force: true });
});

describe('FileStaging', () => {
  it('assembles chunks in order into a private file under the original name, and releases it', async () => {
    const id = await staging.begin('report.pdf', 6);
    expect(await staging.chunk(id, 0, new Uint8Array([1, 2, 3]))).toBe(3);
    expect(await staging.chunk(id, 3, new Uint8Array([4, 5, 6]))).toBe(6);
    const file = await staging.finish(id);
    expect(path.basename(file)).toBe('report.pdf');
    expect(staging.owns(file)).toBe(true);
    expect([...await readFile(file)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await staging.release(file);
    await expect(stat(path.dirname(file))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses chunks out of order, beyond the size, too large, or for an unknown upload', async () => {
    const id = await staging.begin('a.bin', 4);
    await expect(staging.chunk(id, 2, new Uint8Array(1))).rejects.toMatchObject({ code: 'files/upload-out-of-order' });
    await expect(staging.chunk(id, 0, new Uint8Array(MAX_STAGE_CHUNK_BYTES + 1))).rejects.toThrow(RangeError);
    await expect(staging.finish(id)).rejects.toMatchObject({ code: 'files/upload-incomplete' });
    await expect(staging.chunk(id, 0, new Uint8Array(5))).rejects.toMatchObject({ code: 'files/upload-too-large' });
    await expect(staging.chunk(id, 0, new Uint8Array(1))).rejects.toMatchObject({ code: 'files/unknown-upload' });
    await expect(staging.begin('x', -1)).rejects.toThrow(RangeError);
    await expect(staging.begin('x', 1.5)).rejects.toThrow(RangeError);
  });

  it('only owns files it staged, so releasing never deletes anything else', async () => {
    expect(staging.owns(path.join(dir, 'staging'))).toBe(false);
    expect(staging.owns(path.join(dir, 'staging', 'x'))).toBe(false);
    expect(staging.owns(path.join(dir, 'staging', 'a', 'b', 'c'))).toBe(false);
    expect(staging.owns(path.join(dir, 'staging', '..', 'other', 'f'))).toBe(false);
    expect(staging.owns('/etc/passwd')).toBe(false);
    await staging.release('/etc/passwd');
  });

  it('cleans names: no folders, no hidden files, no control characters', () => {
    expect(stagedName('../../etc/passwd')).toBe('passwd');
    expect(stagedName('C:\\Users\\me\\photo.jpg')).toBe('photo.jpg');
    expect(stagedName('.hidden')).toBe('hidden');
    expect(stagedName('a\u202eexe.txt')).toBe('aexe.txt');
    expect(stagedName('')).toBe('file');
    expect(stagedName('...')).toBe('file');
  });
});
