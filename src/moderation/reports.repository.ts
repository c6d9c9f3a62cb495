import { and, asc, desc, eq, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { messageReport } from '../db/schema.js';

export type ReportRow = typeof messageReport.$inferSelect;
export type NewReport = Pick<
  typeof messageReport.$inferInsert,
  'id' | 'messageId' | 'roomId' | 'reporterId' | 'reason' | 'details' | 'message'
>;

/** A position in the queue: (createdAt, id) of the last report of a page. */
export type ReportKey = {
  at: number;
  id: string;
};

export class ReportsRepository {
  constructor(private readonly db: Executor) {}

  with(tx: Executor): ReportsRepository {
    return new ReportsRepository(tx);
  }

  /** The new open report, or undefined when the reporter has one open on that message already (whatever the race). */
  async insertOpen(report: NewReport): Promise<ReportRow | undefined> {
    const [row] = await this.db
      .insert(messageReport)
      .values(report)
      // The arbiter is the partial unique index message_report_open_uq, named by its columns and predicate.
      .onConflictDoNothing({ target: [messageReport.messageId, messageReport.reporterId], where: sql.raw(`status = 'open'`) })
      .returning();
    return row;
  }

  async findOpen(messageId: string, reporterId: string): Promise<ReportRow | undefined> {
    const [row] = await this.db
      .select()
      .from(messageReport)
      .where(and(eq(messageReport.messageId, messageId), eq(messageReport.reporterId, reporterId), eq(messageReport.status, 'open')));
    return row;
  }

  async findById(id: string): Promise<ReportRow | undefined> {
    const [row] = await this.db.select().from(messageReport).where(eq(messageReport.id, id));
    return row;
  }

  /** The queue of one status: oldest first, or newest first (`newestFirst`), after `after` (index message_report_queue_idx). */
  async list(status: string, newestFirst: boolean, after: ReportKey | null, limit: number): Promise<ReportRow[]> {
    const key = sql`(${messageReport.createdAt}, ${messageReport.id})`;
    const position = after ? sql`(${new Date(after.at)}::timestamptz, ${after.id}::uuid)` : undefined;
    return this.db
      .select()
      .from(messageReport)
      .where(
        and(eq(messageReport.status, status), position ? (newestFirst ? sql`${key} < ${position}` : sql`${key} > ${position}`) : undefined),
      )
      .orderBy(
        ...(newestFirst ? [desc(messageReport.createdAt), desc(messageReport.id)] : [asc(messageReport.createdAt), asc(messageReport.id)]),
      )
      .limit(limit);
  }

  /** Sets the report's status and action; an open report has no resolution, a closed one is stamped now by `by`. */
  async decide(id: string, d: { status: string; action: string | null; by: string }): Promise<ReportRow | undefined> {
    const open = d.status === 'open';
    const [row] = await this.db
      .update(messageReport)
      .set({ status: d.status, action: d.action, resolvedAt: open ? null : sql`now()`, resolvedBy: open ? null : d.by })
      .where(eq(messageReport.id, id))
      .returning();
    return row;
  }
}
