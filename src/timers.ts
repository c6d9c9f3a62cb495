import { monitorEventLoopDelay } from 'node:perf_hooks';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** setTimeout's delay is a signed 32-bit count of milliseconds; anything longer fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/**
 * Runs `fn` at `at` (epoch ms), however far away: a delay past MAX_TIMER_MS is covered by a chain of shorter timers,
 * each re-reading the clock. Every time derived from user input (token expiry, mutes, suspensions) goes through here.
 * Unref'd: a pending deadline never keeps the process alive.
 */
export function runAt(at: number, fn: () => void): LongTimer {
  let timer: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = () => {
    if (cleared) return;
    const wait = at - Date.now();
    if (wait > MAX_TIMER_MS) {
      timer = setTimeout(arm, MAX_TIMER_MS);
    } else {
      timer = setTimeout(fn, Math.max(0, wait));
    }
    timer.unref();
  };
  arm();
  return {
    clear() {
      cleared = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * A wake-up for a worker loop: `set(delayMs)` arms it to call `fn` in `delayMs` at the latest, and an earlier wake-up
 * already armed stands (many "work is due" hints collapse into the soonest one). Unref'd, like runAt.
 */
export class Alarm {
  private timer: NodeJS.Timeout | undefined;
  private at = Infinity;

  constructor(private readonly fn: () => void) {}

  set(delayMs: number): void {
    const at = Date.now() + Math.max(0, delayMs);
    if (this.timer && at >= this.at) return;
    clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.at = Infinity;
      this.fn();
    }, at - Date.now());
    this.timer.unref();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Infinity;
  }
}

/**
 * How much background work may be under way: halved while the event loop runs late, grown back by an eighth of the
 * most while it keeps time (additive increase, multiplicative decrease, as TCP does). Work that must yield to live
 * traffic (webhook deliveries) takes at most this much, so at saturation it waits instead of taking the fan-out's CPU,
 * and catches up once the load falls.
 */
export class LoopAllowance {
  private current: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly histogram = monitorEventLoopDelay({ resolution: 10 });

  constructor(
    private readonly min: number,
    private readonly max: number,
    /** The loop's p99 delay (ms) over one period above which it counts as late. */
    private readonly lateMs = 40,
  ) {
    this.current = max;
  }

  get value(): number {
    return this.current;
  }

  /** Idempotent: measuring runs (a timer every 10 ms) only between start and stop. */
  start(everyMs = 250): void {
    if (this.timer) return;
    this.histogram.enable();
    this.timer = setInterval(() => {
      this.adjust(this.histogram.percentile(99) / 1e6);
      this.histogram.reset();
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.histogram.disable();
    this.histogram.reset();
  }

  /** One period's p99 loop delay in ms (NaN: nothing measured, which counts as on time). */
  adjust(p99DelayMs: number): void {
    this.current =
      p99DelayMs > this.lateMs
        ? Math.max(this.min, Math.floor(this.current / 2))
        : Math.min(this.max, this.current + Math.ceil(this.max / 8));
  }
}

/**
 * The share of the time a background job (an erase, retention) may hold: a quarter. An erase at half the time took the
 * p99 of the sends around it over the fan-out rows' 20 ms in most runs after the million-message dataset (30–49 ms in
 * six of eight on PostgreSQL, 2026-12-07); at a quarter it stayed at 13–19 ms in four of four, for a job twice as long
 * (docs/admin.md). Neither job is urgent; a send is.
 */
export const BACKGROUND_SHARE = 0.25;

/**
 * Background batches (erase jobs, retention) share the database and the event loop with live traffic: after a batch
 * that took `tookMs`, rest long enough that the job holds at most `share` of the time, and at least `minMs`. A batch
 * costs the sends around it about its own length, so a job paced this way stretches instead of stacking its batches
 * into one long stall, and it goes faster by itself when batches are cheap.
 */
export function restAfter(tookMs: number, share: number, minMs = 0): number {
  return Math.max(minMs, Math.round((tookMs * (1 - share)) / share));
}
