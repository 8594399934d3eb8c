import type { Redis } from 'ioredis';
import type { UserId } from '@discordopus/sdk';

/**
 * Who is online, counted in connections per user. In one process the counts live in memory; in a
 * scaled-out deployment they live in Redis so every process sees the same truth. Transitions
 * (0 → 1, 1 → 0 connections) are what the server turns into presence events.
 */
export interface PresenceRegistry {
  /** Records an authenticated connection. @returns true when the user just came online. */
  connected(userId: UserId): Promise<boolean>;
  /** Records a closed connection. @returns true when the user just went offline. */
  disconnected(userId: UserId): Promise<boolean>;
  isOnline(userId: UserId): Promise<boolean>;
  /** The subset of `userIds` that is online, in input order. */
  onlineAmong(userIds: readonly UserId[]): Promise<UserId[]>;
  close(): Promise<void>;
}

export class LocalPresence implements PresenceRegistry {
  private readonly counts = new Map<UserId, number>();

  async connected(userId: UserId): Promise<boolean> {
    const count = (this.counts.get(userId) ?? 0) + 1;
    this.counts.set(userId, count);
    return count === 1;
  }

  async disconnected(userId: UserId): Promise<boolean> {
    const count = (this.counts.get(userId) ?? 0) - 1;
    if (count > 0) {
      this.counts.set(userId, count);
      return false;
    }
    this.counts.delete(userId);
    return true;
  }

  async isOnline(userId: UserId): Promise<boolean> {
    return this.counts.has(userId);
  }

  async onlineAmong(userIds: readonly UserId[]): Promise<UserId[]> {
    return userIds.filter((id) => this.counts.has(id));
  }

  async close(): Promise<void> {
    this.counts.clear();
  }
}

// `live` sums a user's connection counts over the nodes whose heartbeat key still exists and
// drops the fields of dead nodes, so a crashed process cannot keep its users online.
const LIVE = `
local function live(key, prefix)
  local h = redis.call('HGETALL', key)
  local total = 0
  for i = 1, #h, 2 do
    if redis.call('EXISTS', prefix .. 'node:' .. h[i]) == 1 then total = total + tonumber(h[i + 1])
    else redis.call('HDEL', key, h[i]) end
  end
  return total
end
`;

const CHANGE = `${LIVE}
local c = redis.call('HINCRBY', KEYS[1], ARGV[1], tonumber(ARGV[4]))
if c <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[2])
else
  redis.call('SADD', KEYS[2], ARGV[2])
end
return live(KEYS[1], ARGV[3])`;

const ONLINE = `${LIVE}
local out = {}
for i, key in ipairs(KEYS) do out[i] = live(key, ARGV[1]) end
return out`;

const SWEEP = `${LIVE}
local prefix = ARGV[1]
local offline = {}
for _, n in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  if redis.call('EXISTS', prefix .. 'node:' .. n) == 0 then
    for _, u in ipairs(redis.call('SMEMBERS', prefix .. 'node-users:' .. n)) do
      local k = prefix .. 'presence:' .. u
      redis.call('HDEL', k, n)
      if live(k, prefix) == 0 then table.insert(offline, u) end
    end
    redis.call('DEL', prefix .. 'node-users:' .. n)
    redis.call('SREM', prefix .. 'nodes', n)
  end
end
return offline`;

type RedisWithPresence = Redis & {
  presenceChange(presenceKey: string, nodeUsersKey: string, node: string, userId: string, prefix: string, delta: number): Promise<number>;
  presenceOnline(numKeys: number, ...keysThenPrefix: string[]): Promise<number[]>;
  presenceSweep(prefix: string): Promise<string[]>;
};

export interface RedisPresenceOptions {
  nodeId: string;
  prefix: string;
  /** How often this node refreshes its heartbeat and sweeps dead nodes. */
  heartbeatMs: number;
  /** Called with users who went offline because a node died (or this one closed). */
  onSweptOffline(userIds: UserId[]): void;
  onError(error: unknown): void;
}

