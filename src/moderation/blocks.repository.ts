import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { chatParticipant, userBlock } from '../db/schema.js';

export type BlockRow = typeof userBlock.$inferSelect;
export interface BlockKey {
  at: Date;
  userId: string;
}

export class BlocksRepository {
  constructor(private readonly db: Executor) {}

  with(tx: Executor): BlocksRepository {
    return new BlocksRepository(tx);
  }

  /** Idempotent: a repeat keeps the first block's time, so the list's order does not move. */
  async block(blockerId: string, blockedId: string): Promise<void> {
    await this.db.insert(userBlock).values({ blockerId, blockedId }).onConflictDoNothing();
  }

  async unblock(blockerId: string, blockedId: string): Promise<void> {
    await this.db.delete(userBlock).where(and(eq(userBlock.blockerId, blockerId), eq(userBlock.blockedId, blockedId)));
  }

  /** Latest first, keyset-paged on (created_at, blocked_id). */
  async list(blockerId: string, after: BlockKey | undefined, limit: number): Promise<BlockRow[]> {
    const older = after
      ? or(lt(userBlock.createdAt, after.at), and(eq(userBlock.createdAt, after.at), lt(userBlock.blockedId, after.userId)))
      : undefined;
    return this.db
      .select()
      .from(userBlock)
      .where(and(eq(userBlock.blockerId, blockerId), older))
      .orderBy(desc(userBlock.createdAt), desc(userBlock.blockedId))
      .limit(limit);
  }

  /** Whether either of the two blocks the other: two primary-key probes. */
  async between(a: string, b: string): Promise<boolean> {
    const [row] = await this.db
      .select({ one: sql<number>`1` })
      .from(userBlock)
      .where(or(and(eq(userBlock.blockerId, a), eq(userBlock.blockedId, b)), and(eq(userBlock.blockerId, b), eq(userBlock.blockedId, a))))
      .limit(1);
    return row !== undefined;
  }

  /** Whether `userId` and another participant of `roomId` block each other either way (a direct room has one other). */
  async inRoom(roomId: string, userId: string): Promise<boolean> {
    const [row] = await this.db
      .select({ one: sql<number>`1` })
      .from(chatParticipant)
      .innerJoin(
        userBlock,
        or(
          and(eq(userBlock.blockerId, chatParticipant.userId), eq(userBlock.blockedId, userId)),
          and(eq(userBlock.blockerId, userId), eq(userBlock.blockedId, chatParticipant.userId)),
        ),
      )
      .where(and(eq(chatParticipant.roomId, roomId), sql`${chatParticipant.userId} <> ${userId}`))
      .limit(1);
    return row !== undefined;
  }

  /** Of `userIds`, those who block `senderId`: they hear nothing of what the sender does. */
  async blockersOf(senderId: string, userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await this.db
      .select({ id: userBlock.blockerId })
      .from(userBlock)
      .where(and(eq(userBlock.blockedId, senderId), inArray(userBlock.blockerId, userIds)));
    return new Set(rows.map((r) => r.id));
  }
}
