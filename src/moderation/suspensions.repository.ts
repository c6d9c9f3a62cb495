import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { userSuspension } from '../db/schema.js';

export type SuspensionRow = typeof userSuspension.$inferSelect;

/** A position in the list: (createdAt, userId) of the last suspension of a page. */
export type SuspensionKey = {
  at: number;
  userId: string;
};

/** Suspensions still counting: indefinite, or ending after now (the database's clock, as for every other time). */
const inForce = () => or(isNull(userSuspension.until), gt(userSuspension.until, sql`now()`));

export class SuspensionsRepository {
  constructor(private readonly db: Executor) {}

  /** Creates or replaces the user's suspension; its createdAt is the time of this decision. */
  async put(row: { userId: string; until: Date | null; reason: string; createdBy: string }): Promise<SuspensionRow> {
    const [saved] = await this.db
      .insert(userSuspension)
      .values(row)
      .onConflictDoUpdate({
        target: userSuspension.userId,
        set: { until: row.until, reason: row.reason, createdBy: row.createdBy, createdAt: sql`now()` },
      })
      .returning();
    return saved!;
  }

  async remove(userId: string): Promise<void> {
    await this.db.delete(userSuspension).where(eq(userSuspension.userId, userId));
  }

  /** Every suspension in force: a handful of rows, read whole by each instance. */
  async active(): Promise<SuspensionRow[]> {
    return this.db.select().from(userSuspension).where(inForce());
  }

  async list(after: SuspensionKey | null, limit: number): Promise<SuspensionRow[]> {
    return this.db
      .select()
      .from(userSuspension)
      .where(
        and(
          inForce(),
          after ? sql`(${userSuspension.createdAt}, ${userSuspension.userId}) < (${new Date(after.at)}, ${after.userId})` : undefined,
        ),
      )
      .orderBy(desc(userSuspension.createdAt), desc(userSuspension.userId))
      .limit(limit);
  }
}
