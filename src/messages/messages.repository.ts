import { and, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { anyOf, rowDate, type Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import { MESSAGE_CREATED_PUSHABLE, pushableRoom } from '../event-log/event-log.repository.js';
import { chatMessage } from '../db/schema.js';
import { REPLY_PREVIEW_CODE_POINTS } from '../contract/messages.js';

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
export const REPLY_JOIN = sql.raw('left join chat_message r on r.room_id = m.room_id and r.seq = m.reply_to_seq');

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
const OLDER = hotStatement<RawMessage>(
  'chat_messages_older',
  ['uuid', 'bigint', 'int'],
  (roomId, before, limit) =>
    sql`select ${MESSAGE_SELECT} from chat_message m ${REPLY_JOIN} where m.room_id = ${roomId} and m.seq < ${before} order by m.seq desc limit ${limit}`,
);
const NEWER = hotStatement<RawMessage>(
  'chat_messages_newer',
  ['uuid', 'bigint', 'int'],
  (roomId, after, limit) =>
    sql`select ${MESSAGE_SELECT} from chat_message m ${REPLY_JOIN} where m.room_id = ${roomId} and m.seq > ${after} order by m.seq asc limit ${limit}`,
);
/** The last message of each room of a room list: found through the room's last_seq, one index probe per room. */
const LAST_OF = hotStatement<RawMessage>(
  'chat_messages_last_of',
  ['jsonb'],
  (roomIds) => sql`select ${MESSAGE_SELECT} from chat_room lr join chat_message m on m.room_id = lr.id and m.seq = lr.last_seq ${REPLY_JOIN}
    where lr.id = ${anyOf(roomIds, 'uuid')}`,
);

/**
 * Whether `userId` and the other participant of `roomId` block each other, either way, when the room is direct (a
 * group room is one primary-key probe that stops at its type). The hot statements (sends, reactions) check this in
 * SQL, so a write reads nothing more first; moderation/ owns the blocks and explains the refusal.
 */
export const blockedInDirectRoom = (roomId: SQL, userId: SQL): SQL =>
  sql`exists (select 1 from chat_room br
        join chat_participant bo on bo.room_id = br.id and bo.user_id <> ${userId}
        join user_block b on (b.blocker_id = bo.user_id and b.blocked_id = ${userId}) or (b.blocker_id = ${userId} and b.blocked_id = bo.user_id)
        where br.id = ${roomId} and br.type = 'direct')`;

/**
 * The durable log's rows for one change of one message, as CTEs of its statement: written only while someone listens
 * (with a pending row for each listener), from `ok` (the message, at most one row) and `room` (the room's update, so
 * after the room's row lock: a room's events get their ids in commit order). Edits, deletes and reactions use it.
 */
export const loggedChange = (type: SQL, payload: SQL): SQL =>
  sql`listeners as materialized (select c.name from domain_event_consumer c cross join ok where ${type} = any(c.types)),
      logged as (
        insert into domain_event (type, room_id, payload)
        select ${type}, ok.room_id, ${payload} from ok, room where exists (select 1 from listeners)
        returning id),
      pending as (insert into domain_event_pending (consumer, event_id) select l.name, e.id from logged e cross join listeners l)`;

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
  /** tsvector literal from text/tokenize.ts */
  searchDoc: string;
  /** The sender passed the room's slow mode (or is exempt); without it a room in slow mode gets no row. */
  slowChecked?: boolean;
}

/** See insertMany. Its one parameter is the batch as JSON: one statement text whatever the batch size. */
export const INSERT_MESSAGES = hotStatement<{
  id: string;
  seq: number | null;
  change_seq: number | null;
  created_at: Date | string | null;
  room_type: string | null;
  retried: boolean;
  read_held: boolean;
}>(
  'chat_insert_messages',
  ['jsonb'],
  (input) =>
    sql`with input as (
        select * from jsonb_to_recordset(${input}) as i(ord int, id uuid, "roomId" uuid, "senderId" text, type text,
          content text, mentions text[], "replyToSeq" bigint, "clientMessageId" text, "hasMedia" boolean, "searchDoc" text,
          "slowChecked" boolean)),
      -- Only participants' messages are written: a sender removed since their room check (or never checked) gets no row.
      -- Nor a message into a direct room across a block, nor one into a room in slow mode that was not checked against
      -- it: the service learns why on its rare path, so a plain send reads nothing first.
      eligible as (
        select i.* from input i
        where exists (select 1 from chat_participant p where p.room_id = i."roomId" and p.user_id = i."senderId")
          and (coalesce(i."slowChecked", false) or not exists (select 1 from chat_room sr where sr.id = i."roomId" and sr.slow_mode_s > 0))
          and not ${blockedInDirectRoom(sql`i."roomId"`, sql`i."senderId"`)}),
      -- A clientMessageId its sender already stored in the room is a retry (an SDK re-sends its outbox after every
      -- reconnect): left out and named in the answer, so the batch it arrived in is written, not failed and redone one
      -- by one. Two sends of one new key in the same batch still meet the unique index (the caller redoes that batch).
      retried as (
        select e.id from eligible e
        where e."clientMessageId" is not null and exists (
          select 1 from chat_message m
          where m.room_id = e."roomId" and m.sender_id = e."senderId" and m.client_message_id = e."clientMessageId")),
      members as (select e.* from eligible e where not exists (select 1 from retried r where r.id = e.id)),
      counts as (select "roomId" as room_id, count(*) as n from members group by "roomId"),
      -- NO KEY UPDATE, like the UPDATE itself: it keeps other writers of the room out without blocking foreign-key checks
      -- (a participant row of the room) that would otherwise wait on us while holding what we wait for.
      locked as materialized (
        select id from chat_room where id in (select room_id from counts) order by id for no key update),
      rooms as (
        -- A new message is a change too: the change log's counter moves under the same lock, by the same count.
        update chat_room r set last_seq = r.last_seq + c.n, last_change_seq = r.last_change_seq + c.n, last_activity_at = now()
        from locked l join counts c on c.room_id = l.id
        where r.id = l.id
        returning r.id, r.type, r.last_seq - c.n as base, r.last_change_seq - c.n as change_base),
      numbered as (
        select i.*, row_number() over (partition by i."roomId" order by i.ord) as n from members i),
      inserted as (
        insert into chat_message (id, room_id, seq, change_seq, sender_id, type, content, mentions, reply_to_seq, client_message_id, has_media, search_doc)
        select i.id, i."roomId", rm.base + i.n, rm.change_base + i.n, i."senderId", i.type,
          i.content, i.mentions, i."replyToSeq", i."clientMessageId", i."hasMedia", i."searchDoc"::tsvector
        from numbered i join rooms rm on rm.id = i."roomId"
        returning id, room_id, sender_id, seq, change_seq, created_at),
      tops as (select room_id, sender_id, max(seq) as seq from inserted group by room_id, sender_id),
      -- A sender's row another write holds (a delivery flush, a mark read) is not waited for: this statement is the
      -- lane's, and every send behind it would wait too. Its read position is moved after the commit instead
      -- (read_held; MessagesService.create), before the sender is answered.
      senders as materialized (
        select p.room_id, p.user_id, t.seq from chat_participant p join tops t on t.room_id = p.room_id and t.sender_id = p.user_id
        order by p.room_id, p.user_id for no key update of p skip locked),
      moved as (
        update chat_participant p set
          last_read_seq = greatest(p.last_read_seq, s.seq), last_read_at = now(),
          last_delivered_seq = greatest(p.last_delivered_seq, s.seq), last_delivered_at = now()
        from senders s
        where p.room_id = s.room_id and p.user_id = s.user_id),
      receipt as (
        insert into message_read_receipt (room_id, user_id, kind, up_to_seq)
        select room_id, user_id, 'read', seq from senders
        on conflict do nothing),
      -- The durable event log (event-log/), in this same statement: a crash after the commit loses no notification.
      -- Written only while some consumer listens, with a pending row for each (see EventLogRepository.append); one
      -- registered for MESSAGE_CREATED_PUSHABLE only for the rooms in \`pushable\`.
      listeners as materialized (
        select name, 'message.created' = any(types) as every from domain_event_consumer
        where types && array['message.created', ${sql.raw(`'${MESSAGE_CREATED_PUSHABLE}'`)}]),
      pushable as materialized (
        select rm.id from rooms rm
        where exists (select 1 from listeners where not every) and ${pushableRoom(sql`rm.id`)}),
      logged as (
        insert into domain_event (type, room_id, payload)
        select 'message.created', i.room_id,
          jsonb_build_object('messageId', i.id, 'roomId', i.room_id, 'senderId', i.sender_id, 'seq', i.seq, 'roomType', rm.type)
        from inserted i join rooms rm on rm.id = i.room_id
        where exists (select 1 from listeners where every) or i.room_id in (select id from pushable)
        order by i.room_id, i.seq
        returning id, room_id),
      pending as (
        insert into domain_event_pending (consumer, event_id) select l.name, e.id from logged e cross join listeners l
        where l.every or e.room_id in (select id from pushable))
      select i.id, i.seq, i.change_seq, i.created_at, rm.type as room_type, false as retried,
        not exists (select 1 from senders s where s.room_id = i.room_id and s.user_id = i.sender_id) as read_held
      from inserted i join rooms rm on rm.id = i.room_id
      union all
      select r.id, null::bigint, null::bigint, null::timestamptz, null::text, true, false from retried r`,
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
    return this.select(where).orderBy(desc(chatMessage.id)).limit(limit);
  }

  async findByIds(ids: string[]): Promise<MessageRow[]> {
    return ids.length === 0 ? [] : this.select(inArray(chatMessage.id, ids));
  }
}
