import type { RedisClient } from '../redis.js';

export interface Departure {
  userId: string;
  /** When the user's last socket left (or their instance stopped answering). */
  leftAt: Date;
}

/**
 * Live sockets per user, and users in their grace period after the last socket left. One process keeps it in
 * memory; several share it in Redis, where each instance also heartbeats so that the users of an instance that died
 * are let go instead of staying online forever.
 */
export interface PresenceStore {
  /**
   * A socket wants to connect: counted unless the user already has `max` live sockets anywhere (then refused and not
   * counted, atomically, so a burst of handshakes cannot overshoot). `announce`: the user is to be announced online
   * (first socket anywhere, and not back within the grace).
   */
  join(userId: string, max: number): Promise<{ admitted: boolean; announce: boolean }>;
  /** A socket left; if it was the user's last anywhere, the grace period starts and ends at `deadline`. */
  leave(userId: string, leftAt: Date, deadline: Date): Promise<void>;
  /** Users whose grace period is over and who did not come back; each is returned to exactly one caller. */
  due(now: Date): Promise<Departure[]>;
  /** Online as others see it: a live socket, or inside the grace period after the last one left. */
  online(userIds: string[]): Promise<Set<string>>;
  /** A live socket right now, anywhere (who needs no notification). */
  live(userIds: string[]): Promise<Set<string>>;
  /** Heartbeat, and let go of the users of instances that stopped heartbeating (they get a grace period too). */
  tick(now: Date): Promise<void>;
  close(): Promise<void>;
}

export class MemoryPresenceStore implements PresenceStore {
  private readonly counts = new Map<string, number>();
  private readonly leaving = new Map<string, { leftAt: Date; deadline: Date }>();

  async join(userId: string, max: number): Promise<{ admitted: boolean; announce: boolean }> {
    const count = (this.counts.get(userId) ?? 0) + 1;
    if (count > max) return { admitted: false, announce: false };
    this.counts.set(userId, count);
    const wasLeaving = this.leaving.delete(userId);
    return { admitted: true, announce: count === 1 && !wasLeaving };
  }

  async leave(userId: string, leftAt: Date, deadline: Date): Promise<void> {
    const count = (this.counts.get(userId) ?? 1) - 1;
    if (count > 0) {
      this.counts.set(userId, count);
      return;
    }
    this.counts.delete(userId);
    this.leaving.set(userId, { leftAt, deadline });
  }

  async due(now: Date): Promise<Departure[]> {
    const out: Departure[] = [];
    for (const [userId, l] of this.leaving) {
      if (l.deadline > now) continue;
      this.leaving.delete(userId);
      out.push({ userId, leftAt: l.leftAt });
    }
    return out;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((u) => this.counts.has(u) || this.leaving.has(u)));
  }

  async live(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((u) => this.counts.has(u)));
  }

  async tick(): Promise<void> {}
  async close(): Promise<void> {}
}

// -1: refused (the user has ARGV[2] live sockets already); 1: admitted and to be announced; 0: admitted.
const JOIN = `
if tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') >= tonumber(ARGV[2]) then return -1 end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local total = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local wasLeaving = redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
if total == 1 and wasLeaving == 0 then return 1 end
return 0`;

const LEAVE = `
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
local total = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if total <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
end
return 0`;

const DUE = `
local users = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, 500)
local out = {}
for _, u in ipairs(users) do
  if redis.call('ZREM', KEYS[3], u) == 1 then
    local t = redis.call('HGET', KEYS[4], u)
    redis.call('HDEL', KEYS[4], u)
    if redis.call('HEXISTS', KEYS[1], u) == 0 and t then
      table.insert(out, u)
      table.insert(out, t)
    end
  end
end
return out`;

// Moves every user of a dead instance (KEYS[2]) out of the totals; those left with no socket start their grace.
const RELEASE = `
local pairs_ = redis.call('HGETALL', KEYS[2])
for i = 1, #pairs_, 2 do
  local u = pairs_[i]
  local total = redis.call('HINCRBY', KEYS[1], u, -tonumber(pairs_[i + 1]))
  if total <= 0 then
    redis.call('HDEL', KEYS[1], u)
    redis.call('ZADD', KEYS[3], ARGV[2], u)
    redis.call('HSET', KEYS[4], u, ARGV[1])
  end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[5], ARGV[3])
return 0`;

