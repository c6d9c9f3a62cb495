import { and, eq, inArray, ne } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Executor } from '../db/client.js';
import { chatParticipant, chatRoom } from '../db/schema.js';

export class RealtimeRepository {
  constructor(private readonly db: Executor) {}

  /** Every room of some users with its current last seq: what a socket joins on connect. */
  async roomsOf(userIds: string[]): Promise<Map<string, Array<{ roomId: string; lastSeq: number }>>> {
    const byUser = new Map<string, Array<{ roomId: string; lastSeq: number }>>(userIds.map((u) => [u, []]));
    if (userIds.length === 0) return byUser;
    const rows = await this.db
      .select({ userId: chatParticipant.userId, roomId: chatParticipant.roomId, lastSeq: chatRoom.lastSeq })
      .from(chatParticipant)
      .innerJoin(chatRoom, eq(chatRoom.id, chatParticipant.roomId))
      .where(inArray(chatParticipant.userId, userIds));
    for (const r of rows) byUser.get(r.userId)?.push({ roomId: r.roomId, lastSeq: r.lastSeq });
    return byUser;
  }

  /** Last seqs of some rooms, to find which moved while a socket was away. */
  async lastSeqs(roomIds: string[]): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map();
    const rows = await this.db.select({ id: chatRoom.id, lastSeq: chatRoom.lastSeq }).from(chatRoom).where(inArray(chatRoom.id, roomIds));
    return new Map(rows.map((r) => [r.id, r.lastSeq]));
  }

  /** Everyone who shares a room with each of some users: who hears of their presence. */
  async roomMatesOf(userIds: string[]): Promise<Map<string, string[]>> {
    const byUser = new Map<string, string[]>(userIds.map((u) => [u, []]));
    if (userIds.length === 0) return byUser;
    const mine = alias(chatParticipant, 'mine');
    const rows = await this.db
      .selectDistinct({ userId: mine.userId, mate: chatParticipant.userId })
      .from(mine)
      .innerJoin(chatParticipant, and(eq(chatParticipant.roomId, mine.roomId), ne(chatParticipant.userId, mine.userId)))
      .where(inArray(mine.userId, userIds));
    for (const r of rows) byUser.get(r.userId)?.push(r.mate);
    return byUser;
  }
}
