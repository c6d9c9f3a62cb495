import { and, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { anyOf, rowDate, type Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import { chatMessage } from '../db/schema.js';
import { REPLY_PREVIEW_CODE_POINTS } from '../contract/messages.js';
import { INSERT_MESSAGES, type NewMessage } from './write.statements.js';

export const reply = alias(chatMessage, 'reply');

/** A message as read back, with the preview of the message it replies to (search asks for these rows through newestMatching). */
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
  deletedBy: chatMessage.deletedBy,
  changeSeq: chatMessage.changeSeq,
  pinnedAt: chatMessage.pinnedAt,
  pinnedBy: chatMessage.pinnedBy,
  reactions: chatMessage.reactions,
  replyId: reply.id,
  replySeq: reply.seq,
  replySenderId: reply.senderId,
  replyType: reply.type,
  replyDeletedAt: reply.deletedAt,
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
  deletedBy: string | null;
  changeSeq: number;
  pinnedAt: Date | null;
  pinnedBy: string | null;
  /** The summary kept with the reaction rows: each emoji with its count, in order of first use. */
  reactions: ReactionCount[];
  replyId: string | null;
  replySeq: number | null;
  replySenderId: string | null;
  replyType: string | null;
  replyDeletedAt: Date | null;
  replyContent: string | null;
}

export interface ReactionCount {
  emoji: string;
  count: number;
}

/** A message row as the driver answers MESSAGE_SELECT: the hot reads map it by hand (messageRowOf), not through the ORM. */
export interface RawMessage {
  id: string;
  room_id: string;
  seq: number | string;
  sender_id: string;
  type: string;
  content: string;
  mentions: string[];
  client_message_id: string | null;
  has_media: boolean;
  created_at: Date | string;
  edited_at: Date | string | null;
  deleted_at: Date | string | null;
  deleted_by: string | null;
  change_seq: number | string;
  pinned_at: Date | string | null;
  pinned_by: string | null;
  reactions: ReactionCount[];
  reply_id: string | null;
  reply_seq: number | string | null;
  reply_sender_id: string | null;
  reply_type: string | null;
  reply_deleted_at: Date | string | null;
  reply_content: string | null;
}

/**
 * The columns of messageColumns for raw statements over `chat_message m` joined with REPLY_JOIN: history pages, the
 * change log and room lists read pages of these, and the ORM's building and mapping of each row was a third of a
 * change-log page's CPU.
 */
export const MESSAGE_SELECT = sql.raw(`m.id, m.room_id, m.seq, m.sender_id, m.type, m.content, m.mentions, m.client_message_id,
  m.has_media, m.created_at, m.edited_at, m.deleted_at, m.deleted_by, m.change_seq, m.pinned_at, m.pinned_by, m.reactions,
  r.id as reply_id, r.seq as reply_seq, r.sender_id as reply_sender_id, r.type as reply_type, r.deleted_at as reply_deleted_at,
  left(r.content, ${REPLY_PREVIEW_CODE_POINTS}) as reply_content`);
/**
 * The replied-to message, looked up by index for each row of the page. A lateral subquery, kept from being flattened
 * by its `limit 1` ((room_id, seq) is unique, so it changes nothing else): as a plain join, the generic plan of a
 * prepared history page (planned for a room of average size) read the room's every message once and compared each row
 * of the page against all of them: 250 ms a page in a room of 35,000 messages (the bench, 200,000 messages in all).
 */
export const REPLY_JOIN = sql.raw(`left join lateral (
    select r.id, r.seq, r.sender_id, r.type, r.deleted_at, r.content from chat_message r
    where r.room_id = m.room_id and r.seq = m.reply_to_seq limit 1) r on true`);

export function messageRowOf(r: RawMessage): MessageRow {
  return {
    id: r.id,
    roomId: r.room_id,
    seq: Number(r.seq),
    senderId: r.sender_id,
    type: r.type,
    content: r.content,
    mentions: r.mentions,
    clientMessageId: r.client_message_id,
    hasMedia: r.has_media,
    createdAt: new Date(r.created_at),
    editedAt: rowDate(r.edited_at),
    deletedAt: rowDate(r.deleted_at),
    deletedBy: r.deleted_by,
    changeSeq: Number(r.change_seq),
    pinnedAt: rowDate(r.pinned_at),
    pinnedBy: r.pinned_by,
    reactions: r.reactions,
    replyId: r.reply_id,
    replySeq: r.reply_seq === null ? null : Number(r.reply_seq),
    replySenderId: r.reply_sender_id,
    replyType: r.reply_type,
    replyDeletedAt: rowDate(r.reply_deleted_at),
    replyContent: r.reply_content,
  };
}

/** History pages, the busiest reads. `before`/`after` are exclusive seqs. */
export const OLDER = hotStatement<RawMessage>(
  'chat_messages_older',
  ['uuid', 'bigint', 'int'],
  (roomId, before, limit) =>
    sql`select ${MESSAGE_SELECT} from chat_message m ${REPLY_JOIN} where m.room_id = ${roomId} and m.seq < ${before} order by m.seq desc limit ${limit}`,
);
export const NEWER = hotStatement<RawMessage>(
  'chat_messages_newer',
  ['uuid', 'bigint', 'int'],
  (roomId, after, limit) =>
    sql`select ${MESSAGE_SELECT} from chat_message m ${REPLY_JOIN} where m.room_id = ${roomId} and m.seq > ${after} order by m.seq asc limit ${limit}`,
);
/** The last message of each room of a room list: found through the room's last_seq, one index probe per room. */
export const LAST_OF = hotStatement<RawMessage>(
  'chat_messages_last_of',
  ['jsonb'],
  (roomIds) => sql`select ${MESSAGE_SELECT} from chat_room lr join chat_message m on m.room_id = lr.id and m.seq = lr.last_seq ${REPLY_JOIN}
    where lr.id = ${anyOf(roomIds, 'uuid')}`,
);

/** See moveSenderRead: what the send statement does for its sender's row, alone, waiting for the row. */
const MOVE_SENDER_READ = hotStatement<Record<string, never>>(
  'chat_move_sender_read',
  ['uuid', 'text', 'bigint'],
  (roomId, userId, seq) =>
    sql`with moved as (
        update chat_participant set last_read_seq = ${seq}, last_read_at = now(),
          last_delivered_seq = greatest(last_delivered_seq, ${seq}), last_delivered_at = now()
        where room_id = ${roomId} and user_id = ${userId} and last_read_seq < ${seq}
        returning room_id, user_id, last_read_seq)
      insert into message_read_receipt (room_id, user_id, kind, up_to_seq)
      select room_id, user_id, 'read', last_read_seq from moved
      on conflict do nothing`,
);

/** A send whose clientMessageId its sender had already stored in the room: nothing was written for it. */
export const RETRIED = 'retried';
/** What the write path tells of one send: stored, or a retry of one stored before. */
export type Written = StoredMessage | typeof RETRIED;

/** What the write path tells of a stored message; the room's type comes along for the event. */
export interface StoredMessage {
  seq: number;
  changeSeq: number;
  createdAt: Date;
  roomType: string;
  /** The sender's read position was not moved to the message: another write held their row (see moveSenderRead). */
  readHeld?: true;
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
    const [row] = await this.db
      .select({ roomId: chatMessage.roomId, seq: chatMessage.seq })
      .from(chatMessage)
      .where(eq(chatMessage.id, id));
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
    return (await LAST_OF(this.db, [JSON.stringify(roomIds)])).map(messageRowOf);
  }

  /** Up to `limit` messages with seq < before (or the latest), newest first. */
  async older(roomId: string, before: number | undefined, limit: number): Promise<MessageRow[]> {
    return (await OLDER(this.db, [roomId, before ?? Number.MAX_SAFE_INTEGER, limit])).map(messageRowOf);
  }

  /** Up to `limit` messages with seq > after (or >= when inclusive), oldest first. */
  async newer(roomId: string, after: number, limit: number, inclusive = false): Promise<MessageRow[]> {
    return (await NEWER(this.db, [roomId, inclusive ? after - 1 : after, limit])).map(messageRowOf);
  }

  /**
   * The write path, for one message or a batch of concurrent sends (group commit), as one statement: a send costs one
   * round trip and commits by itself (or inside the caller's transaction). Each room's row is locked (in id order, and
   * participant rows in (room, user) order as delivery acks lock them, so concurrent writers queue instead of
   * deadlocking) and its last_seq moves by the number of its messages, which take the seqs above it in the batch's
   * order: dense under any concurrency. Each sender's read and delivery positions move to their last message, with a
   * read receipt (sending is reading), and each message gets its `message.created` row in the durable event log. A send
   * whose clientMessageId is stored already is answered RETRIED and writes nothing; any failure (the same new key twice
   * in one batch) undoes all of it, seqs and events included.
   * Messages of a room that is gone, or whose sender is not in it, get no row in the answer.
   */
  async insertMany(msgs: NewMessage[]): Promise<Map<string, Written>> {
    if (msgs.length === 0) return new Map();
    const rows = await INSERT_MESSAGES(this.db, [JSON.stringify(msgs.map((m, ord) => ({ ...m, ord })))]);
    return new Map(
      rows.map((r): [string, Written] => [
        r.id,
        r.retried
          ? RETRIED
          : {
              seq: Number(r.seq),
              changeSeq: Number(r.change_seq),
              createdAt: new Date(r.created_at!),
              roomType: r.room_type!,
              ...(r.read_held ? { readHeld: true } : {}),
            },
      ]),
    );
  }

  async insertNext(msg: NewMessage): Promise<Written | undefined> {
    return (await this.insertMany([msg])).get(msg.id);
  }

  /**
   * Moves a sender's read (and delivery) position to their message, with its receipt, as the send statement does when
   * the row is free; for a send whose row was held (StoredMessage.readHeld). Nothing if they read past it meanwhile.
   */
  async moveSenderRead(roomId: string, userId: string, seq: number): Promise<void> {
    await MOVE_SENDER_READ(this.db, [roomId, userId, seq]);
  }

  /**
   * The read other modules filter (search): messages matching `where` (conditions on chat_message), with the columns
   * and reply preview every read has, newest first, at most `limit`. Callers choose rows, never columns, so whatever
   * the presenter needs is always there.
   */
  async newestMatching(where: SQL | undefined, limit: number): Promise<MessageRow[]> {
    return this.newestMatchingQuery(where, limit);
  }

  /** newestMatching's statement, not yet run: the plan tests explain it. */
  newestMatchingQuery(where: SQL | undefined, limit: number) {
    return this.select(where).orderBy(desc(chatMessage.id)).limit(limit);
  }

  async findByIds(ids: string[]): Promise<MessageRow[]> {
    return ids.length === 0 ? [] : this.select(inArray(chatMessage.id, ids));
  }
}