/** An instance that has not heartbeaten for this long is dead. */
const INSTANCE_TTL_MS = 15_000;

export class RedisPresenceStore implements PresenceStore {
  private readonly keys: { count: string; inst: (id: string) => string; leaving: string; leftAt: string; alive: string };

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly instanceId: string,
    private readonly graceMs: number,
  ) {
    // One hash tag for all: the scripts touch several of these keys at once, which a Redis Cluster allows only
    // within one slot.
    const at = `{${prefix}:presence}`;
    this.keys = {
      count: `${at}:count`,
      inst: (id) => `${at}:instance:${id}`,
      leaving: `${at}:leaving`,
      leftAt: `${at}:left-at`,
      alive: `${at}:alive`,
    };
  }

  async join(userId: string, max: number): Promise<{ admitted: boolean; announce: boolean }> {
    const k = this.keys;
    const r = await this.redis.eval(JOIN, 4, k.count, k.inst(this.instanceId), k.leaving, k.leftAt, userId, max);
    return { admitted: r !== -1, announce: r === 1 };
  }

  async leave(userId: string, leftAt: Date, deadline: Date): Promise<void> {
    const k = this.keys;
    await this.redis.eval(
      LEAVE,
      4,
      k.count,
      k.inst(this.instanceId),
      k.leaving,
      k.leftAt,
      userId,
      leftAt.toISOString(),
      deadline.getTime(),
    );
  }

  async due(now: Date): Promise<Departure[]> {
    const k = this.keys;
    // KEYS[2] is unused by DUE; it is still a key of the same hash tag, as a Redis Cluster checks every key named.
    const flat = (await this.redis.eval(DUE, 4, k.count, k.inst(this.instanceId), k.leaving, k.leftAt, now.getTime())) as string[];
    const out: Departure[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ userId: flat[i]!, leftAt: new Date(flat[i + 1]!) });
    return out;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const pipe = this.redis.pipeline().hmget(this.keys.count, ...userIds);
    for (const u of userIds) pipe.zscore(this.keys.leaving, u);
    const results = (await pipe.exec()) ?? [];
    const counts = (results[0]?.[1] as Array<string | null>) ?? [];
    return new Set(userIds.filter((u, i) => Number(counts[i] ?? 0) > 0 || results[i + 1]?.[1] != null));
  }

  async live(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const counts = await this.redis.hmget(this.keys.count, ...userIds);
    return new Set(userIds.filter((_, i) => Number(counts[i] ?? 0) > 0));
  }

  async tick(now: Date): Promise<void> {
    const k = this.keys;
    await this.redis.zadd(k.alive, now.getTime(), this.instanceId);
    const dead = await this.redis.zrangebyscore(k.alive, '-inf', now.getTime() - INSTANCE_TTL_MS, 'WITHSCORES');
    for (let i = 0; i + 1 < dead.length; i += 2) {
      const id = dead[i]!;
      const lastBeat = new Date(Number(dead[i + 1]));
      // One survivor releases a dead instance's users.
      const claimed = await this.redis.set(`${k.inst(id)}:released`, this.instanceId, 'PX', 60_000, 'NX');
      if (claimed !== 'OK') continue;
      await this.redis.eval(
        RELEASE,
        5,
        k.count,
        k.inst(id),
        k.leaving,
        k.leftAt,
        k.alive,
        lastBeat.toISOString(),
        now.getTime() + this.graceMs,
        id,
      );
    }
  }

  /** A stopping instance leaves at once; its users reconnect elsewhere or go offline after the grace period. */
  async close(): Promise<void> {
    const k = this.keys;
    const now = Date.now();
    await this.redis.eval(
      RELEASE,
      5,
      k.count,
      k.inst(this.instanceId),
      k.leaving,
      k.leftAt,
      k.alive,
      new Date(now).toISOString(),
      now + this.graceMs,
      this.instanceId,
    );
  }
}
