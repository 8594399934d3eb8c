import { isAppError, userIdFromPublicKey } from '@discordopus/sdk';
import type { UserId } from '@discordopus/sdk';
import { describe, expect, it } from 'vitest';
import { NobleCryptoProvider } from '../../common/crypto/noble-crypto-provider.ts';
import { openBackup, sealBackup } from './identity-backup.ts';
import type { BackupContents } from './identity-backup.ts';

const crypto = new NobleCryptoProvider();
const kdf = { log2N: 10, r: 8, p: 1 };

function contents(): BackupContents {
  const { publicKey, secretKey } = crypto.ed25519GenerateKeyPair();
  const friend = crypto.ed25519GenerateKeyPair().publicKey;
  return {
    secretKey, userId: userIdFromPublicKey(publicKey), displayName: 'Alice', createdAt: 1_700_000_000_000,
    contacts: [
      { userId: userIdFromPublicKey(friend), name: 'bob', verified: true, identityKey: friend, addedAt: 5 },
      { userId: userIdFromPublicKey(crypto.ed25519GenerateKeyPair().publicKey), name: '', verified: false, addedAt: 6 },
    ],
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<AppErrorLike> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(isAppError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  return error as AppErrorLike;
}
type AppErrorLike = { code: string; message: string };

describe('identity backup', () => {
  it('round-trips the identity and contacts, reporting progress', async () => {
    const original = contents();
    const progress: number[] = [];
    const sealed = await sealBackup(crypto, original, 'correct horse battery', { kdf });
    const restored = await openBackup(crypto, sealed, 'correct horse battery', { onProgress: (f) => progress.push(f) });
    expect(restored).toEqual(original);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(1);
  });

  it('uses a fresh salt and nonce each time', async () => {
    const c = contents();
    const a = await sealBackup(crypto, c, 'correct horse battery', { kdf });
    const b = await sealBackup(crypto, c, 'correct horse battery', { kdf });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it('does not contain the secret key or names in clear', async () => {
    const c = contents();
    const sealed = Buffer.from(await sealBackup(crypto, c, 'correct horse battery', { kdf }));
    expect(sealed.includes(Buffer.from(c.secretKey))).toBe(false);
    expect(sealed.includes(Buffer.from(Buffer.from(c.secretKey).toString('base64url')))).toBe(false);
    expect(sealed.includes(Buffer.from('Alice'))).toBe(false);
    expect(sealed.includes(Buffer.from(c.userId))).toBe(false);
  });

  it('says the passphrase is wrong', async () => {
    const sealed = await sealBackup(crypto, contents(), 'correct horse battery', { kdf });
    const error = await expectCode(openBackup(crypto, sealed, 'wrong horse battery'), 'backup/wrong-passphrase');
    expect(error.message).toMatch(/passphrase is wrong/);
  });

  it('detects a flipped bit anywhere in the ciphertext as tampering', async () => {
    const sealed = await sealBackup(crypto, contents(), 'correct horse battery', { kdf });
    for (const at of [57, 80, sealed.length - 1]) {
      const bad = Uint8Array.from(sealed);
      bad[at]! ^= 0x01;
      await expectCode(openBackup(crypto, bad, 'correct horse battery'), 'backup/tampered');
    }
  });

  it('detects a changed nonce (header) as tampering', async () => {
    const sealed = await sealBackup(crypto, contents(), 'correct horse battery', { kdf });
    const bad = Uint8Array.from(sealed);
    bad[50]! ^= 0x80;
    await expectCode(openBackup(crypto, bad, 'correct horse battery'), 'backup/tampered');
  });

  it('refuses files that are not backups, truncated or of another version', async () => {
    const sealed = await sealBackup(crypto, contents(), 'correct horse battery', { kdf });
    await expectCode(openBackup(crypto, new TextEncoder().encode('{"hello":1}'), 'x'), 'backup/malformed');
    await expectCode(openBackup(crypto, new Uint8Array(0), 'x'), 'backup/malformed');
    await expectCode(openBackup(crypto, sealed.subarray(0, 60), 'correct horse battery'), 'backup/malformed');
    const otherVersion = Uint8Array.from(sealed);
    otherVersion[8] = 2;
    const error = await expectCode(openBackup(crypto, otherVersion, 'correct horse battery'), 'backup/malformed');
    expect(error.message).toMatch(/version 2/);
  });

  it('refuses hostile key-derivation parameters without running them', async () => {
    const sealed = await sealBackup(crypto, contents(), 'correct horse battery', { kdf });
    const hostile = Uint8Array.from(sealed);
    hostile[10] = 30; // N = 2^30
    await expectCode(openBackup(crypto, hostile, 'correct horse battery'), 'backup/malformed');
  });

  it('refuses short passphrases and bad kdf options', async () => {
    await expectCode(sealBackup(crypto, contents(), 'short', { kdf }), 'backup/weak-passphrase');
    await expect(sealBackup(crypto, contents(), 'long enough pass', { kdf: { log2N: 4, r: 8, p: 1 } })).rejects.toThrow(RangeError);
  });

  it('refuses a backup whose identity does not match its user ID', async () => {
    const c = contents();
    const forged = { ...c, userId: c.contacts[0]!.userId as UserId };
    const sealed = await sealBackup(crypto, forged, 'correct horse battery', { kdf });
    await expectCode(openBackup(crypto, sealed, 'correct horse battery'), 'backup/malformed');
  });
});
