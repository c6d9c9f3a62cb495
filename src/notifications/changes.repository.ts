import { sql, type SQL } from 'drizzle-orm';
import { anyOf, queryRows, type Db, type Executor } from '../db/client.js';
import type { LogNarrowing } from '../event-log/event-log.repository.js';
import type { MessageToNotify } from './notifications.repository.js';

/** The consumer's name in the event log: its pending rows are kept under it, on every instance, across restarts. */
export const NOTIFICATIONS_CONSUMER = 'notifications';

/**
 * The event log keeps a `message.deleted` for the notifications only when it concerns them (narrowLog, registered by
 * index.ts), so a bulk delete of messages nobody was notified of leaves them nothing to read. It holds where
 * `deletionsToHandle` could find work (the message in a notification, open or taken, or notified) and also while a
 * send or an edit of the room is still pending for them: that event may yet put the message in a notification, and it
 * is handled in one transaction with its pending row, so one statement sees either that row or the notification.
 */
export const DELETES_THAT_CONCERN_NOTIFICATIONS: LogNarrowing = {
  consumer: NOTIFICATIONS_CONSUMER,
  type: 'message.deleted',
  when: ({ roomId, payload }) => {
    const messageId = sql`(${payload}->>'messageId')::uuid`;
    return sql`(exists (select 1 from notification_sent s where s.message_id = ${messageId})
      or exists (select 1 from notification_outbox o where o.room_id = ${roomId} and ${messageId} = any(o.message_ids))
      or ${roomId} in (
        select e.room_id from domain_event_pending p join domain_event e on e.id = p.event_id
        where p.consumer = ${NOTIFICATIONS_CONSUMER} and e.type in ('message.created', 'message.edited')))`;
  },
};

/** An edit's newly mentioned users, as logged with `message.edited`. */
export interface Edit {
  eventId: number;
  messageId: string;
  newMentions: string[];
}

export interface EditToNotify extends MessageToNotify {
  eventId: number;
}

/** A deleted message, as logged with `message.deleted`. */
export interface Deletion {
  messageId: string;
  roomId: string;
}

/**
 * The statements below join what the consumer read from the log (a JSON recordset, which the planner takes for 100
 * rows) to messages and rooms by key. Left to that join, a table of some thousands of rows could be hashed whole
 * (test/sql-plans.test.ts); the keys are also given as `= any(array(…))`, which reads each by index on any plan.
 */
export function editsToNotifySql(edits: Edit[], withSubscription: boolean): SQL {
  const messageIds = edits.map((e) => e.messageId);
  return sql`select i."eventId", m.id as "messageId", m.room_id as "roomId", r.type as "roomType", m.seq, m.sender_id as "senderId",
        (select coalesce(jsonb_agg(jsonb_build_object('userId', p.user_id, 'hidePreviews', p.hide_previews)), '[]'::jsonb)
          from chat_participant p
          where p.room_id = m.room_id and p.user_id <> m.sender_id and p.user_id = any(m.mentions)
            and p.user_id = ${anyOf(sql`i."newMentions"`, 'text')}
            and not exists (select 1 from user_block b where b.blocker_id = p.user_id and b.blocked_id = m.sender_id)
            and (not ${withSubscription} or exists (select 1 from push_subscription s where s.user_id = p.user_id))) as candidates
      from chat_message m join chat_room r on r.id = m.room_id
        join jsonb_to_recordset(${JSON.stringify(edits)}::jsonb) as i("eventId" bigint, "messageId" uuid, "newMentions" jsonb)
          on i."messageId" = m.id
      where m.id = ${anyOf(messageIds, 'uuid')} and m.deleted_at is null
      order by i."eventId"`;
}

