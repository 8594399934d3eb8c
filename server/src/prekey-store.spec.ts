import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SignalingErrorCodes, userIdFromPublicKey, type OneTimePrekey, type SignedPrekey } from '@discordopus/sdk';
import { MemoryPrekeyStore, type PrekeyStore } from './prekey-store.ts';
import { SqlitePrekeyStore } from './sqlite-prekey-store.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempFile = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'do-prekeys-'));
  dirs.push(dir);
  return path.join(dir, 'prekeys.db');
};

const identityKey = new Uint8Array(32).fill(1);
const userId = userIdFromPublicKey(identityKey);
const spk = (keyId: number): SignedPrekey => ({ keyId, publicKey: new Uint8Array(32).fill(keyId), signature: new Uint8Array(64).fill(keyId) });
const otks = (from: number, n: number): OneTimePrekey[] => Array.from({ length: n }, (_, i) => ({ keyId: from + i, publicKey: new Uint8Array(32).fill(from + i) }));

// Signatures are checked before a store is reached; these tests are about storage semantics.
describe.each([
  ['MemoryPrekeyStore', () => new MemoryPrekeyStore()],
  ['SqlitePrekeyStore', () => new SqlitePrekeyStore(tempFile())],
] as [string, () => PrekeyStore][])('%s', (_name, create) => {
  it('returns nothing for an unknown user and needs a signed prekey first', async () => {
    const store = create();
    expect(await store.take(userId)).toBeUndefined();
    await expect(store.upload(userId, identityKey, undefined, otks(1, 2), 100)).rejects.toMatchObject({ code: SignalingErrorCodes.noBundle });
    await store.close();
  });

  it('hands out one-time prekeys oldest first, once each, then bundles without one', async () => {
    const store = create();
    expect(await store.upload(userId, identityKey, spk(5), otks(1, 3), 100)).toBe(3);
    const taken = [await store.take(userId), await store.take(userId), await store.take(userId), await store.take(userId)];
    expect(taken.map((t) => t?.bundle.oneTimePrekey?.keyId)).toEqual([1, 2, 3, undefined]);
    expect(taken.map((t) => t?.remaining)).toEqual([2, 1, 0, 0]);
    expect(taken[3]!.bundle.signedPrekey).toEqual(spk(5));
    expect(taken[3]!.bundle.identityKey).toEqual(identityKey);
    expect(taken[0]!.bundle.oneTimePrekey!.publicKey).toEqual(new Uint8Array(32).fill(1));
    await store.close();
  });

  it('replaces the signed prekey, appends one-time prekeys, and caps their number', async () => {
    const store = create();
    await store.upload(userId, identityKey, spk(1), otks(1, 2), 4);
    expect(await store.upload(userId, identityKey, spk(2), otks(3, 2), 4)).toBe(4);
    await expect(store.upload(userId, identityKey, undefined, otks(5, 1), 4)).rejects.toMatchObject({ code: SignalingErrorCodes.tooManyPrekeys });
    const first = await store.take(userId);
    expect(first?.bundle.signedPrekey.keyId).toBe(2);
    expect(first?.remaining).toBe(3);
    await store.close();
  });
});

describe('SqlitePrekeyStore across processes', () => {
  it('never hands out a one-time prekey twice when several processes share the file', async () => {
    const file = tempFile();
    const store = new SqlitePrekeyStore(file);
    await store.upload(userId, identityKey, spk(1), otks(0, 900), 1000);
    await store.close();
    const module = path.join(path.dirname(new URL(import.meta.url).pathname), 'sqlite-prekey-store.ts');
    const script = `
      const { SqlitePrekeyStore } = await import(${JSON.stringify(module)});
      const store = new SqlitePrekeyStore(${JSON.stringify(file)});
      const ids = [];
      for (let i = 0; i < 400; i++) { const t = await store.take(${JSON.stringify(userId)}); if (t.bundle.oneTimePrekey) ids.push(t.bundle.oneTimePrekey.keyId); }
      await store.close();
      console.log(JSON.stringify(ids));`;
    const run = promisify(execFile);
    const outputs = await Promise.all([0, 1, 2].map(() => run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.resolve(path.dirname(module), '../..') })));
    const ids = outputs.flatMap((o) => JSON.parse(o.stdout.trim()) as number[]);
    expect(ids).toHaveLength(900);
    expect(new Set(ids).size).toBe(900);
  });
});
