import { AppError, SignalingErrorCodes, type OneTimePrekey, type PrekeyBundle, type SignedPrekey, type UserId } from '@discordopus/sdk';

/** What a fetch hands out: a bundle (with at most one one-time prekey) and how many are left. */
export interface TakenBundle {
  bundle: PrekeyBundle;
  remaining: number;
}

/**
 * Where the server keeps prekey bundles. `take` must hand out each one-time prekey at most
 * once, atomically, also under concurrent calls (and across processes for shared stores).
 * Signatures are verified before anything reaches a store.
 */
export interface PrekeyStore {
  /**
   * Replaces the signed prekey (when given) and appends one-time prekeys.
   * @returns the number of one-time prekeys now stored.
   * @throws AppError `signaling/no-bundle` when no signed prekey was ever given,
   *   `signaling/too-many-prekeys` when the upload would exceed `maxStored`.
   */
  upload(userId: UserId, identityKey: Uint8Array, signedPrekey: SignedPrekey | undefined, oneTime: readonly OneTimePrekey[], maxStored: number): Promise<number>;
  /** Takes a bundle, popping the oldest one-time prekey; `undefined` when the user has none. */
  take(userId: UserId): Promise<TakenBundle | undefined>;
  close(): Promise<void>;
}

export const noBundleError = () =>
  new AppError(SignalingErrorCodes.noBundle, 'No signed prekey is stored for this user: upload one with the first prekey upload.');
export const tooManyPrekeysError = (stored: number, max: number) =>
  new AppError(SignalingErrorCodes.tooManyPrekeys, `The server keeps at most ${max} one-time prekeys per user and ${stored} are stored; upload fewer.`);

interface MemoryEntry {
  identityKey: Uint8Array;
  signedPrekey: SignedPrekey | undefined;
  oneTime: OneTimePrekey[];
}

/** In-process store for a single server; lost on restart. */
export class MemoryPrekeyStore implements PrekeyStore {
  private readonly entries = new Map<UserId, MemoryEntry>();

  async upload(userId: UserId, identityKey: Uint8Array, signedPrekey: SignedPrekey | undefined, oneTime: readonly OneTimePrekey[], maxStored: number): Promise<number> {
    const entry = this.entries.get(userId);
    if (!signedPrekey && !entry?.signedPrekey) throw noBundleError();
    const stored = entry?.oneTime.length ?? 0;
    if (stored + oneTime.length > maxStored) throw tooManyPrekeysError(stored, maxStored);
    const next: MemoryEntry = entry ?? { identityKey, signedPrekey, oneTime: [] };
    next.identityKey = Uint8Array.from(identityKey);
    if (signedPrekey) next.signedPrekey = copySigned(signedPrekey);
    for (const key of oneTime) next.oneTime.push({ keyId: key.keyId, publicKey: Uint8Array.from(key.publicKey) });
    this.entries.set(userId, next);
    return next.oneTime.length;
  }

  async take(userId: UserId): Promise<TakenBundle | undefined> {
    const entry = this.entries.get(userId);
    if (!entry?.signedPrekey) return undefined;
    const oneTimePrekey = entry.oneTime.shift();
    const bundle: PrekeyBundle = { userId, identityKey: entry.identityKey, signedPrekey: entry.signedPrekey };
    if (oneTimePrekey) bundle.oneTimePrekey = oneTimePrekey;
    return { bundle, remaining: entry.oneTime.length };
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}

function copySigned(key: SignedPrekey): SignedPrekey {
  return { keyId: key.keyId, publicKey: Uint8Array.from(key.publicKey), signature: Uint8Array.from(key.signature) };
}
