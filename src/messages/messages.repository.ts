import { and, asc, desc, eq, gt, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { queryRows, type Executor } from '../db/client.js';
import { chatMessage, chatRoom } from '../db/schema.js';
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

  /** The last message of each room: found through the room's last_seq, one index probe per room. */
  async lastOf(roomIds: string[]): Promise<MessageRow[]> {
    if (roomIds.length === 0) return [];
    return this.db
      .select(messageColumns)
      .from(chatRoom)
      .innerJoin(chatMessage, and(eq(chatMessage.roomId, chatRoom.id), eq(chatMessage.seq, chatRoom.lastSeq)))
      .leftJoin(reply, and(eq(reply.roomId, chatMessage.roomId), eq(reply.seq, chatMessage.replyToSeq)))
      .where(inArray(chatRoom.id, roomIds));
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

  /**
   * The write path as one statement, so a send costs one round trip and commits by itself (or inside the caller's
   * transaction): take the next seq under the room's row lock (dense under concurrency), insert, and move the sender's
   * read and delivery positions to the new message. Any failure (a clientMessageId already stored) undoes all of it,
   * seq included. Undefined when the room is gone.
   */
  async insertNext(msg: NewMessage): Promise<{ seq: number; createdAt: Date } | undefined> {
    const rows = await queryRows<{ seq: number; created_at: Date | string }>(
      this.db,
      sql`with room as (
            update chat_room set last_seq = last_seq + 1, last_activity_at = now()
            where id = ${msg.roomId}
            returning last_seq as seq),
          inserted as (
            insert into chat_message (id, room_id, seq, sender_id, type, content, mentions, reply_to_seq, client_message_id, has_media, search_doc)
            select ${msg.id}::uuid, ${msg.roomId}::uuid, room.seq, ${msg.senderId}::text, ${msg.type}::text, ${msg.content}::text,
              array(select jsonb_array_elements_text(${JSON.stringify(msg.mentions)}::jsonb)), ${msg.replyToSeq}::bigint,
              ${msg.clientMessageId}::text, ${msg.hasMedia}::boolean, ${msg.searchDoc}::tsvector
            from room
            returning seq, created_at),
          sender as (
            update chat_participant p set
              last_read_seq = greatest(p.last_read_seq, i.seq), last_read_at = now(),
              last_delivered_seq = greatest(p.last_delivered_seq, i.seq), last_delivered_at = now()
            from inserted i
            where p.room_id = ${msg.roomId} and p.user_id = ${msg.senderId}),
          -- Sending is reading: recorded as a read action so receipts show when the sender saw the room up to here.
          receipt as (
            insert into message_read_receipt (room_id, user_id, kind, up_to_seq)
            select ${msg.roomId}::uuid, ${msg.senderId}::text, 'read', seq from inserted
            on conflict do nothing)
          select seq, created_at from inserted`,
    );
    const row = rows[0];
    return row && { seq: Number(row.seq), createdAt: new Date(row.created_at) };
  }
}
