import { AppError } from '../errors.js';

/**
 * Fixed-window counters per key (user + kind of event), for socket events. HTTP writes use @fastify/rate-limit with
 * the same per-user budget.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly max: number, private readonly windowMs: number) {
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
    }, Math.max(windowMs, 1000));
    this.sweeper.unref();
  }

  /** Counts one hit; throws RATE_LIMITED (with the seconds to wait) past the budget. */
  hit(key: string): void {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count += 1;
    if (w.count > this.max) {
      const retryAfter = Math.max(1, Math.ceil((w.resetAt - now) / 1000));
      throw new AppError('RATE_LIMITED', `Too many events; retry in ${retryAfter} s`, { retryAfter });
    }
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
