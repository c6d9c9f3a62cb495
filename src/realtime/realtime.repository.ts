import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { chatParticipant, chatRoom } from '../db/schema.js';

export class RealtimeRepository {
  constructor(private readonly db: Executor) {}

  /** Every room of a user with its current last seq: what a socket joins on connect. */
  async roomsOf(userId: string): Promise<Array<{ roomId: string; lastSeq: number }>> {
    return this.db
      .select({ roomId: chatParticipant.roomId, lastSeq: chatRoom.lastSeq })
      .from(chatParticipant)
      .innerJoin(chatRoom, eq(chatRoom.id, chatParticipant.roomId))
      .where(eq(chatParticipant.userId, userId));
  }

  /** Last seqs of some rooms, to find which moved while a socket was away. */
  async lastSeqs(roomIds: string[]): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map();
    const rows = await this.db.select({ id: chatRoom.id, lastSeq: chatRoom.lastSeq }).from(chatRoom).where(inArray(chatRoom.id, roomIds));
    return new Map(rows.map((r) => [r.id, r.lastSeq]));
  }

  /** Everyone who shares a room with the user: who hears of their presence. */
  async roomMatesOf(userId: string): Promise<string[]> {
    const rows = await this.db
      .selectDistinct({ userId: chatParticipant.userId })
      .from(chatParticipant)
      .where(
        and(
          sql`${chatParticipant.roomId} in (select room_id from chat_participant where user_id = ${userId})`,
          sql`${chatParticipant.userId} <> ${userId}`,
        ),
      );
    return rows.map((r) => r.userId);
  }
}
