import { sql } from 'drizzle-orm';
import { queryRows, type Executor } from '../db/client.js';

export type WatermarkKind = 'read' | 'delivered';

export interface Watermark {
  advanced: boolean;
  seq: number;
  at: Date | null;
}

export interface ReceiptRow {
  userId: string;
  deliveredAt: Date | null;
  readAt: Date | null;
}

const COLUMNS = {
  read: { seq: sql.raw('last_read_seq'), at: sql.raw('last_read_at') },
  delivered: { seq: sql.raw('last_delivered_seq'), at: sql.raw('last_delivered_at') },
};

export class ReadsRepository {
  constructor(private readonly db: Executor) {}

  /**
   * Moves a participant's watermark forward (never back) to `toSeq`, or to the room's last seq when toSeq is null,
   * recording one receipt row per advance. Reading implies delivery, so a read also lifts the delivery watermark.
   * Constant time whatever the number of unread messages.
   */
  async advance(kind: WatermarkKind, roomId: string, userId: string, toSeq: number | null): Promise<Watermark | undefined> {
    const c = COLUMNS[kind];
    const target = toSeq === null ? sql`(select last_seq from chat_room where id = ${roomId})` : sql`${toSeq}::bigint`;
    const alsoDelivered =
      kind === 'read'
        ? sql`, last_delivered_seq = greatest(last_delivered_seq, ${target}),
              last_delivered_at = case when last_delivered_seq < ${target} then now() else last_delivered_at end`
        : sql``;
    const rows = await queryRows<{ seq: number; at: Date | null; advanced: boolean }>(
      this.db,
      sql`with moved as (
            update chat_participant set ${c.seq} = ${target}, ${c.at} = now() ${alsoDelivered}
            where room_id = ${roomId} and user_id = ${userId} and ${c.seq} < ${target}
            returning ${c.seq} as seq, ${c.at} as at),
          receipt as (
            insert into message_read_receipt (room_id, user_id, kind, up_to_seq, at)
            select ${roomId}::uuid, ${userId}::text, ${kind}::text, seq, at from moved
            on conflict do nothing)
          select seq, at, true as advanced from moved
          union all
          select ${c.seq} as seq, ${c.at} as at, false as advanced from chat_participant
          where room_id = ${roomId} and user_id = ${userId} and not exists (select 1 from moved)`,
    );
    const row = rows[0];
    if (!row) return undefined;
    return { advanced: row.advanced, seq: Number(row.seq), at: row.at ? new Date(row.at) : null };
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
