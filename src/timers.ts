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
