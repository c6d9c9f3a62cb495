import { sql, type SQL } from 'drizzle-orm';
import { anyOf, queryRows, type Executor } from '../db/client.js';
import { GARBAGE_LEASE_S } from '../media/media.repository.js';
import { unreadByPosition } from '../event-log/event-log.repository.js';
import { listed } from '../messages/index.js';

/** A message after one user's reactions left it: for reaction_updated. */
export interface Unreacted {
  messageId: string;
  roomId: string;
  changeSeq: number;
  emoji: string[];
  reactions: Array<{ emoji: string; count: number }>;
}

/**
 * The SQL of an erase besides the tombstones (messages/) and the room departures (rooms/). Every statement finds
 * what is left of the user, so a job taken over after a crash does only what the dead one had not committed.
 */
export class EraseRepository {
  constructor(private readonly db: Executor) {}

  with(tx: Executor): EraseRepository {
    return new EraseRepository(tx);
  }

  /**
   * The first room, in id order and after `after` when given, where the user still has live messages. The sender
   * index (sender, room, seq) holds the tombstones too, so a look from the start walks every one already made: `after`
   * (the room just finished) starts the walk past them.
   */
  async roomWithLiveMessages(userId: string, after?: string): Promise<string | undefined> {
    const [row] = await queryRows<{ room_id: string }>(
      this.db,
      sql`select room_id from chat_message
          where sender_id = ${userId} ${after === undefined ? sql`` : sql`and room_id > ${after}`} and deleted_at is null
          order by room_id limit 1`,
    );
    return row?.room_id;
  }

  /**
   * The first room, in id order, where the user has a live message past what this job already looked through there
   * (`passed`: room → the highest seq of theirs it tombstoned or found none past; a room not in it from the start): the
   * look at the end for messages sent meanwhile. Looked for room by room, each from its `passed` seq, so it reads what
   * is new, not the tombstones just made (a look from the start read each, 0.7 s after an erase of 100,000). The rooms
   * come from the sender index one probe each (a skip scan), so a room the walk went past without any message of
   * theirs, where one landed since, is found too.
   */
  async roomWithLiveMessagesPast(userId: string, passed: ReadonlyMap<string, number>): Promise<string | undefined> {
    const [row] = await queryRows<{ room_id: string }>(this.db, roomWithLiveMessagesPastSql(userId, passed));
    return row?.room_id;
  }

  async reactedMessages(userId: string, limit: number): Promise<string[]> {
    const rows = await queryRows<{ message_id: string }>(
      this.db,
      sql`select distinct message_id from chat_reaction where user_id = ${userId} limit ${limit}`,
    );
    return rows.map((r) => r.message_id);
  }

  /**
   * Removes the user's reactions from one message as an unreact does: under the message's lock, the summary loses
   * them (an emoji nobody else used goes) and the message takes the room's next change_seq.
   */
  async unreact(messageId: string, userId: string): Promise<Unreacted | undefined> {
    const [row] = await queryRows<{
      room_id: string;
      change_seq: number | string;
      reactions: Unreacted['reactions'] | string;
      emoji: string[];
    }>(
      this.db,
      sql`with target as materialized (select id, room_id, reactions from chat_message where id = ${messageId} for no key update),
          gone as materialized (
            delete from chat_reaction r using target t where r.message_id = t.id and r.user_id = ${userId} returning r.emoji),
          counts as (select emoji, count(*)::int as n from gone group by emoji),
          summary as (
            select coalesce(jsonb_agg(case when c.n is null then x.e
                                           else jsonb_build_object('emoji', x.e->>'emoji', 'count', (x.e->>'count')::int - c.n) end
                                      order by x.i)
                                      filter (where c.n is null or (x.e->>'count')::int > c.n), '[]'::jsonb) as reactions
            from target t cross join lateral jsonb_array_elements(t.reactions) with ordinality as x(e, i)
            left join counts c on c.emoji = x.e->>'emoji'),
          room as (
            update chat_room r set last_change_seq = r.last_change_seq + 1
            from target t where r.id = t.room_id and exists (select 1 from gone)
            returning r.last_change_seq),
          -- As a reaction: change_seq alone moves, and the message is listed in chat_message_change.
          updated as (
            update chat_message m set reactions = s.reactions, change_seq = room.last_change_seq
            from room, summary s, target t where m.id = t.id and m.room_id = t.room_id
            returning m.id, m.room_id, m.change_seq, m.reactions),
          ${listed(sql`updated`)}
          select u.room_id, u.change_seq, u.reactions, array(select emoji from counts order by emoji) as emoji from updated u`,
    );
    if (!row) return undefined;
    const reactions = typeof row.reactions === 'string' ? (JSON.parse(row.reactions) as Unreacted['reactions']) : row.reactions;
    return { messageId, roomId: row.room_id, changeSeq: Number(row.change_seq), emoji: row.emoji, reactions };
  }

