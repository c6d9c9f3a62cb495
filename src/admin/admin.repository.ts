import { sql } from 'drizzle-orm';
import { queryRows, rowDate, type Executor } from '../db/client.js';

/** The time `ms` from now, as the database's clock tells it (leases are compared with its now()). */
const fromNow = (ms: number) => sql`now() + ${ms}::int * interval '1 millisecond'`;

/** The job `id` still running under the lease that ends at `lease`: no other instance has taken it over since. */
const heldWith = (id: string, lease: Date) => sql`id = ${id} and status = 'running' and locked_until = ${lease.toISOString()}::timestamptz`;

export interface JobRow {
  id: string;
  type: string;
  subject: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  step: string | null;
  progress: Record<string, number>;
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
  lockedUntil: Date | null;
}

interface RawJob {
  id: string;
  type: string;
  subject: string;
  status: JobRow['status'];
  step: string | null;
  progress: Record<string, number> | string;
  error: string | null;
  created_at: Date | string;
  finished_at: Date | string | null;
  locked_until: Date | string | null;
}

const toJob = (r: RawJob): JobRow => ({
  id: r.id,
  type: r.type,
  subject: r.subject,
  status: r.status,
  step: r.step,
  progress: typeof r.progress === 'string' ? (JSON.parse(r.progress) as Record<string, number>) : r.progress,
  error: r.error,
  createdAt: new Date(r.created_at),
  finishedAt: rowDate(r.finished_at),
  lockedUntil: rowDate(r.locked_until),
});

const JOB = sql.raw('id, type, subject, status, step, progress, error, created_at, finished_at, locked_until');

/** Admin jobs (admin_job) and the few reads the admin endpoints make themselves. */
export class AdminRepository {
  constructor(private readonly db: Executor) {}

  with(tx: Executor): AdminRepository {
    return new AdminRepository(tx);
  }

  async roomLastChangeSeq(roomId: string): Promise<number | undefined> {
    const [row] = await queryRows<{ last_change_seq: number | string }>(
      this.db,
      sql`select last_change_seq from chat_room where id = ${roomId}`,
    );
    return row && Number(row.last_change_seq);
  }

  /** A user is known once any token of theirs was seen (their chat_user row), erased or not. */
  async userExists(userId: string): Promise<boolean> {
    const rows = await queryRows(this.db, sql`select 1 from chat_user where id = ${userId}`);
    return rows.length > 0;
  }

  /**
   * The job erasing `userId` that is still queued or running, else a new queued one: one statement under a
   * transaction-scoped advisory lock on the user, so two concurrent erases of one user share one job.
   */
  async queueErase(jobId: string, userId: string, createdBy: string): Promise<{ id: string; created: boolean }> {
    await this.db.execute(sql`select pg_advisory_xact_lock(hashtext('erase_user'), hashtext(${userId}))`);
    const [open] = await queryRows<{ id: string }>(
      this.db,
      sql`select id from admin_job where type = 'erase_user' and subject = ${userId} and status in ('queued', 'running')
          order by created_at limit 1`,
    );
    if (open) return { id: open.id, created: false };
    await this.db.execute(
      sql`insert into admin_job (id, type, subject, created_by) values (${jobId}, 'erase_user', ${userId}, ${createdBy})`,
    );
    return { id: jobId, created: true };
  }

  async job(id: string): Promise<JobRow | undefined> {
    const [row] = await queryRows<RawJob>(this.db, sql`select ${JOB} from admin_job where id = ${id}`);
    return row && toJob(row);
  }

  /**
   * Takes the oldest job that is queued, or running without a live lease (its instance died or stalled), and leases it
   * for `leaseMs`. The lease's end is the holder's fencing token: every write of the job names it (`advance`).
   */
  async claim(leaseMs: number): Promise<JobRow | undefined> {
    const [row] = await queryRows<RawJob>(
      this.db,
      sql`update admin_job set status = 'running', updated_at = now(),
            locked_until = ${fromNow(leaseMs)}
          where id = (
            select id from admin_job
            where status in ('queued', 'running') and (locked_until is null or locked_until < now())
            order by created_at limit 1
            for update skip locked)
          returning ${JOB}`,
    );
    return row && toJob(row);
  }

  /**
   * Beside a batch's transaction, while it works: moves the lease on if the job is still held with `lease`. A job row
   * locked meanwhile is skipped, not waited for: the batch itself may hold it (an admin who queued their own erase:
   * its last step rewrites the jobs they created), and it waits for this renewal before it commits.
   */
  async renew(id: string, lease: Date, leaseMs: number): Promise<Date | undefined> {
    const [row] = await queryRows<{ locked_until: Date | string }>(
      this.db,
      sql`update admin_job set locked_until = ${fromNow(leaseMs)}
          where id = (
            select id from admin_job where ${heldWith(id, lease)}
            for update skip locked)
          returning locked_until`,
    );
    return row && new Date(row.locked_until);
  }

  /**
   * Inside a batch's transaction: adds `counts` to the progress, records the step, renews the lease — only while the
   * job is still held with `lease`. Returns the new lease, or undefined when another instance took the job over (the
   * caller then rolls back, so nothing of the batch is done twice).
   */
  async advance(id: string, lease: Date, leaseMs: number, step: string, counts: Record<string, number>): Promise<Date | undefined> {
    const [row] = await queryRows<{ locked_until: Date | string }>(
      this.db,
      sql`update admin_job set step = ${step}, updated_at = now(),
            progress = (
              select coalesce(jsonb_object_agg(k, coalesce((progress->>k)::bigint, 0) + coalesce((${JSON.stringify(counts)}::jsonb->>k)::bigint, 0)), '{}'::jsonb)
              from (select jsonb_object_keys(progress) as k union select jsonb_object_keys(${JSON.stringify(counts)}::jsonb)) keys),
            locked_until = ${fromNow(leaseMs)}
          where ${heldWith(id, lease)}
          returning locked_until`,
    );
    return row && new Date(row.locked_until);
  }

  async finish(id: string, lease: Date, error?: string): Promise<boolean> {
    const rows = await queryRows(
      this.db,
      sql`update admin_job set status = ${error === undefined ? 'done' : 'failed'}, error = ${error ?? null}, step = null,
            finished_at = now(), updated_at = now(), locked_until = null
          where ${heldWith(id, lease)}
          returning id`,
    );
    return rows.length > 0;
  }

  /** A batch met a passing failure: the job stays `running`, held by nobody until `delayMs` from now (any instance then). */
  async postpone(id: string, lease: Date, delayMs: number): Promise<void> {
    await this.db.execute(
      sql`update admin_job set updated_at = now(), locked_until = ${fromNow(Math.round(delayMs))}
          where ${heldWith(id, lease)}`,
    );
  }
}
