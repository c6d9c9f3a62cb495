import type { Redis } from 'ioredis';
import { AppError } from '../errors.js';

/**
 * Fixed-window counters per key (user + kind of event) for socket events; in memory for one process, in Redis so
 * that a user's budget is shared across instances. HTTP writes use @fastify/rate-limit with the same per-user budget.
 */
export interface RateLimiter {
  /** Counts one hit; throws RATE_LIMITED (with the seconds to wait) past the budget. */
  hit(key: string): Promise<void>;
  close(): void;
}

function limited(resetInMs: number): AppError {
  const retryAfter = Math.max(1, Math.ceil(resetInMs / 1000));
  return new AppError('RATE_LIMITED', `Too many events; retry in ${retryAfter} s`, { retryAfter });
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly max: number, private readonly windowMs: number) {
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
    }, Math.max(windowMs, 1000));
    this.sweeper.unref();
  }

  async hit(key: string): Promise<void> {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count += 1;
    if (w.count > this.max) throw limited(w.resetAt - now);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { n, redis.call('PTTL', KEYS[1]) }`;

export class RedisRateLimiter implements RateLimiter {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly max: number, private readonly windowMs: number) {}

  async hit(key: string): Promise<void> {
    const [count, ttl] = (await this.redis.eval(HIT, 1, `${this.prefix}:rate:${key}`, this.windowMs)) as [number, number];
    if (count > this.max) throw limited(ttl);
  }

  close(): void {}
}