  /** Reactions left on messages that are gone meanwhile (nothing to update): dropped. */
  async dropReactions(userId: string, messageIds: string[]): Promise<number> {
    const rows = await queryRows(
      this.db,
      sql`delete from chat_reaction where user_id = ${userId}
            and message_id = ${anyOf(messageIds, 'uuid')} returning 1`,
    );
    return rows.length;
  }

  async nextRoom(userId: string): Promise<string | undefined> {
    const [row] = await queryRows<{ room_id: string }>(
      this.db,
      sql`select room_id from chat_participant where user_id = ${userId} limit 1`,
    );
    return row?.room_id;
  }

  /**
   * Uploads of the user that no message holds any more (pending ones): rows deleted and objects listed for removal,
   * as a delete lets go of a message's files. Returns the keys to remove after the commit.
   */
  async eraseUploads(userId: string): Promise<string[]> {
    const rows = await queryRows<{ k: string }>(
      this.db,
      sql`with gone as (delete from chat_media where uploader_id = ${userId} returning storage_key, thumbnail_key),
          keys as (select k from gone cross join lateral unnest(array[gone.storage_key, gone.thumbnail_key]) as k where k is not null),
          listed as (
            insert into media_garbage (storage_key, next_attempt_at)
            select k, now() + make_interval(secs => ${GARBAGE_LEASE_S}) from keys on conflict do nothing)
          select k from keys`,
    );
    return rows.map((r) => r.k);
  }

