import { and, desc, eq, isNotNull, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { chatMessage } from '../db/schema.js';
import { messageColumns, reply, type MessageRow } from '../messages/index.js';

/** A position in a room's pins: (pinnedAt, id) of the last message of a page. */
export type PinKey = {
  at: number;
  id: string;
};

export class PinsRepository {
  constructor(private readonly db: Executor) {}

  /** The room's pinned messages, latest pin first, after `after`. */
  async list(roomId: string, after: PinKey | null, limit: number): Promise<MessageRow[]> {
    return this.db
      .select(messageColumns)
      .from(chatMessage)
      .leftJoin(reply, and(eq(reply.roomId, chatMessage.roomId), eq(reply.seq, chatMessage.replyToSeq)))
      .where(
        and(
          eq(chatMessage.roomId, roomId),
          isNotNull(chatMessage.pinnedAt),
          after ? sql`(${chatMessage.pinnedAt}, ${chatMessage.id}) < (${new Date(after.at)}, ${after.id})` : undefined,
        ),
      )
      .orderBy(desc(chatMessage.pinnedAt), desc(chatMessage.id))
      .limit(limit);
  }
}
