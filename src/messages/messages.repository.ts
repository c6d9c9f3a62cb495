import { and, asc, desc, eq, gt, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Executor } from '../db/client.js';
import { chatMessage, chatParticipant, chatRoom, messageReadReceipt } from '../db/schema.js';
import { REPLY_PREVIEW_CODE_POINTS } from './messages.schemas.js';

export const reply = alias(chatMessage, 'reply');

/** A message as read back, with the preview of the message it replies to (search reads the same columns). */
export const messageColumns = {
  id: chatMessage.id,
  roomId: chatMessage.roomId,
  seq: chatMessage.seq,
  senderId: chatMessage.senderId,
  type: chatMessage.type,
  content: chatMessage.content,
  mentions: chatMessage.mentions,
  clientMessageId: chatMessage.clientMessageId,
  hasMedia: chatMessage.hasMedia,
  createdAt: chatMessage.createdAt,
  editedAt: chatMessage.editedAt,
  deletedAt: chatMessage.deletedAt,
  replyId: reply.id,
  replySeq: reply.seq,
  replySenderId: reply.senderId,
  replyType: reply.type,
  // left() counts characters, i.e. code points, as the contract does.
  replyContent: sql<string | null>`left(${reply.content}, ${sql.raw(String(REPLY_PREVIEW_CODE_POINTS))})`,
};

export interface MessageRow {
  id: string;
  roomId: string;
  seq: number;
  senderId: string;
  type: string;
  content: string;
  mentions: string[];
  clientMessageId: string | null;
  hasMedia: boolean;
  createdAt: Date;
  editedAt: Date | null;
  deletedAt: Date | null;
  replyId: string | null;
  replySeq: number | null;
  replySenderId: string | null;
  replyType: string | null;
  replyContent: string | null;
}

export interface NewMessage {
  id: string;
  roomId: string;
  senderId: string;
  type: string;
  content: string;
  mentions: string[];
  replyToSeq: number | null;
  clientMessageId: string | null;
  hasMedia: boolean;
  /** tsvector literal from search/tokenize.ts */
  searchDoc: string;
}

export class MessagesRepository {
  constructor(private readonly db: Executor) {}

  with(tx: Executor): MessagesRepository {
    return new MessagesRepository(tx);
  }

  private select(where: SQL | undefined) {
    return this.db
      .select(messageColumns)
      .from(chatMessage)
      .leftJoin(reply, and(eq(reply.roomId, chatMessage.roomId), eq(reply.seq, chatMessage.replyToSeq)))
      .where(where);
  }

  async findById(id: string): Promise<MessageRow | undefined> {
    const [row] = await this.select(eq(chatMessage.id, id));
    return row;
  }

  /** Just enough of a message to check access and position: its room and seq. */
  async locate(id: string): Promise<{ roomId: string; seq: number } | undefined> {
    const [row] = await this.db.select({ roomId: chatMessage.roomId, seq: chatMessage.seq }).from(chatMessage).where(eq(chatMessage.id, id));
    return row;
  }

  async findBySeq(roomId: string, seq: number): Promise<MessageRow | undefined> {
    const [row] = await this.select(and(eq(chatMessage.roomId, roomId), eq(chatMessage.seq, seq)));
    return row;
  }

  async findByClientId(roomId: string, senderId: string, clientMessageId: string): Promise<MessageRow | undefined> {
    const [row] = await this.select(
      and(eq(chatMessage.roomId, roomId), eq(chatMessage.senderId, senderId), eq(chatMessage.clientMessageId, clientMessageId)),
    );
    return row;
  }

  /** The last message of each room (the one at the room's last_seq). */
  async lastOf(roomIds: string[]): Promise<MessageRow[]> {
    if (roomIds.length === 0) return [];
    return this.select(
      and(inArray(chatMessage.roomId, roomIds), sql`${chatMessage.seq} = (select last_seq from chat_room r where r.id = ${chatMessage.roomId})`),
    );
  }

  /** Up to `limit` messages with seq < before (or the latest), newest first. */
  async older(roomId: string, before: number | undefined, limit: number): Promise<MessageRow[]> {
    const cond = before === undefined ? eq(chatMessage.roomId, roomId) : and(eq(chatMessage.roomId, roomId), lt(chatMessage.seq, before));
    return this.select(cond).orderBy(desc(chatMessage.seq)).limit(limit);
  }

  /** Up to `limit` messages with seq > after (or >= when inclusive), oldest first. */
  async newer(roomId: string, after: number, limit: number, inclusive = false): Promise<MessageRow[]> {
    const bound = inclusive ? gte(chatMessage.seq, after) : gt(chatMessage.seq, after);
    return this.select(and(eq(chatMessage.roomId, roomId), bound)).orderBy(asc(chatMessage.seq)).limit(limit);
  }

  /** The id of the message at a seq (null for seq 0). */
  async idAt(roomId: string, seq: number): Promise<string | null> {
    if (seq <= 0) return null;
    const [row] = await this.db.select({ id: chatMessage.id }).from(chatMessage).where(and(eq(chatMessage.roomId, roomId), eq(chatMessage.seq, seq)));
    return row?.id ?? null;
  }

  /**
   * The write path, inside the caller's transaction: take the next seq under the room's row lock (dense under
   * concurrency), insert, and move the sender's read and delivery positions to the new message.
   */
  async insertNext(msg: NewMessage): Promise<{ seq: number; createdAt: Date }> {
    const [room] = await this.db
      .update(chatRoom)
      .set({ lastSeq: sql`${chatRoom.lastSeq} + 1`, lastActivityAt: sql`now()` })
      .where(eq(chatRoom.id, msg.roomId))
      .returning({ seq: chatRoom.lastSeq });
    const seq = room!.seq;
    const [inserted] = await this.db
      .insert(chatMessage)
      .values({ ...msg, seq, searchDoc: sql`${msg.searchDoc}::tsvector` })
      .returning({ createdAt: chatMessage.createdAt });
    await this.db
      .update(chatParticipant)
      .set({
        lastReadSeq: sql`greatest(${chatParticipant.lastReadSeq}, ${seq})`,
        lastReadAt: sql`now()`,
        lastDeliveredSeq: sql`greatest(${chatParticipant.lastDeliveredSeq}, ${seq})`,
        lastDeliveredAt: sql`now()`,
      })
      .where(and(eq(chatParticipant.roomId, msg.roomId), eq(chatParticipant.userId, msg.senderId)));
    // Sending is reading: recorded as a read action so receipts show when the sender saw the room up to here.
    await this.db
      .insert(messageReadReceipt)
      .values({ roomId: msg.roomId, userId: msg.senderId, kind: 'read', upToSeq: seq })
      .onConflictDoNothing();
    return { seq, createdAt: inserted!.createdAt };
  }
}
