import type { RateLimiter } from '../limits/rate-limiter.js';

type Callback = (err: Error | null, res?: { current: number; ttl: number }) => void;

/**
 * A @fastify/rate-limit store that counts in one of our limiters, so REST writes spend the same per-user budget as
 * socket writes (and, with Redis, the same budget on every instance). The plugin keeps its headers and 429 handling.
 */
export function limiterStore(limiter: RateLimiter) {
  return class LimiterStore {
    incr(key: string, cb: Callback): void {
      limiter.consume(key).then(
        ({ count, resetInMs }) => cb(null, { current: count, ttl: resetInMs }),
        (err: Error) => cb(err),
      );
    }

    /** Route-level settings are not used: every write route shares the one budget. */
    child(): this {
      return this;
    }
  };
}
