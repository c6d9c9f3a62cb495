import { sql } from 'drizzle-orm';
import { queryRows, type Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';

export interface Watermark {
  advanced: boolean;
  seq: number;
  at: Date | null;
  /** The message at `seq` (null at seq 0). */
  messageId: string | null;
}

export interface ReceiptRow {
  userId: string;
  deliveredAt: Date | null;
  readAt: Date | null;
}

/** See advanceRead; prepared, as every read receipt of every client runs it. A null seq means the room's last. */
const ADVANCE_READ = hotStatement<{ seq: number; at: Date | string | null; advanced: boolean; message_id: string | null }>(
  'chat_advance_read',
  ['uuid', 'text', 'bigint'],
  (roomId, userId, toSeq) => {
    const target = sql`coalesce(${toSeq}, (select last_seq from chat_room where id = ${roomId}))`;
    return sql`with moved as (
        update chat_participant set last_read_seq = ${target}, last_read_at = now(),
          last_delivered_seq = greatest(last_delivered_seq, ${target}),
          last_delivered_at = case when last_delivered_seq < ${target} then now() else last_delivered_at end
        where room_id = ${roomId} and user_id = ${userId} and last_read_seq < ${target}
        returning last_read_seq as seq, last_read_at as at),
      receipt as (
        insert into message_read_receipt (room_id, user_id, kind, up_to_seq, at)
        select ${roomId}, ${userId}, 'read', seq, at from moved
        on conflict do nothing),
      mark as (
        select seq, at, true as advanced from moved
        union all
        select last_read_seq, last_read_at, false from chat_participant
        where room_id = ${roomId} and user_id = ${userId} and not exists (select 1 from moved))
      select mark.seq, mark.at, mark.advanced, m.id as message_id
      from mark left join chat_message m on m.room_id = ${roomId} and m.seq = mark.seq`;
  },
);

export interface DeliveryMark {
  roomId: string;
  userId: string;
  seq: number;
}

export interface DeliveryMove extends DeliveryMark {
  at: Date;
  /** The senders of the messages the move passed, still in the room: the ones whose ticks it changes. */
  senders: string[];
}

/**
 * See advanceDelivered; prepared, as it runs every 100 ms while anyone receives messages. The rows travel as one JSON
 * parameter, one statement text whatever the batch size.
 *
 * A send moves its sender's own row in the same room (its read and delivery positions), so the two meet on rows. The
 * batch takes its rows with SKIP LOCKED: waiting for a send's row while holding the rows locked before it made every
 * send of those users wait too, and the group-commit writer with them (a profile at 100 msgs/s found most sends over
 * 10 ms waiting on a flush). A skipped row is answered `busy` and goes in the next batch; by then the send has usually
 * moved it past the mark, and the mark moves nothing.
 */
const ADVANCE_DELIVERED = hotStatement<{
  room_id: string;
  user_id: string;
  seq: number | string;
  at: Date | string | null;
  busy: boolean;
  senders: string[];
}>(
  'chat_advance_delivered',
  ['jsonb'],
  (input) =>
    sql`with input as (
      select * from jsonb_to_recordset(${input}) as i("roomId" uuid, "userId" text, seq bigint)),
    wanted as materialized (
      select p.room_id, p.user_id, max(i.seq) as seq from chat_participant p
      join input i on p.room_id = i."roomId" and p.user_id = i."userId"
      where p.last_delivered_seq < i.seq
      group by p.room_id, p.user_id),
    -- Locked in (room, user) order, as the send statement locks its senders' rows.
    locked as materialized (
      select p.room_id, p.user_id, w.seq, p.last_delivered_seq as old_seq from chat_participant p
      join wanted w on p.room_id = w.room_id and p.user_id = w.user_id
      where p.last_delivered_seq < w.seq
      order by p.room_id, p.user_id for no key update of p skip locked),
    moved as (
      update chat_participant p set last_delivered_seq = greatest(p.last_delivered_seq, l.seq), last_delivered_at = now()
      from locked l
      where p.room_id = l.room_id and p.user_id = l.user_id and p.last_delivered_seq < l.seq
      returning p.room_id, p.user_id, p.last_delivered_seq as seq, p.last_delivered_at as at, l.old_seq),
    receipt as (
      insert into message_read_receipt (room_id, user_id, kind, up_to_seq, at)
      select room_id, user_id, 'delivered', seq, at from moved
      on conflict do nothing),
    -- Held by another transaction: not locked, whatever that transaction does to it (a set difference, not a join
    -- per row, so a batch of thousands stays linear).
    busy as (
      select room_id, user_id, seq from wanted except select room_id, user_id, seq from locked)
    select mv.room_id, mv.user_id, mv.seq, mv.at, false as busy,
      coalesce((select array_agg(d.sender_id) from (
                  select distinct m.sender_id from chat_message m
                  where m.room_id = mv.room_id and m.seq > mv.old_seq and m.seq <= mv.seq and m.sender_id <> mv.user_id) d
                -- still in the room: one who left hears nothing more of it
                where exists (select 1 from chat_participant cp where cp.room_id = mv.room_id and cp.user_id = d.sender_id)),
               '{}') as senders
    from moved mv
    union all
    select room_id, user_id, seq, null, true, '{}' from busy`,
);

export class ReadsRepository {
  constructor(private readonly db: Executor) {}

  /**
   * Moves a participant's read watermark forward (never back) to `toSeq`, or to the room's last seq when toSeq is
   * null, recording one receipt row per advance. Reading implies delivery, so the delivery watermark follows.
   * One statement, constant time whatever the number of unread messages; undefined when the user is not in the room.
   */
  async advanceRead(roomId: string, userId: string, toSeq: number | null): Promise<Watermark | undefined> {
    const [row] = await ADVANCE_READ(this.db, [roomId, userId, toSeq]);
    if (!row) return undefined;
    return { advanced: row.advanced, seq: Number(row.seq), at: row.at ? new Date(row.at) : null, messageId: row.message_id };
  }

  /**
   * Delivery acks gathered over a short window, written as one statement: each (room, user) watermark moves forward to
   * its seq, with one receipt row per move. Returns the moves that happened, and the marks whose row another
   * transaction held (`busy`), for the caller to try again with its next batch.
   */
  async advanceDelivered(marks: DeliveryMark[]): Promise<{ moved: DeliveryMove[]; busy: DeliveryMark[] }> {
    if (marks.length === 0) return { moved: [], busy: [] };
    const rows = await ADVANCE_DELIVERED(this.db, [JSON.stringify(marks)]);
    const moved: DeliveryMove[] = [];
    const busy: DeliveryMark[] = [];
    for (const r of rows) {
      if (r.busy) busy.push({ roomId: r.room_id, userId: r.user_id, seq: Number(r.seq) });
      else moved.push({ roomId: r.room_id, userId: r.user_id, seq: Number(r.seq), at: new Date(r.at!), senders: r.senders });
    }
    return { moved, busy };
  }

  /** Delivery and read time of the message at `seq` for every participant, from the receipt actions. */
  async receipts(roomId: string, seq: number): Promise<ReceiptRow[]> {
    const rows = await queryRows<{ user_id: string; delivered_at: Date | null; read_at: Date | null }>(
      this.db,
      sql`select p.user_id,
            least(d.at, r.at) as delivered_at,
            r.at as read_at
          from chat_participant p
          left join lateral (
            select at from message_read_receipt
            where room_id = p.room_id and user_id = p.user_id and kind = 'read' and up_to_seq >= ${seq}
            order by up_to_seq limit 1) r on true
          left join lateral (
            select at from message_read_receipt
            where room_id = p.room_id and user_id = p.user_id and kind = 'delivered' and up_to_seq >= ${seq}
            order by up_to_seq limit 1) d on true
          where p.room_id = ${roomId}
          order by p.joined_at, p.user_id`,
    );
    return rows.map((r) => ({
      userId: r.user_id,
      deliveredAt: r.delivered_at ? new Date(r.delivered_at) : null,
      readAt: r.read_at ? new Date(r.read_at) : null,
    }));
  }
}