export function deletionsToHandleSql(deleted: Deletion[]): SQL {
  const roomIds = deleted.map((d) => d.roomId);
  return sql`select i."messageId", r.type as "roomType"
      from chat_room r join jsonb_to_recordset(${JSON.stringify(deleted)}::jsonb) as i("messageId" uuid, "roomId" uuid) on r.id = i."roomId"
      where r.id = ${anyOf(roomIds, 'uuid')}
        and (exists (select 1 from notification_sent s where s.message_id = i."messageId")
          or exists (select 1 from notification_outbox o
                     where o.room_id = i."roomId" and o.claimed_until is null and i."messageId" = any(o.message_ids)))`;
}

/**
 * SQL for messages that change after they were sent: edits that newly mention someone are notified like sends,
 * deleted messages leave the notifications not yet sent, and those already sent are retracted.
 */
export class NotificationChangesRepository {
  constructor(private readonly db: Db) {}

  /**
   * Each edit's message (unless deleted since) with those of its newly mentioned users who may be notified of it:
   * participants other than the sender whom it still mentions (muting does not stop mentions, as for sends).
   * `withSubscription`: only users with a push subscription (see `messagesToNotify`).
   */
  async editsToNotify(edits: Edit[], withSubscription: boolean): Promise<EditToNotify[]> {
    if (edits.length === 0) return [];
    const rows = await queryRows<EditToNotify & { eventId: number | string; seq: number | string }>(
      this.db,
      editsToNotifySql(edits, withSubscription),
    );
    return rows.map((r) => ({ ...r, eventId: Number(r.eventId), seq: Number(r.seq) }));
  }

  /**
   * Of these deleted messages, those an open notification covers or that were notified to someone, with their room's
   * type (for the retraction); the others need nothing done.
   */
  async deletionsToHandle(deleted: Deletion[]): Promise<Map<string, string>> {
    if (deleted.length === 0) return new Map();
    const rows = await queryRows<{ messageId: string; roomType: string }>(this.db, deletionsToHandleSql(deleted));
    return new Map(rows.map((r) => [r.messageId, r.roomType]));
  }

  /**
   * The deleted message leaves the open notifications that cover it; one left with no message is dropped. If it was
   * the latest, its preview is blanked at once (a deleted text is kept nowhere) and the worker shows the latest
   * remaining message when the notification leaves. (One older than the ids a notification keeps is not found, and
   * stays counted.) Notifications a worker has already taken are checked again by that worker.
   */
  async removeFromOutbox(tx: Executor, roomId: string, messageId: string, seq: number): Promise<void> {
    const hit = await queryRows<{ id: string }>(
      tx,
      sql`update notification_outbox
          set count = greatest(count - 1, cardinality(array_remove(message_ids, ${messageId}::uuid))),
            message_ids = array_remove(message_ids, ${messageId}::uuid),
            preview = case when last_seq = ${seq} then '' else preview end
          where room_id = ${roomId} and claimed_until is null and ${messageId}::uuid = any(message_ids)
          returning id`,
    );
    if (hit.length === 0) return;
    const ids = hit.map((h) => h.id);
    await tx.execute(
      sql`delete from notification_outbox
          where id = ${anyOf(ids, 'uuid')}
            and claimed_until is null and cardinality(message_ids) = 0`,
    );
  }

  /** The users the message was notified to, each once; forgotten as they are read (a message is retracted once). */
  async takeNotified(tx: Executor, messageId: string): Promise<string[]> {
    const rows = await queryRows<{ user_id: string }>(
      tx,
      sql`delete from notification_sent where message_id = ${messageId} returning user_id`,
    );
    return [...new Set(rows.map((r) => r.user_id))].sort();
  }

  /** Forgets up to `limit` of the records older than `ageMs`: there is no retracting a notification that old. */
  async pruneSent(ageMs: number, limit: number): Promise<number> {
    const rows = await queryRows<{ n: number }>(
      this.db,
      sql`with old as (
            delete from notification_sent where (message_id, user_id, notification_id) in (
              select message_id, user_id, notification_id from notification_sent
              where created_at < now() - ${ageMs}::bigint * interval '1 millisecond'
              order by created_at limit ${limit})
            returning 1)
          select count(*)::int as n from old`,
    );
    return rows[0]?.n ?? 0;
  }
}
