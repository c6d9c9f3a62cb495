import { afterEach, describe, expect, it, vi } from 'vitest';
import { LoopAllowance, MAX_TIMER_MS, restAfter, runAt } from '../src/timers.js';

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

describe('LoopAllowance', () => {
  it('halves while the loop runs late, down to its floor, and grows back by an eighth while it keeps time', () => {
    const a = new LoopAllowance(4, 64, 40);
    expect(a.value).toBe(64);
    a.adjust(41);
    expect(a.value).toBe(32);
    for (let i = 0; i < 10; i++) a.adjust(500);
    expect(a.value).toBe(4);
    a.adjust(40); // at the bound is on time
    expect(a.value).toBe(12);
    a.adjust(Number.NaN); // nothing measured: on time
    expect(a.value).toBe(20);
    for (let i = 0; i < 10; i++) a.adjust(5);
    expect(a.value).toBe(64);
  });

  it('measures the real loop: a blocked loop shrinks it', async () => {
    const a = new LoopAllowance(1, 64, 40);
    a.start(100);
    try {
      await new Promise((r) => setTimeout(r, 150)); // the monitor samples from its first turn of the loop on
      const until = Date.now() + 300;
      while (Date.now() < until); // the loop is held: timers fire 300 ms late
      await expect.poll(() => a.value, { timeout: 5000, interval: 20 }).toBeLessThan(64);
    } finally {
      a.stop();
    }
  });
});

describe('restAfter', () => {
  it('rests so that background batches hold at most their share of the time, never less than the floor', () => {
    // Half the time: a 40 ms batch rests 40 ms; a quarter: three times the batch.
    expect(restAfter(40, 0.5)).toBe(40);
    expect(restAfter(40, 0.25)).toBe(120);
    // A cheap batch still rests the configured pause (RETENTION_PAUSE_MS, ADMIN_JOB_PAUSE_MS).
    expect(restAfter(2, 0.5, 50)).toBe(50);
    expect(restAfter(0, 0.5)).toBe(0);
  });
});
