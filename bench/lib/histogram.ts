import * as hdr from 'hdr-histogram-js';

/** Percentiles as the tables print them, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * An HDR histogram of latencies: recorded in microseconds (3 significant digits, up to 10 minutes), read in
 * milliseconds. Keeps exact percentiles at any count without keeping the samples.
 */
export class Latency {
  private readonly h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });

  record(ms: number): void {
    this.h.recordValue(Math.max(1, Math.min(600_000_000, Math.round(ms * 1000))));
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** Milliseconds at percentile q (0–100); NaN when empty. */
  at(q: number): number {
    return this.h.totalCount === 0 ? Number.NaN : this.h.getValueAtPercentile(q) / 1000;
  }

  summary(): LatencySummary {
    const r = (v: number) => Math.round(v * 1000) / 1000;
    return {
      count: this.h.totalCount,
      p50: r(this.at(50)),
      p90: r(this.at(90)),
      p99: r(this.at(99)),
      max: r(this.h.totalCount === 0 ? Number.NaN : this.h.maxValue / 1000),
      mean: r(this.h.totalCount === 0 ? Number.NaN : this.h.mean / 1000),
    };
  }
}

/** Times `fn` `n` times in a row (closed loop, one at a time), after `warmup` untimed calls; stops early at `budgetMs`. */
export async function timeSerial(
  n: number,
  budgetMs: number,
  fn: (i: number) => Promise<unknown>,
  warmup = Math.min(20, Math.ceil(n / 10)),
): Promise<Latency> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const lat = new Latency();
  const until = performance.now() + budgetMs;
  for (let i = 0; i < n && (i < 5 || performance.now() < until); i++) {
    const t0 = performance.now();
    await fn(i);
    lat.record(performance.now() - t0);
  }
  return lat;
}
