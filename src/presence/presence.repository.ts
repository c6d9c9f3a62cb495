import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { chatParticipant, chatUser } from '../db/schema.js';

export class PresenceRepository {
  constructor(private readonly db: Executor) {}

  async setLastSeen(userId: string, at: Date): Promise<void> {
    await this.db
      .insert(chatUser)
      .values({ id: userId, lastSeenAt: at })
      .onConflictDoUpdate({ target: chatUser.id, set: { lastSeenAt: at } });
  }

  /** Of `candidates`, those who share at least one room with `userId`, with their last-seen time. */
  async roomMates(userId: string, candidates: string[]): Promise<Array<{ userId: string; lastSeenAt: Date | null }>> {
    if (candidates.length === 0) return [];
    const rows = await this.db
      .selectDistinct({ userId: chatParticipant.userId, lastSeenAt: chatUser.lastSeenAt })
      .from(chatParticipant)
      .leftJoin(chatUser, eq(chatUser.id, chatParticipant.userId))
      .where(
        and(
          inArray(chatParticipant.userId, candidates),
          sql`${chatParticipant.roomId} in (select room_id from chat_participant where user_id = ${userId})`,
        ),
      );
    return rows;
  }
}
