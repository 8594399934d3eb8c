import { sql, type Kysely, type Transaction } from 'kysely';
import type { Logger, OneTimePrekey, PrekeyBundle, SignedPrekey, UserId } from '@discordopus/sdk';
import type { CryptoProvider, KeyPair } from '../../common/crypto/crypto-provider.ts';
import { generateSignedPrekey } from '../../common/protocol/x3dh.ts';
import type { IdentityKeyring } from '../identity/identity-keyring.ts';
import { PREKEYS_TABLE } from './session-migrations.ts';

/** The prekey side of the signaling server, as the SignalingClient offers it. */
export interface PrekeyDirectory {
  /** Resolves with the number of one-time prekeys the server now holds. */
  uploadPrekeys(signedPrekey: SignedPrekey | undefined, oneTimePrekeys: readonly OneTimePrekey[]): Promise<number>;
  /** A verified bundle (identity key hashes to `userId`, signed prekey signature checks out). */
  fetchPrekeyBundle(userId: UserId): Promise<PrekeyBundle>;
}

export interface PrekeyPolicy {
  /** One-time prekeys the server should hold. Default 100. */
  oneTimePrekeyTarget: number;
  /** A new signed prekey after this long. Default 7 days. */
  signedPrekeyRotationMs: number;
  /** Retired signed prekeys still answer initial messages this long after their successor appeared. Default 30 days. */
  signedPrekeyGraceMs: number;
  /**
   * A one-time prekey the server handed out (and no first message used yet) keeps its secret
   * this long, for a first message that is still on its way (an offline recipient). Default 30 days.
   */
  oneTimePrekeyGraceMs: number;
}

export const DEFAULT_PREKEY_POLICY: PrekeyPolicy = {
  oneTimePrekeyTarget: 100,
  signedPrekeyRotationMs: 7 * 24 * 3600_000,
  signedPrekeyGraceMs: 30 * 24 * 3600_000,
  oneTimePrekeyGraceMs: 30 * 24 * 3600_000,
};

const MAX_PER_UPLOAD = 200;

interface PrekeyRow {
  kind: 'signed' | 'one-time';
  key_id: number;
  public_key: Uint8Array;
  secret_key: Uint8Array;
  signature: Uint8Array | null;
  created_at: number;
}

/**
 * Our prekeys: a signed prekey rotated periodically and a pool of one-time prekeys, secrets in
 * the encrypted profile, public halves on the signaling server.
 */
export class PrekeyManager {
  constructor(
    private readonly db: Kysely<any>,
    private readonly crypto: CryptoProvider,
    private readonly keyring: IdentityKeyring,
    private readonly logger: Logger,
    private readonly policy: PrekeyPolicy,
    private readonly now: () => number,
  ) {}

  /**
   * Publishes the current signed prekey (rotating it when due) and tops the server's pool of
   * one-time prekeys up to the target. Safe to call on every (re)connect.
   */
  async publish(directory: PrekeyDirectory): Promise<{ remaining: number; uploaded: number }> {
    const signed = await this.currentSignedPrekey();
    let remaining = await directory.uploadPrekeys(signed, []);
    let uploaded = 0;
    while (remaining < this.policy.oneTimePrekeyTarget) {
      const batch = await this.createOneTimePrekeys(Math.min(MAX_PER_UPLOAD, this.policy.oneTimePrekeyTarget - remaining));
      const next = await directory.uploadPrekeys(undefined, batch);
      uploaded += batch.length;
      // A server that stores fewer than we sent (its own cap) must not make us loop forever.
      if (next <= remaining) break;
      remaining = next;
    }
    await this.pruneSignedPrekeys(signed.keyId);
    await this.pruneOneTimePrekeys(remaining);
    this.logger.debug('prekeys published', { remaining, uploaded });
    return { remaining, uploaded };
  }

  /** The signed prekey pair with `keyId`, current or retired within the grace period. */
  async signedPrekey(trx: Transaction<any> | Kysely<any>, keyId: number): Promise<KeyPair | undefined> {
    return this.pair(trx, 'signed', keyId);
  }

  async oneTimePrekey(trx: Transaction<any> | Kysely<any>, keyId: number): Promise<KeyPair | undefined> {
    return this.pair(trx, 'one-time', keyId);
  }

