import { sql, type SQL } from 'drizzle-orm';
import { hotStatement } from '../db/prepared.js';
import { MESSAGE_CREATED_PUSHABLE, pushableRoom, XID_BEFORE_ID } from '../event-log/event-log.repository.js';

/*
 * The send statement, and the parts every write statement of messages shares (the direct-room block check, the durable
 * log's rows): kept apart from the repository, which runs them, because they are the largest SQL of the service.
 */

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
 * Whether `userId` takes part in `roomId`: one probe of the participant key. The `offset 0` keeps the planner from
 * turning it into a join: as one, the generic plan of a prepared change (planned for a user in a room or two) read all
 * of the caller's rooms and kept the message's, which for staff in thousands of rooms is thousands of rows a change.
 */
export const isParticipant = (roomId: SQL, userId: SQL): SQL =>
  sql`exists (select 1 from chat_participant p where p.room_id = ${roomId} and p.user_id = ${userId} offset 0)`;

/**
 * The durable log's rows for one change of one message, as CTEs of its statement: written only while someone listens
 * (with a pending row for each listener not read by position), from `ok` (the message, at most one row) and `room` (the room's update, so
 * after the room's row lock: a room's events get their ids in commit order). Edits, deletes and reactions use it.
 */
export const loggedChange = (type: SQL, payload: SQL): SQL =>
  sql`listeners as materialized (
        select c.name, c.read_to is null as by_row from domain_event_consumer c cross join ok where ${type} = any(c.types)),
      logged as (
        insert into domain_event (type, room_id, payload)
        select ${type}, ok.room_id, ${payload} from ok, room where ${XID_BEFORE_ID} and exists (select 1 from listeners)
        returning id),
      pending as (
        insert into domain_event_pending (consumer, event_id) select l.name, e.id from logged e cross join listeners l where l.by_row)`;

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
        insert into chat_message (id, room_id, seq, change_seq, base_change_seq, sender_id, type, content, mentions, reply_to_seq, client_message_id, has_media, search_doc)
        select i.id, i."roomId", rm.base + i.n, rm.change_base + i.n, rm.change_base + i.n, i."senderId", i.type,
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
      -- Written only while some consumer listens, with a pending row for each not read by position (see
      -- EventLogRepository.append); for one registered for MESSAGE_CREATED_PUSHABLE (with or without message.created),
      -- only in the rooms of \`pushable\`.
      listeners as materialized (
        select name, 'message.created' = any(types) and not ${sql.raw(`'${MESSAGE_CREATED_PUSHABLE}'`)} = any(types) as every,
          read_to is null as by_row
        from domain_event_consumer
        where types && array['message.created', ${sql.raw(`'${MESSAGE_CREATED_PUSHABLE}'`)}]),
      pushable as materialized (
        select rm.id from rooms rm
        where exists (select 1 from listeners where not every) and ${pushableRoom(sql`rm.id`)}),
      logged as (
        insert into domain_event (type, room_id, payload)
        select 'message.created', i.room_id,
          jsonb_build_object('messageId', i.id, 'roomId', i.room_id, 'senderId', i.sender_id, 'seq', i.seq, 'roomType', rm.type)
        from inserted i join rooms rm on rm.id = i.room_id
        where ${XID_BEFORE_ID} and (exists (select 1 from listeners where every) or i.room_id in (select id from pushable))
        order by i.room_id, i.seq
        returning id, room_id),
      pending as (
        insert into domain_event_pending (consumer, event_id) select l.name, e.id from logged e cross join listeners l
        where l.by_row and (l.every or e.room_id in (select id from pushable)))
      select i.id, i.seq, i.change_seq, i.created_at, rm.type as room_type, false as retried,
        not exists (select 1 from senders s where s.room_id = i.room_id and s.user_id = i.sender_id) as read_held
      from inserted i join rooms rm on rm.id = i.room_id
      union all
      select r.id, null::bigint, null::bigint, null::timestamptz, null::text, true, false from retried r`,
);
