import type { Redis } from 'ioredis';
import type { UserId } from '@discordopus/sdk';

/**
 * Who is online, counted in connections per user. In one process the counts live in memory; in a
 * scaled-out deployment they live in Redis so every process sees the same truth. Transitions
 * (0 → 1, 1 → 0 connections) go to the registry's listener, which the server turns into presence
 * events for this process's watchers, in the order they happened.
 */
export type PresenceListener = (userId: UserId, online: boolean) => void;

export interface PresenceRegistry {
  /** Records an authenticated connection. */
  connected(userId: UserId): Promise<void>;
  /** Records a closed connection. */
  disconnected(userId: UserId): Promise<void>;
  isOnline(userId: UserId): Promise<boolean>;
  /** The subset of `userIds` that is online, in input order. */
  onlineAmong(userIds: readonly UserId[]): Promise<UserId[]>;
  close(): Promise<void>;
}

export class LocalPresence implements PresenceRegistry {
  private readonly counts = new Map<UserId, number>();

  constructor(private readonly onTransition: PresenceListener) {}

  async connected(userId: UserId): Promise<void> {
    const count = (this.counts.get(userId) ?? 0) + 1;
    this.counts.set(userId, count);
    if (count === 1) this.onTransition(userId, true);
  }

  async disconnected(userId: UserId): Promise<void> {
    const count = (this.counts.get(userId) ?? 0) - 1;
    if (count > 0) {
      this.counts.set(userId, count);
      return;
    }
    this.counts.delete(userId);
    this.onTransition(userId, false);
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

// Transitions are published from inside the scripts: Redis runs scripts one at a time and
// delivers a channel's messages in publish order, so every process sees a user's transitions in
// the order they happened, whichever processes caused them. (Publishing after the script returns
// let a disconnect on one process and a reconnect on another reach watchers swapped, leaving
// them with "offline" for a user who was online.)
const PUBLISH = `
local function publish(prefix, user, online)
  redis.call('PUBLISH', prefix .. 'presence', (online and '1' or '0') .. user)
end
`;

const CHANGE = `${LIVE}${PUBLISH}
local delta = tonumber(ARGV[4])
local c = redis.call('HINCRBY', KEYS[1], ARGV[1], delta)
if c <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[2])
else
  redis.call('SADD', KEYS[2], ARGV[2])
end
local total = live(KEYS[1], ARGV[3])
if delta > 0 and total == delta then publish(ARGV[3], ARGV[2], true) end
if delta < 0 and total == 0 then publish(ARGV[3], ARGV[2], false) end
return total`;

const ONLINE = `${LIVE}
local out = {}
for i, key in ipairs(KEYS) do out[i] = live(key, ARGV[1]) end
return out`;

// Reports offline whoever is left with no live connection, also when `live` on another path
// already dropped the dead node's field without a transition (a repeated "offline" is harmless).
const SWEEP = `${LIVE}${PUBLISH}
local prefix = ARGV[1]
local offline = 0
for _, n in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  if redis.call('EXISTS', prefix .. 'node:' .. n) == 0 then
    for _, u in ipairs(redis.call('SMEMBERS', prefix .. 'node-users:' .. n)) do
      local k = prefix .. 'presence:' .. u
      redis.call('HDEL', k, n)
      if live(k, prefix) == 0 then
        publish(prefix, u, false)
        offline = offline + 1
      end
    end
    redis.call('DEL', prefix .. 'node-users:' .. n)
    redis.call('SREM', prefix .. 'nodes', n)
  end
end
return offline`;

// A node swept while it stalled puts its connections back; users it brings back online are published.
const RESYNC = `${LIVE}${PUBLISH}
local prefix, node = ARGV[1], ARGV[2]
for i = 3, #ARGV, 2 do
  local u, count = ARGV[i], tonumber(ARGV[i + 1])
  local k = prefix .. 'presence:' .. u
  local before = live(k, prefix)
  redis.call('HSET', k, node, count)
  redis.call('SADD', prefix .. 'node-users:' .. node, u)
  if before == 0 then publish(prefix, u, true) end
end
return 0`;

type RedisWithPresence = Redis & {
  presenceChange(presenceKey: string, nodeUsersKey: string, node: string, userId: string, prefix: string, delta: number): Promise<number>;
  presenceOnline(numKeys: number, ...keysThenPrefix: string[]): Promise<number[]>;
  presenceSweep(prefix: string): Promise<number>;
  presenceResync(prefix: string, node: string, ...userThenCount: (string | number)[]): Promise<number>;
};

export interface RedisPresenceOptions {
  nodeId: string;
  prefix: string;
  /** How often this node refreshes its heartbeat and sweeps dead nodes. */
  heartbeatMs: number;
  /** Every presence transition in the deployment, in the order Redis saw them (also those caused by other processes). */
  onTransition: PresenceListener;
  onError(error: unknown): void;
}

/**
 * Presence in Redis: per user a hash node → connection count, per node a heartbeat key with a
 * TTL of three heartbeats and the set of its users. Every node sweeps nodes whose heartbeat
 * expired, so the users of a killed process go offline everywhere within a few heartbeats.
 * Transitions are published by the scripts that cause them on one channel (`<prefix>presence`)
 * that every node follows, so all nodes report them in one order and converge on Redis's state.
 */
export class RedisPresence implements PresenceRegistry {
  private readonly redis: RedisWithPresence;
  private readonly local = new Map<UserId, number>();
  private readonly timer: ReturnType<typeof setInterval>;
  private registered = false;

  private constructor(redis: Redis, private readonly subscriber: Redis, private readonly options: RedisPresenceOptions) {
    redis.defineCommand('presenceChange', { numberOfKeys: 2, lua: CHANGE });
    redis.defineCommand('presenceOnline', { lua: ONLINE });
    redis.defineCommand('presenceSweep', { numberOfKeys: 0, lua: SWEEP });
    redis.defineCommand('presenceResync', { numberOfKeys: 0, lua: RESYNC });
    this.redis = redis as RedisWithPresence;
    const channel = this.key('presence');
    subscriber.on('message', (from: string, message: string) => {
      if (from === channel && message.length > 1) options.onTransition(message.slice(1) as UserId, message[0] === '1');
    });
    this.timer = setInterval(() => void this.tick().catch(options.onError), options.heartbeatMs);
    this.timer.unref();
  }

  /** `redis` runs the commands; a connection of its own is made to follow the transitions. */
  static async create(redis: Redis, options: RedisPresenceOptions): Promise<RedisPresence> {
    const subscriber = redis.duplicate();
    subscriber.on('error', options.onError);
    const presence = new RedisPresence(redis, subscriber, options);
    try {
      if (subscriber.status === 'wait') await subscriber.connect();
      await subscriber.subscribe(presence.key('presence'));
      await presence.heartbeat();
    } catch (error) {
      clearInterval(presence.timer);
      subscriber.disconnect();
      throw error;
    }
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
    if (this.local.size === 0) return;
    await this.redis.presenceResync(this.options.prefix, this.options.nodeId, ...[...this.local].flat());
  }

  private async tick(): Promise<void> {
    await this.heartbeat();
    await this.redis.presenceSweep(this.options.prefix);
  }

  private async change(userId: UserId, delta: number): Promise<number> {
    const count = (this.local.get(userId) ?? 0) + delta;
    if (count > 0) this.local.set(userId, count);
    else this.local.delete(userId);
    return this.redis.presenceChange(
      this.key(`presence:${userId}`), this.key(`node-users:${this.options.nodeId}`), this.options.nodeId, userId, this.options.prefix, delta,
    );
  }

  async connected(userId: UserId): Promise<void> {
    await this.change(userId, 1);
  }

  async disconnected(userId: UserId): Promise<void> {
    await this.change(userId, -1);
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

  /** Unregisters this node; the users now offline everywhere are published to the other nodes. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    try {
      await this.redis.del(this.key(`node:${this.options.nodeId}`));
      await this.redis.presenceSweep(this.options.prefix);
    } finally {
      this.local.clear();
      await this.subscriber.quit().catch(() => this.subscriber.disconnect());
    }
  }
}
