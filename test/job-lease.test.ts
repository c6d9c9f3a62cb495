import { afterEach, describe, expect, it, vi } from 'vitest';
import { JobLease } from '../src/admin/job-lease.js';

const LEASE_MS = 300;
const t0 = new Date('2026-01-01T00:00:00Z');
const later = (ms: number) => new Date(t0.getTime() + ms);

/** A renew that answers after `ms`, each time with a lease one step further; records the lease each call named. */
function renewals(ms: number) {
  const named: Date[] = [];
  let n = 0;
  let inFlight = 0;
  let overlapped = false;
  const renew = vi.fn(async (_id: string, lease: Date) => {
    named.push(lease);
    if (++inFlight > 1) overlapped = true;
    await new Promise((resolve) => setTimeout(resolve, ms));
    inFlight--;
    return later(++n * 1000);
  });
  return { renew, named, inFlight: () => inFlight, overlapped: () => overlapped };
}

describe('a job lease', () => {
  afterEach(() => vi.useRealTimers());

  it('renews every third of the lease for as long as the work runs, each renewal naming the lease the last one left', async () => {
    vi.useFakeTimers();
    const r = renewals(10);
    const lease = new JobLease({ renew: r.renew }, 'job', t0, LEASE_MS, true);
    const work = lease.keep(() => new Promise<string>((resolve) => setTimeout(() => resolve('done'), 1050)));
    await vi.advanceTimersByTimeAsync(1100);
    await expect(work).resolves.toBe('done');
    // Ticks at 100, 200, …, 1000 ms.
    expect(r.renew).toHaveBeenCalledTimes(10);
    expect(r.named).toEqual([t0, ...Array.from({ length: 9 }, (_, i) => later((i + 1) * 1000))]);
    expect(lease.at).toEqual(later(10_000));
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.renew).toHaveBeenCalledTimes(10);
  });

  it('a renewal that lags is neither doubled nor queued: the ticks while it is out are skipped', async () => {
    vi.useFakeTimers();
    const r = renewals(250);
    const lease = new JobLease({ renew: r.renew }, 'job', t0, LEASE_MS, true);
    const work = lease.keep(() => new Promise<void>((resolve) => setTimeout(resolve, 950)));
    await vi.advanceTimersByTimeAsync(2000);
    await work;
    expect(r.overlapped()).toBe(false);
    // Out at 100–350, 400–650, 700–950 ms.
    expect(r.named).toEqual([t0, later(1000), later(2000)]);
    expect(lease.at).toEqual(later(3000));
  });

  it('starts no renewal while the batch writes the job row, and waits for one in flight before the write', async () => {
    vi.useFakeTimers();
    const r = renewals(80);
    const lease = new JobLease({ renew: r.renew }, 'job', t0, LEASE_MS, true);
    const seen: Array<{ inFlight: number; at: Date }> = [];
    const work = lease.keep(async () => {
      await new Promise((resolve) => setTimeout(resolve, 150)); // a renewal is in flight at 100–180 ms
      await lease.fenced(async () => {
        seen.push({ inFlight: r.inFlight(), at: lease.at });
        await new Promise((resolve) => setTimeout(resolve, 400)); // ticks at 200…500 ms are due meanwhile
        lease.at = later(99_000);
      });
    });
    await vi.advanceTimersByTimeAsync(600);
    await work;
    // The write began after the renewal in flight had answered, from the lease it left.
    expect(seen).toEqual([{ inFlight: 0, at: later(1000) }]);
    // None started while writing (from 150 to 580 ms); the next one (600 ms) would go from the write's lease.
    expect(r.renew).toHaveBeenCalledTimes(1);
    expect(lease.at).toEqual(later(99_000));
  });

  it('on one connection it never renews (a renewal would wait behind the open batch)', async () => {
    vi.useFakeTimers();
    const r = renewals(1);
    const lease = new JobLease({ renew: r.renew }, 'job', t0, LEASE_MS, false);
    const work = lease.keep(() => new Promise<void>((resolve) => setTimeout(resolve, 1000)));
    await vi.advanceTimersByTimeAsync(1000);
    await work;
    expect(r.renew).not.toHaveBeenCalled();
  });

  it('a failed renewal keeps the lease it had; the next one tries it again', async () => {
    vi.useFakeTimers();
    const renew = vi.fn().mockRejectedValueOnce(new Error('connection reset')).mockResolvedValue(later(5000));
    const lease = new JobLease({ renew }, 'job', t0, LEASE_MS, true);
    const work = lease.keep(() => new Promise<void>((resolve) => setTimeout(resolve, 250)));
    await vi.advanceTimersByTimeAsync(300);
    await work;
    expect(renew.mock.calls.map((c) => c[1])).toEqual([t0, t0]);
    expect(lease.at).toEqual(later(5000));
  });
});