  /** Deletes a one-time prekey; false when it was already used (then the caller must roll back). */
  async consumeOneTimePrekey(trx: Transaction<any>, keyId: number): Promise<boolean> {
    const result = await trx.deleteFrom(PREKEYS_TABLE).where('kind', '=', 'one-time').where('key_id', '=', keyId).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async hasOneTimePrekey(keyId: number): Promise<boolean> {
    return (await this.oneTimePrekey(this.db, keyId)) !== undefined;
  }

  /** Number of one-time prekey secrets held locally. */
  async oneTimePrekeyCount(): Promise<number> {
    const row = await this.db.selectFrom(PREKEYS_TABLE).select((eb) => eb.fn.countAll<number>().as('n')).where('kind', '=', 'one-time').executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async pair(trx: Transaction<any> | Kysely<any>, kind: PrekeyRow['kind'], keyId: number): Promise<KeyPair | undefined> {
    const row = await trx.selectFrom(PREKEYS_TABLE).select(['public_key', 'secret_key']).where('kind', '=', kind).where('key_id', '=', keyId).executeTakeFirst() as Pick<PrekeyRow, 'public_key' | 'secret_key'> | undefined;
    return row && { publicKey: new Uint8Array(row.public_key), secretKey: new Uint8Array(row.secret_key) };
  }

  private async currentSignedPrekey(): Promise<SignedPrekey> {
    const latest = await this.db.selectFrom(PREKEYS_TABLE).selectAll().where('kind', '=', 'signed')
      .orderBy('created_at', 'desc').limit(1).executeTakeFirst() as PrekeyRow | undefined;
    if (latest && latest.signature && this.now() - latest.created_at < this.policy.signedPrekeyRotationMs) {
      return { keyId: latest.key_id, publicKey: new Uint8Array(latest.public_key), signature: new Uint8Array(latest.signature) };
    }
    const keyId = await this.freeKeyId('signed');
    const { publicKey, secretKey, signature } = generateSignedPrekey(this.crypto, this.keyring, keyId);
    await this.db.insertInto(PREKEYS_TABLE).values({
      kind: 'signed', key_id: keyId, public_key: publicKey, secret_key: secretKey, signature, created_at: this.now(),
    }).execute();
    return { keyId, publicKey, signature };
  }

  private async createOneTimePrekeys(count: number): Promise<OneTimePrekey[]> {
    const out: OneTimePrekey[] = [];
    const now = this.now();
    await this.db.transaction().execute(async (trx) => {
      // Not generateOneTimePrekeys: its ids are consecutive, ours random per key (see randomKeyId).
      for (let i = 0; i < count; i++) {
        const pair = this.crypto.x25519GenerateKeyPair();
        const keyId = this.randomKeyId();
        const result = await trx.insertInto(PREKEYS_TABLE).values({
          kind: 'one-time', key_id: keyId, public_key: pair.publicKey, secret_key: pair.secretKey, signature: null, created_at: now,
        }).onConflict((oc) => oc.doNothing()).executeTakeFirst();
        if (Number(result.numInsertedOrUpdatedRows) === 1) out.push({ keyId, publicKey: pair.publicKey });
      }
    });
    return out;
  }

  /** Deletes signed prekeys whose successor has been published for longer than the grace period. */
  private async pruneSignedPrekeys(currentKeyId: number): Promise<void> {
    const rows = await this.db.selectFrom(PREKEYS_TABLE).select(['key_id', 'created_at']).where('kind', '=', 'signed')
      .orderBy('created_at').orderBy('key_id').execute() as Pick<PrekeyRow, 'key_id' | 'created_at'>[];
    const cutoff = this.now() - this.policy.signedPrekeyGraceMs;
    const superseded = rows.filter((row, i) => row.key_id !== currentKeyId && i + 1 < rows.length && rows[i + 1]!.created_at < cutoff);
    if (superseded.length === 0) return;
    await this.db.deleteFrom(PREKEYS_TABLE).where('kind', '=', 'signed').where('key_id', 'in', superseded.map((r) => r.key_id)).execute();
    this.logger.debug('prekeys: pruned superseded signed prekeys', { count: superseded.length });
  }

  /**
   * The server hands one-time prekeys out oldest first, so when it holds `remaining` and we hold
   * more, our oldest extra ones were handed out: stamp them, and delete those stamped longer ago
   * than the grace period (a first message that would still use one is that late).
   */
  private async pruneOneTimePrekeys(remaining: number): Promise<void> {
    const now = this.now();
    await this.db.transaction().execute(async (trx) => {
      const held = await trx.selectFrom(PREKEYS_TABLE).select(['key_id', 'handed_out_at']).where('kind', '=', 'one-time')
        .orderBy('created_at').orderBy(sql`rowid`).execute() as { key_id: number; handed_out_at: number | null }[];
      const handedOut = held.slice(0, Math.max(0, held.length - remaining)).filter((r) => r.handed_out_at === null).map((r) => r.key_id);
      for (let i = 0; i < handedOut.length; i += 500) {
        await trx.updateTable(PREKEYS_TABLE).set({ handed_out_at: now }).where('kind', '=', 'one-time').where('key_id', 'in', handedOut.slice(i, i + 500)).execute();
      }
      const expired = await trx.deleteFrom(PREKEYS_TABLE).where('kind', '=', 'one-time')
        .where('handed_out_at', 'is not', null).where('handed_out_at', '<', now - this.policy.oneTimePrekeyGraceMs).executeTakeFirst();
      if (Number(expired.numDeletedRows) > 0) this.logger.debug('prekeys: pruned unused one-time prekeys past their grace period', { count: Number(expired.numDeletedRows) });
    });
  }

  private async freeKeyId(kind: PrekeyRow['kind']): Promise<number> {
    for (;;) {
      const keyId = this.randomKeyId();
      const taken = await this.db.selectFrom(PREKEYS_TABLE).select('key_id').where('kind', '=', kind).where('key_id', '=', keyId).executeTakeFirst();
      if (!taken) return keyId;
    }
  }

  // Random ids: a profile restored from a backup must not reuse ids the server still holds.
  private randomKeyId(): number {
    const b = this.crypto.randomBytes(4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }
}
