import type { RedisClient } from '../redis.js';

/**
 * A key held for a while by its one taker, on every instance: "at most once per window" (slow mode holds one per
 * member and room). In memory for one process, in Redis (SET NX PX) when instances share it.
 */
export interface WindowGate {
  /** Takes `key` for `ms` unless it is held: 0 when taken now, else the milliseconds until it is free. */
  take(key: string, ms: number): Promise<number>;
  /** Gives back a key whose write then failed, so that nothing done does not use up the window. */
  release(key: string): Promise<void>;
}

export class MemoryWindowGate implements WindowGate {
  private readonly held = new Map<string, number>();

  async take(key: string, ms: number): Promise<number> {
    const now = Date.now();
    const until = this.held.get(key);
    if (until !== undefined && until > now) return until - now;
    // Expired keys go as new ones are taken: the map never holds more than a window's worth of senders for long.
    if (this.held.size > 10_000) for (const [k, t] of this.held) if (t <= now) this.held.delete(k);
    this.held.set(key, now + ms);
    return 0;
  }

  async release(key: string): Promise<void> {
    this.held.delete(key);
  }
}

// One round trip: taken, or how long the holder keeps it (a key without expiry cannot happen, but would read as 1 ms).
const TAKE = `
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return 1 end
return ttl`;

export class RedisWindowGate implements WindowGate {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async take(key: string, ms: number): Promise<number> {
    return Number(await this.redis.eval(TAKE, 1, `${this.prefix}:${key}`, ms));
  }

  async release(key: string): Promise<void> {
    await this.redis.del(`${this.prefix}:${key}`);
  }
}

export const windowGate = (redis: RedisClient | undefined, prefix: string): WindowGate =>
  redis ? new RedisWindowGate(redis, `${prefix}:window`) : new MemoryWindowGate();
