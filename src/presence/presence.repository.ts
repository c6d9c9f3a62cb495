import { and, eq, inArray, sql } from 'drizzle-orm';
import { anyOf, type Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import { chatParticipant, chatUser } from '../db/schema.js';

/** Asked (batched) on every connect and departure: prepared once, the ids as one JSON array (see db/prepared.ts). */
const HIDDEN = hotStatement<{ id: string }>(
  'chat_users_hidden',
  ['jsonb'],
  (userIds) => sql`select id from chat_user where id = ${anyOf(userIds, 'text')} and not show_presence`,
);

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
    return new Set((await HIDDEN(this.db, [JSON.stringify(userIds)])).map((r) => r.id));
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
