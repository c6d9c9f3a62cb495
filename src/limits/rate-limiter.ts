import type { RedisClient } from '../redis.js';
import { AppError } from '../errors.js';

/**
 * Fixed-window counters per key (a user) for one kind of budget; in memory for one process, in Redis so that a user's
 * budget is shared across instances. The write budget is one limiter used by socket handlers (hit) and by REST
 * through @fastify/rate-limit (consume, see http/rate-limit-store.ts), so both transports spend the same budget.
 */
export interface RateLimiter {
  /** Counts one hit; throws RATE_LIMITED (with the seconds to wait) past the budget. */
  hit(key: string): Promise<void>;
  /** Counts one hit and tells where the window stands, without throwing. */
  consume(key: string): Promise<{ count: number; resetInMs: number }>;
  readonly max: number;
  close(): void;
}

function limited(resetInMs: number): AppError {
  const retryAfter = Math.max(1, Math.ceil(resetInMs / 1000));
  return new AppError('RATE_LIMITED', `Too many events; retry in ${retryAfter} s`, { retryAfter });
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    readonly max: number,
    private readonly windowMs: number,
  ) {
    this.sweeper = setInterval(
      () => {
        const now = Date.now();
        for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
      },
      Math.max(windowMs, 1000),
    );
    this.sweeper.unref();
  }

  async hit(key: string): Promise<void> {
    const { count, resetInMs } = await this.consume(key);
    if (count > this.max) throw limited(resetInMs);
  }

  async consume(key: string): Promise<{ count: number; resetInMs: number }> {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count += 1;
    return { count: w.count, resetInMs: w.resetAt - now };
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
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    readonly max: number,
    private readonly windowMs: number,
  ) {}

  async hit(key: string): Promise<void> {
    const { count, resetInMs } = await this.consume(key);
    if (count > this.max) throw limited(resetInMs);
  }

  async consume(key: string): Promise<{ count: number; resetInMs: number }> {
    const [count, ttl] = (await this.redis.eval(HIT, 1, `${this.prefix}:rate:${key}`, this.windowMs)) as [number, number];
    return { count, resetInMs: Math.max(0, ttl) };
  }

  close(): void {}
}

/** Builds the limiter of one kind of budget; `name` keeps the budgets apart in Redis. */
export type RateLimiterFactory = (name: string, max: number, windowMs: number) => RateLimiter;

/** Limiters in memory for one process, or in Redis (keys under `prefix`) when instances share the budgets. */
export function rateLimiters(redis: RedisClient | undefined, prefix: string): RateLimiterFactory {
  if (!redis) return (_name, max, windowMs) => new MemoryRateLimiter(max, windowMs);
  return (name, max, windowMs) => new RedisRateLimiter(redis, `${prefix}:${name}`, max, windowMs);
}
