import type { AdminRepository } from './admin.repository.js';

/**
 * A job's lease while its instance works on it. The lease's end (`at`) is the fencing token every write of the job
 * names; `keep` renews it beside the work, every third of the lease, for as long as the job runs: through its batches,
 * the rests between them and the looks for what is left. Renewed only per batch, a batch longer than the lease, or a
 * rest after it longer than the lease (a rest is three times the batch: one of a tenth of the lease was enough on a
 * busy machine), let another instance take the job and start the same step; the first one's next commit found its
 * lease gone and rolled back, took the job again later, and so on. A holder that stalled still loses its lease: the
 * renewal only moves the lease it still holds, and a stalled event loop sends none.
 */
export class JobLease {
  private renewing: Promise<void> = Promise.resolve();
  /** Set while the holder's own batch writes the job row: no renewal may start then (see `fenced`). */
  private writing = false;
  private out = false;

  constructor(
    private readonly jobs: Pick<AdminRepository, 'renew'>,
    private readonly jobId: string,
    public at: Date,
    private readonly leaseMs: number,
    /** PGlite: one connection, so one instance; a renewal beside an open transaction would wait for it forever. */
    private readonly renews: boolean,
  ) {}

  async keep<T>(work: () => Promise<T>): Promise<T> {
    if (!this.renews) return work();
    const timer = setInterval(() => this.renew(), Math.max(50, Math.floor(this.leaseMs / 3)));
    try {
      return await work();
    } finally {
      clearInterval(timer);
      // What follows (a failure's postpone or finish) is fenced by the lease a renewal still in flight leaves.
      await this.renewing;
    }
  }

  /**
   * Runs the batch's own write of the job row (`write`, fenced by `at`) with no renewal beside it: one committed
   * between the batch's look at `at` and its write would move the lease under it, and the batch would roll back as if
   * another instance had taken the job. A renewal in flight is waited for; one due meanwhile is skipped. Once the
   * write holds the row, renewals skip it until the batch commits (the row is locked), then go on from the new `at`.
   */
  async fenced<T>(write: () => Promise<T>): Promise<T> {
    this.writing = true;
    try {
      await this.renewing;
      return await write();
    } finally {
      this.writing = false;
    }
  }

  /** A tick while a renewal is still out is skipped, not queued: a slow database would otherwise pile them up. */
  private renew(): void {
    if (this.writing || this.out) return;
    this.out = true;
    this.renewing = (async () => {
      const renewed = await this.jobs.renew(this.jobId, this.at, this.leaseMs).catch(() => undefined);
      // Not renewed (lost, the row held by the batch itself, or a passing failure): the batch's own write decides.
      if (renewed) this.at = renewed;
    })().finally(() => (this.out = false));
  }
}
