import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, runAt } from '../src/timers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('runAt', () => {
  it('fires a deadline 40 days away at that deadline, not after setTimeout overflows', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    const day = 86_400_000;
    runAt(Date.now() + 40 * day, fn);
    vi.advanceTimersByTime(MAX_TIMER_MS + 1000); // ~24.9 days: a plain setTimeout would have fired after 1 ms
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(40 * day - MAX_TIMER_MS - 1001);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('fires at once for a deadline in the past, and never once cleared', () => {
    vi.useFakeTimers();
    const past = vi.fn();
    runAt(Date.now() - 5000, past);
    vi.advanceTimersByTime(0);
    expect(past).toHaveBeenCalledTimes(1);
    const cleared = vi.fn();
    const timer = runAt(Date.now() + 50 * 86_400_000, cleared);
    vi.advanceTimersByTime(MAX_TIMER_MS + 5); // cleared after the first link of the chain re-armed
    timer.clear();
    vi.advanceTimersByTime(60 * 86_400_000);
    expect(cleared).not.toHaveBeenCalled();
  });
});
