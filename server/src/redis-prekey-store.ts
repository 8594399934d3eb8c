import type { Redis } from 'ioredis';
import type { OneTimePrekey, PrekeyBundle, SignedPrekey, UserId } from '@discordopus/sdk';
import { noBundleError, tooManyPrekeysError, type PrekeyStore, type TakenBundle } from './prekey-store.ts';

// Both scripts run atomically inside Redis, so concurrent fetches from any number of server
// processes never pop the same one-time prekey.
const UPLOAD = `
if ARGV[2] == '0' and redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local stored = redis.call('LLEN', KEYS[2])
local n = #ARGV - 6
if stored + n > tonumber(ARGV[1]) then return -2 - stored end
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'ik', ARGV[3], 'id', ARGV[4], 'pub', ARGV[5], 'sig', ARGV[6]) end
if n > 0 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 7)) end
return stored + n`;

const TAKE = `
local b = redis.call('HMGET', KEYS[1], 'ik', 'id', 'pub', 'sig')
if not b[1] then return false end
local otk = redis.call('LPOP', KEYS[2])
return {b[1], b[2], b[3], b[4], otk or false, redis.call('LLEN', KEYS[2])}`;

type RedisWithScripts = Redis & {
  prekeyUpload(bundleKey: string, listKey: string, ...args: (string | Buffer | number)[]): Promise<number>;
  prekeyTakeBuffer(bundleKey: string, listKey: string): Promise<[Buffer, Buffer, Buffer, Buffer, Buffer | null, number] | null>;
};

/** Prekeys in Redis, shared by every server process of a scaled-out deployment. */
export class RedisPrekeyStore implements PrekeyStore {
  private readonly redis: RedisWithScripts;

  constructor(redis: Redis, private readonly prefix = 'do:') {
    redis.defineCommand('prekeyUpload', { numberOfKeys: 2, lua: UPLOAD });
    redis.defineCommand('prekeyTake', { numberOfKeys: 2, lua: TAKE });
    this.redis = redis as RedisWithScripts;
  }

  private keys(userId: UserId): [string, string] {
    return [`${this.prefix}bundle:${userId}`, `${this.prefix}otk:${userId}`];
  }

  async upload(userId: UserId, identityKey: Uint8Array, signedPrekey: SignedPrekey | undefined, oneTime: readonly OneTimePrekey[], maxStored: number): Promise<number> {
    const empty = Buffer.alloc(0);
    const result = await this.redis.prekeyUpload(
      ...this.keys(userId), maxStored, signedPrekey ? '1' : '0', Buffer.from(identityKey), signedPrekey ? String(signedPrekey.keyId) : '0',
      signedPrekey ? Buffer.from(signedPrekey.publicKey) : empty, signedPrekey ? Buffer.from(signedPrekey.signature) : empty,
      ...oneTime.map(packOneTime),
    );
    if (result === -1) throw noBundleError();
    if (result <= -2) throw tooManyPrekeysError(-2 - result, maxStored);
    return result;
  }

  async take(userId: UserId): Promise<TakenBundle | undefined> {
    const reply = await this.redis.prekeyTakeBuffer(...this.keys(userId));
    if (!reply) return undefined;
    const [ik, id, pub, sig, otk, remaining] = reply;
    const bundle: PrekeyBundle = {
      userId, identityKey: new Uint8Array(ik),
      signedPrekey: { keyId: Number(id.toString()), publicKey: new Uint8Array(pub), signature: new Uint8Array(sig) },
    };
    if (otk) bundle.oneTimePrekey = unpackOneTime(otk);
    return { bundle, remaining };
  }

  async close(): Promise<void> {
    // The connection belongs to the server, which closes it.
  }
}

function packOneTime(key: OneTimePrekey): Buffer {
  const out = Buffer.alloc(36);
  out.writeUInt32BE(key.keyId, 0);
  out.set(key.publicKey, 4);
  return out;
}

function unpackOneTime(packed: Buffer): OneTimePrekey {
  return { keyId: packed.readUInt32BE(0), publicKey: new Uint8Array(packed.subarray(4, 36)) };
}