  /**
   * Everything else stored about the user, in one transaction; returns the count per kind. Pending event-log rows and
   * pending webhook deliveries are left to go out (their consumers are promised them); handled ones are deleted.
   */
  async eraseTraces(userId: string): Promise<Record<string, number>> {
    const u = userId;
    const asJson = JSON.stringify({ u });
    const count = async (name: string, q: ReturnType<typeof sql>): Promise<[string, number]> => [
      name,
      (await queryRows(this.db, q)).length,
    ];
    const mentionsUser = sql`jsonb_path_exists(x, '$.** ? (@ == $u)', ${asJson}::jsonb)`;
    const counts = [
      await count('receipts', sql`delete from message_read_receipt where user_id = ${u} returning 1`),
      await count('pushSubscriptions', sql`delete from push_subscription where user_id = ${u} returning 1`),
      await count('notifications', sql`delete from notification_outbox where user_id = ${u} or sender_id = ${u} returning 1`),
      await count(
        'notificationDeliveries',
        sql`delete from notification_delivery d using (select id, payload::jsonb as x from notification_delivery) p
            where d.id = p.id and (p.x->>'userId' = ${u} or p.x->>'senderId' = ${u}) returning 1`,
      ),
      await count('notificationsSent', sql`delete from notification_sent where user_id = ${u} returning 1`),
      await count('blocks', sql`delete from user_block where blocker_id = ${u} or blocked_id = ${u} returning 1`),
      await count(
        'reports',
        sql`delete from message_report where reporter_id = ${u} or message->>'senderId' = ${u}
              or message_id in (select id from chat_message where sender_id = ${u}) returning 1`,
      ),
      await count('suspensions', sql`delete from user_suspension where user_id = ${u} returning 1`),
      await count(
        'events',
        sql`delete from domain_event e using (select id, payload as x from domain_event) p
            where e.id = p.id and ${mentionsUser}
              and not exists (select 1 from domain_event_pending q where q.event_id = e.id)
              and not ${unreadByPosition(sql`e`)} returning 1`,
      ),
      await count(
        'webhookDeliveries',
        sql`delete from webhook_delivery w using (select id, body::jsonb as x from webhook_delivery where status in ('delivered', 'failed')) p
            where w.id = p.id and ${mentionsUser} returning 1`,
      ),
    ];
    // Their id where others' rows name them: mentions (in earlier versions too), pins, deletes, rooms they created. Not
    // a change clients are told of (no change_seq): the id stays in views clients already hold until they read the
    // message again. Each statement repeats its partial index's condition word for word, so the planner can use it:
    // one statement over every message held this batch for about a second a million rows.
    for (const table of [sql`chat_message`, sql`chat_message_edit`]) {
      await this.db.execute(
        sql`update ${table} set mentions = array_remove(mentions, ${u})
            where cardinality(mentions) > 0 and mentions @> array[${u}]::text[]`,
      );
    }
    await this.db.execute(sql`update chat_message set pinned_by = 'system' where pinned_at is not null and pinned_by = ${u}`);
    await this.db.execute(
      sql`update chat_message set deleted_by = 'system' where deleted_by is not null and deleted_by <> 'system' and deleted_by = ${u}`,
    );
    await this.db.execute(
      sql`update chat_room set created_by = case when created_by = ${u} then 'system' else created_by end,
            direct_key = case when type = 'direct' and direct_key::jsonb ? ${u} then jsonb_build_array('erased:' || id::text)::text else direct_key end
          where created_by = ${u} or (type = 'direct' and direct_key::jsonb ? ${u})`,
    );
    await this.db.execute(sql`update message_report set resolved_by = 'system' where resolved_by = ${u}`);
    await this.db.execute(sql`update user_suspension set created_by = 'system' where created_by = ${u}`);
    await this.db.execute(sql`update webhook set created_by = 'system' where created_by = ${u}`);
    await this.db.execute(sql`update admin_job set created_by = 'system' where created_by = ${u}`);
    return Object.fromEntries(counts);
  }

  /** The profile stays as an anonymous row: no name or picture, and `erased_at` keeps later tokens from naming it again. */
  async anonymise(userId: string): Promise<void> {
    await this.db.execute(
      sql`update chat_user set name = null, picture = null, last_seen_at = null, erased_at = coalesce(erased_at, now()), updated_at = now()
          where id = ${userId}`,
    );
  }
}

/** `roomWithLiveMessagesPast`'s statement (the erase-indexes test explains it). */
export function roomWithLiveMessagesPastSql(userId: string, passed: ReadonlyMap<string, number>): SQL {
  return sql`with recursive rooms(room_id) as (
        (select room_id from chat_message where sender_id = ${userId} order by room_id limit 1)
        union all
        select (select m.room_id from chat_message m where m.sender_id = ${userId} and m.room_id > r.room_id order by m.room_id limit 1)
        from rooms r where r.room_id is not null),
      passed as (select * from jsonb_to_recordset(${JSON.stringify([...passed].map(([room, seq]) => ({ room_id: room, seq })))}::jsonb)
        as p(room_id uuid, seq bigint))
      select r.room_id from rooms r left join passed p on p.room_id = r.room_id
      -- A probe per room (the limit keeps it one), not a join over every message of theirs.
      cross join lateral (
        select 1 from chat_message m
        where m.sender_id = ${userId} and m.room_id = r.room_id and m.seq > coalesce(p.seq, 0) and m.deleted_at is null
        limit 1) live
      where r.room_id is not null
      order by r.room_id limit 1`;
}
