/**
 * What keeps one user's searches from starving everybody else's requests. A search is the one read whose cost the
 * caller chooses (query.ts caps the terms that shape it); here its rate, its concurrency and its duration are bounded.
 */
import { AppError, causeChain } from '../errors.js';
import type { RateLimiter } from '../limits/rate-limiter.js';

/**
 * Searches running at once in this process. PGlite has one connection and runs one statement at a time, so a queue
 * of searches there delays every send behind all of them; with one search at a time a send waits for one at most.
 * On PostgreSQL the pool has 10 connections: searches may take a few, never all.
 *
 * On PGlite a slot also rests after each search as long as the search held it: back-to-back searches would otherwise
 * slip in between every statement of a send (each send is several), so searches get at most half the connection's time.
 */
export const SEARCH_SLOTS = { pglite: 1, postgres: 4 } as const;
/** Searches waiting for a slot; one more is turned away at once instead of growing a backlog. */
export const MAX_WAITING_SEARCHES = 16;

export interface SearchLimitsOptions {
  engine: keyof typeof SEARCH_SLOTS;
  /** How long a search may run (PostgreSQL cancels it) or wait for a slot. */
  timeoutMs: number;
}

/** The statement took longer than statement_timeout (PostgreSQL's query_canceled); drivers may wrap it in `cause`. */
function isStatementTimeout(err: unknown): boolean {
  return causeChain(err).some((e) => e.code === '57014');
}

interface Waiter {
  grant(): void;
}

export class SearchLimits {
  private readonly searching = new Set<string>();
  private readonly waiting: Waiter[] = [];
  private running = 0;
  private readonly slots: number;
  /** Seconds a client is told to wait after a 503: about as long as a search may take. */
  private readonly retryAfter: number;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly opts: SearchLimitsOptions,
  ) {
    this.slots = SEARCH_SLOTS[opts.engine];
    this.retryAfter = Math.max(1, Math.ceil(opts.timeoutMs / 1000));
  }

  /**
   * Runs one search of `userId` within the limits: one at a time per user, the per-minute budget, a slot, and a time
   * bound. `search` receives the statement timeout to set, undefined where the engine has none (PGlite runs in one
   * WebAssembly thread that nothing can interrupt: there the caps on terms and the single slot bound the damage).
   */
  async run<T>(userId: string, search: (statementTimeoutMs: number | undefined) => Promise<T>): Promise<T> {
    // Checked and taken synchronously, so two requests racing in cannot both pass.
    if (this.searching.has(userId)) {
      throw new AppError('RATE_LIMITED', 'One search at a time: wait for the answer to the previous one', { retryAfter: 1 });
    }
    this.searching.add(userId);
    try {
      await this.hit(userId);
      await this.acquire();
      const started = Date.now();
      try {
        return await search(this.opts.engine === 'postgres' ? this.opts.timeoutMs : undefined);
      } catch (err) {
        if (isStatementTimeout(err)) {
          throw new AppError(
            'UNAVAILABLE',
            `The search took longer than ${this.opts.timeoutMs} ms and was stopped; narrow it (a room, a date range, fewer partial words) or retry later`,
            { retryAfter: this.retryAfter },
          );
        }
        throw err;
      } finally {
        this.release(Date.now() - started);
      }
    } finally {
      this.searching.delete(userId);
    }
  }

  private async hit(userId: string): Promise<void> {
    try {
      await this.limiter.hit(userId);
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'RATE_LIMITED') throw err;
      throw new AppError('RATE_LIMITED', `Too many searches; retry in ${err.retryAfter ?? 1} s`, { retryAfter: err.retryAfter ?? 1 });
    }
  }

  private acquire(): Promise<void> {
    if (this.running < this.slots) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= MAX_WAITING_SEARCHES) return Promise.reject(this.busy());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(this.busy());
      }, this.opts.timeoutMs);
      this.waiting.push(waiter);
    });
  }

  private release(heldMs: number): void {
    // At most half the time a waiter may wait, so one queued behind a single search still gets its turn.
    const rest = this.opts.engine === 'pglite' ? Math.min(heldMs, this.opts.timeoutMs / 2) : 0;
    if (rest > 0) setTimeout(() => this.handOver(), rest).unref();
    else this.handOver();
  }

  /** A freed slot goes straight to the next waiter, so `running` only drops when nobody waits. */
  private handOver(): void {
    const next = this.waiting.shift();
    if (next) next.grant();
    else this.running--;
  }

  private busy(): AppError {
    return new AppError('UNAVAILABLE', 'Search is busy; retry shortly', { retryAfter: this.retryAfter });
  }
}