/**
 * Presence in Redis: per user a hash node → connection count, per node a heartbeat key with a
 * TTL of three heartbeats and the set of its users. Every node sweeps nodes whose heartbeat
 * expired, so the users of a killed process go offline everywhere within a few heartbeats.
 */
export class RedisPresence implements PresenceRegistry {
  private readonly redis: RedisWithPresence;
  private readonly local = new Map<UserId, number>();
  private readonly timer: ReturnType<typeof setInterval>;
  private registered = false;

  private constructor(redis: Redis, private readonly options: RedisPresenceOptions) {
    redis.defineCommand('presenceChange', { numberOfKeys: 2, lua: CHANGE });
    redis.defineCommand('presenceOnline', { lua: ONLINE });
    redis.defineCommand('presenceSweep', { numberOfKeys: 0, lua: SWEEP });
    this.redis = redis as RedisWithPresence;
    this.timer = setInterval(() => void this.tick().catch(options.onError), options.heartbeatMs);
    this.timer.unref();
  }

  static async create(redis: Redis, options: RedisPresenceOptions): Promise<RedisPresence> {
    const presence = new RedisPresence(redis, options);
    await presence.heartbeat();
    return presence;
  }

  private key(name: string): string {
    return `${this.options.prefix}${name}`;
  }

  private async heartbeat(): Promise<void> {
    const { nodeId, heartbeatMs } = this.options;
    const previous = await this.redis.set(this.key(`node:${nodeId}`), '1', 'PX', heartbeatMs * 3, 'GET');
    await this.redis.sadd(this.key('nodes'), nodeId);
    if (previous === null && this.registered) await this.resync();
    this.registered = true;
  }

  // Another node swept us (we stalled longer than the TTL): put our connections back.
  private async resync(): Promise<void> {
    const multi = this.redis.multi();
    for (const [userId, count] of this.local) {
      multi.hset(this.key(`presence:${userId}`), this.options.nodeId, count);
      multi.sadd(this.key(`node-users:${this.options.nodeId}`), userId);
    }
    await multi.exec();
  }

  private async tick(): Promise<void> {
    await this.heartbeat();
    const offline = await this.redis.presenceSweep(this.options.prefix);
    if (offline.length > 0) this.options.onSweptOffline(offline as UserId[]);
  }

  private async change(userId: UserId, delta: number): Promise<number> {
    const count = (this.local.get(userId) ?? 0) + delta;
    if (count > 0) this.local.set(userId, count);
    else this.local.delete(userId);
    return this.redis.presenceChange(
      this.key(`presence:${userId}`), this.key(`node-users:${this.options.nodeId}`), this.options.nodeId, userId, this.options.prefix, delta,
    );
  }

  async connected(userId: UserId): Promise<boolean> {
    return (await this.change(userId, 1)) === 1;
  }

  async disconnected(userId: UserId): Promise<boolean> {
    return (await this.change(userId, -1)) === 0;
  }

  async isOnline(userId: UserId): Promise<boolean> {
    if (this.local.has(userId)) return true;
    return (await this.onlineAmong([userId])).length === 1;
  }

  async onlineAmong(userIds: readonly UserId[]): Promise<UserId[]> {
    if (userIds.length === 0) return [];
    const counts = await this.redis.presenceOnline(userIds.length, ...userIds.map((id) => this.key(`presence:${id}`)), this.options.prefix);
    return userIds.filter((_, i) => (counts[i] ?? 0) > 0);
  }

  /** Unregisters this node and reports the users that are now offline everywhere. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.del(this.key(`node:${this.options.nodeId}`));
    const offline = await this.redis.presenceSweep(this.options.prefix);
    if (offline.length > 0) this.options.onSweptOffline(offline as UserId[]);
    this.local.clear();
  }
}
