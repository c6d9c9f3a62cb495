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

  /** Of these users, those who hide their presence (a user never seen shows it: the default). */
  async hidden(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await this.db
      .select({ id: chatUser.id })
      .from(chatUser)
      .where(and(inArray(chatUser.id, userIds), eq(chatUser.showPresence, false)));
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Of `candidates`, those who share at least one room with `userId`, with their last-seen time and whether they
   * show their presence (null: never seen, so the default).
   */
  async roomMates(
    userId: string,
    candidates: string[],
  ): Promise<Array<{ userId: string; lastSeenAt: Date | null; showPresence: boolean | null }>> {
    if (candidates.length === 0) return [];
    const rows = await this.db
      .selectDistinct({ userId: chatParticipant.userId, lastSeenAt: chatUser.lastSeenAt, showPresence: chatUser.showPresence })
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
