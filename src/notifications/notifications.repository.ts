import { and, asc, desc, eq, inArray, isNull, notInArray, or, sql } from 'drizzle-orm';
import type { Db, Executor } from '../db/client.js';
import { anyOf, queryRows } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import { notificationDelivery, notificationOutbox, notificationSent, pushSubscription } from '../db/schema.js';
import { newId } from '../ids.js';

export type SubscriptionRow = typeof pushSubscription.$inferSelect;
export type BatchRow = typeof notificationOutbox.$inferSelect;
export type DeliveryRow = typeof notificationDelivery.$inferSelect;

/** Where a notification goes: the webhook (when one is configured), Web Push (when VAPID keys are). */
export interface Targets {
  webhook: boolean;
  push: boolean;
}

/** A message a notification covers, as it is when the notification leaves (deleted ones are not among them). */
export interface CoveredMessage {
  id: string;
  seq: number;
  senderId: string;
  senderName: string | null;
  mentionsRecipient: boolean;
}

export interface RecipientState {
  lastReadSeq: number;
  hidePreviews: boolean;
  unreadCount: number;
  /** The covered messages still there, by seq. */
  messages: CoveredMessage[];
}

/** The latest covered message ids kept per notification; `count` still counts them all. */
export const MAX_MESSAGE_IDS = 20;

export interface Enqueued {
  recipients: Recipient[];
  roomId: string;
  roomType: string;
  messageId: string;
  seq: number;
  senderId: string;
  preview: string;
  mentions: string[];
}

export interface Recipient {
  userId: string;
  /** This recipient set the room to hide previews: their notification carries no message text. */
  hidePreviews: boolean;
}

/**
 * A sent message with who may be notified of it (see `messagesToNotify`). What it shows (preview, mentions) is read
 * through the message presenter, as every reader of messages does.
 */
export interface MessageToNotify {
  messageId: string;
  roomId: string;
  roomType: string;
  seq: number;
  senderId: string;
  candidates: Recipient[];
}

/**
 * Run for every message sent while notifications are on, so prepared (see db/prepared.ts). The ids go in as
 * `= any(array(…))`: as `in (select …)` the planner, taking the list for 100 rows, hashed it against a sequential scan
 * of every message on tables of up to some tens of thousands (7 ms a batch at 6,000 messages, as much database time as
 * the sends themselves); see the plan test in test/sql-plans.test.ts.
 */
export const MESSAGES_TO_NOTIFY = hotStatement<MessageToNotify>(
  'chat_messages_to_notify',
  ['jsonb', 'boolean'],
  (messageIds, withSubscription) =>
    sql`select m.id as "messageId", m.room_id as "roomId", r.type as "roomType", m.seq, m.sender_id as "senderId",
          (select coalesce(jsonb_agg(jsonb_build_object('userId', p.user_id, 'hidePreviews', p.hide_previews)), '[]'::jsonb)
            from chat_participant p
            where p.room_id = m.room_id and p.user_id <> m.sender_id
              and (r.type = 'direct' or not (p.muted and (p.muted_until is null or p.muted_until > now())) or p.user_id = any(m.mentions))
              -- Whoever blocks the sender hears nothing of them, mentions included (moderation/ keeps the blocks).
              and not exists (select 1 from user_block b where b.blocker_id = p.user_id and b.blocked_id = m.sender_id)
              and (not ${withSubscription} or exists (select 1 from push_subscription s where s.user_id = p.user_id))) as candidates
        from chat_message m join chat_room r on r.id = m.room_id
        where m.id = ${anyOf(messageIds, 'uuid')} and m.deleted_at is null
        order by m.room_id, m.seq`,
);

export class NotificationsRepository {
  constructor(private readonly db: Db) {}

  // --- push subscriptions -------------------------------------------------------------------------------------------

  /**
   * Registers an endpoint for the user. The same user again: keys refreshed (created: false). Another user's: the row
   * is replaced (a new id, so deliveries queued for the previous owner go with it).
   */
  async saveSubscription(
    userId: string,
    s: { endpoint: string; p256dh: string; auth: string; expiresAt: Date | null },
    max: number,
  ): Promise<{ row: SubscriptionRow; created: boolean }> {
    return this.db.transaction(async (tx) => {
      const [existing] = await tx.select().from(pushSubscription).where(eq(pushSubscription.endpoint, s.endpoint)).for('update');
      if (existing?.userId === userId) {
        const [row] = await tx
          .update(pushSubscription)
          .set({ p256dh: s.p256dh, auth: s.auth, expiresAt: s.expiresAt, updatedAt: sql`now()` })
          .where(eq(pushSubscription.id, existing.id))
          .returning();
        return { row: row!, created: false };
      }
      if (existing) await tx.delete(pushSubscription).where(eq(pushSubscription.id, existing.id));
      const [row] = await tx
        .insert(pushSubscription)
        .values({ id: newId(), userId, ...s })
        .returning();
      // Browsers re-subscribe over time and never tell us about the old endpoints; keep each user's latest few.
      const keep = tx
        .select({ id: pushSubscription.id })
        .from(pushSubscription)
        .where(eq(pushSubscription.userId, userId))
        .orderBy(desc(pushSubscription.updatedAt), desc(pushSubscription.id))
        .limit(max);
      await tx.delete(pushSubscription).where(and(eq(pushSubscription.userId, userId), notInArray(pushSubscription.id, keep)));
      return { row: row!, created: true };
    });
  }

  listSubscriptions(userId: string): Promise<SubscriptionRow[]> {
    return this.db
      .select()
      .from(pushSubscription)
      .where(eq(pushSubscription.userId, userId))
      .orderBy(asc(pushSubscription.createdAt), asc(pushSubscription.id));
  }

  async deleteSubscription(userId: string, by: { id: string } | { endpoint: string }): Promise<boolean> {
    const match = 'id' in by ? eq(pushSubscription.id, by.id) : eq(pushSubscription.endpoint, by.endpoint);
    const rows = await this.db
      .delete(pushSubscription)
      .where(and(match, eq(pushSubscription.userId, userId)))
      .returning({ id: pushSubscription.id });
    return rows.length > 0;
  }

  /** The push service says the subscription is gone (404/410); its queued deliveries go with it. */
  async forgetSubscription(id: string): Promise<void> {
    await this.db.delete(pushSubscription).where(eq(pushSubscription.id, id));
  }

  async subscriptionsByIds(ids: string[]): Promise<SubscriptionRow[]> {
    if (ids.length === 0) return [];
    return this.db.select().from(pushSubscription).where(inArray(pushSubscription.id, ids));
  }

  // --- gathering ----------------------------------------------------------------------------------------------------

  /**
   * The messages, each with the participants other than the sender who may be notified of it: in a direct room or
   * when mentioned always, otherwise only if the room is not muted for them. `withSubscription`: only users who have a
   * push subscription (when there is no webhook, nobody else could be reached). One statement for a whole batch of
   * events; messages gone since (their room deleted) are absent.
   */
  async messagesToNotify(messageIds: string[], withSubscription: boolean): Promise<MessageToNotify[]> {
    if (messageIds.length === 0) return [];
    return MESSAGES_TO_NOTIFY(this.db, [JSON.stringify(messageIds), withSubscription]);
  }

  /**
   * The message joins each recipient's open notification for the room, or opens one. A message already in it (an edit
   * that newly mentions the recipient) is not counted twice; it only makes the notification a mention.
   */
  async enqueue(tx: Executor, e: Enqueued): Promise<void> {
    if (e.recipients.length === 0) return;
    const t = notificationOutbox;
    // The same message again (an edit) is as new as it was, and its preview is now the edited text.
    const newer = sql`excluded.last_seq >= ${t.lastSeq}`;
    const present = sql`${t.messageIds} @> excluded.message_ids`;
    await tx
      .insert(t)
      .values(
        e.recipients.map(({ userId, hidePreviews }) => ({
          id: newId(),
          userId,
          roomId: e.roomId,
          roomType: e.roomType,
          mentioned: e.mentions.includes(userId),
          messageIds: [e.messageId],
          lastSeq: e.seq,
          senderId: e.senderId,
          preview: hidePreviews ? '' : e.preview,
        })),
      )
      .onConflictDoUpdate({
        target: [t.userId, t.roomId],
        targetWhere: sql`${t.claimedUntil} is null`,
        set: {
          count: sql`${t.count} + case when ${present} then 0 else 1 end`,
          mentioned: sql`${t.mentioned} or excluded.mentioned`,
          messageIds: sql`case when ${present} then ${t.messageIds}
            else (${t.messageIds} || excluded.message_ids)[greatest(1, cardinality(${t.messageIds}) + 2 - ${MAX_MESSAGE_IDS}::int):] end`,
          // Events are handled in batches by several instances, not in seq order: the latest message has the highest seq.
          lastSeq: sql`greatest(${t.lastSeq}, excluded.last_seq)`,
          senderId: sql`case when ${newer} then excluded.sender_id else ${t.senderId} end`,
          preview: sql`case when ${newer} then excluded.preview else ${t.preview} end`,
        },
      });
  }

  // --- leaving ------------------------------------------------------------------------------------------------------

  /** Takes due notifications (their window has passed, or the worker that took them let its claim expire). */
  async claimBatches(coalesceMs: number, leaseMs: number, limit: number): Promise<BatchRow[]> {
    const t = notificationOutbox;
    const due = this.db
      .select({ id: t.id })
      .from(t)
      .where(
        or(
          and(isNull(t.claimedUntil), sql`${t.firstAt} <= now() - ${coalesceMs}::int * interval '1 millisecond'`),
          sql`${t.claimedUntil} < now()`,
        ),
      )
      .orderBy(asc(t.firstAt))
      .limit(limit)
      .for('update', { skipLocked: true });
    return this.db
      .update(t)
      .set({ claimedUntil: sql`now() + ${leaseMs}::int * interval '1 millisecond'` })
      .where(inArray(t.id, due))
      .returning();
  }

  /**
   * What the notification says at the moment it leaves; undefined if the recipient is no longer in the room. Unread
   * does not count deleted messages (the partial index on deleted messages finds them: usually none).
   */
  async recipientState(batch: BatchRow): Promise<RecipientState | undefined> {
    const [state] = await queryRows<{ lastReadSeq: number | string; hidePreviews: boolean; unreadCount: number }>(
      this.db,
      sql`select p.last_read_seq as "lastReadSeq", p.hide_previews as "hidePreviews",
            greatest(0, r.last_seq - p.last_read_seq - (select count(*) from chat_message d
              where d.room_id = p.room_id and d.deleted_at is not null and d.seq > p.last_read_seq))::int as "unreadCount"
          from chat_participant p join chat_room r on r.id = p.room_id
          where p.room_id = ${batch.roomId} and p.user_id = ${batch.userId}`,
    );
    if (!state) return undefined;
    const messages = await queryRows<CoveredMessage & { seq: number | string }>(
      this.db,
      sql`select m.id, m.seq, m.sender_id as "senderId", u.name as "senderName", ${batch.userId} = any(m.mentions) as "mentionsRecipient"
          from chat_message m left join chat_user u on u.id = m.sender_id
          where m.id = ${anyOf(batch.messageIds, 'uuid')} and m.deleted_at is null
          order by m.seq`,
    );
    return { ...state, lastReadSeq: Number(state.lastReadSeq), messages: messages.map((m) => ({ ...m, seq: Number(m.seq) })) };
  }

  /** A notification that will not be sent (recipient back online, already read, left the room). */
  async dropBatch(batch: BatchRow): Promise<void> {
    await this.db
      .delete(notificationOutbox)
      .where(and(eq(notificationOutbox.id, batch.id), eq(notificationOutbox.claimedUntil, batch.claimedUntil!)));
  }

  /**
   * Turns a taken notification into one delivery per target, due now, in one transaction, and records which users its
   * messages were notified to. The messages it names are checked again under a share lock: a delete either waits for
   * this commit (and then finds the notification recorded, to retract it) or has already taken a message away
   * ('changed': the caller looks again). 'lost': this worker's claim expired and another took the row (it sends it).
   */
  async release(batch: BatchRow, messageIds: string[], payload: string, targets: Targets): Promise<'released' | 'changed' | 'lost'> {
    return this.db.transaction(async (tx) => {
      const still = await queryRows<{ id: string }>(
        tx,
        sql`select id from chat_message
            where id = ${anyOf(messageIds, 'uuid')} and deleted_at is null
            order by id for share`,
      );
      if (still.length !== messageIds.length) return 'changed';
      const gone = await tx
        .delete(notificationOutbox)
        .where(and(eq(notificationOutbox.id, batch.id), eq(notificationOutbox.claimedUntil, batch.claimedUntil!)))
        .returning({ id: notificationOutbox.id });
      if (gone.length === 0) return 'lost';
      await this.queueDeliveries(tx, [{ userId: batch.userId, notificationId: batch.id, payload }], targets);
      await tx
        .insert(notificationSent)
        .values(messageIds.map((messageId) => ({ messageId, userId: batch.userId, notificationId: batch.id })))
        .onConflictDoNothing();
      return 'released';
    });
  }

  /** One delivery per target of each notification, due now: the webhook, and each user's live push subscriptions. */
  async queueDeliveries(
    tx: Executor,
    notes: Array<{ userId: string; notificationId: string; payload: string }>,
    targets: Targets,
  ): Promise<number> {
    const s = pushSubscription;
    const subs = targets.push
      ? await tx
          .select({ id: s.id, userId: s.userId })
          .from(s)
          .where(and(inArray(s.userId, [...new Set(notes.map((n) => n.userId))]), or(isNull(s.expiresAt), sql`${s.expiresAt} > now()`)))
      : [];
    const rows: Array<typeof notificationDelivery.$inferInsert> = [];
    for (const { userId, notificationId, payload } of notes) {
      if (targets.webhook) rows.push({ id: newId(), notificationId, channel: 'webhook', payload });
      for (const sub of subs)
        if (sub.userId === userId) rows.push({ id: newId(), notificationId, channel: 'push', subscriptionId: sub.id, payload });
    }
    if (rows.length) await tx.insert(notificationDelivery).values(rows);
    return rows.length;
  }

  /** Takes due deliveries; the lease keeps other workers off them while this one sends (and expires if it dies). */
  async claimDeliveries(leaseMs: number, limit: number): Promise<DeliveryRow[]> {
    if (limit <= 0) return [];
    const d = notificationDelivery;
    const due = this.db
      .select({ id: d.id })
      .from(d)
      .where(sql`${d.nextAttemptAt} <= now()`)
      .orderBy(asc(d.nextAttemptAt))
      .limit(limit)
      .for('update', { skipLocked: true });
    return this.db
      .update(d)
      .set({ attempts: sql`${d.attempts} + 1`, nextAttemptAt: sql`now() + ${leaseMs}::int * interval '1 millisecond'` })
      .where(inArray(d.id, due))
      .returning();
  }

  async deleteDelivery(id: string): Promise<void> {
    await this.db.delete(notificationDelivery).where(eq(notificationDelivery.id, id));
  }

  /** `refund`: the attempt was cut short by our own shutdown and does not count. */
  async retryDelivery(id: string, delayMs: number, refund = false): Promise<void> {
    const d = notificationDelivery;
    await this.db
      .update(d)
      .set({
        nextAttemptAt: sql`now() + ${Math.round(delayMs)}::int * interval '1 millisecond'`,
        ...(refund ? { attempts: sql`greatest(${d.attempts} - 1, 0)` } : {}),
      })
      .where(eq(d.id, id));
  }

  /** Milliseconds until the next thing falls due (by the database's clock), or null when nothing is queued. */
  async nextDueInMs(coalesceMs: number): Promise<number | null> {
    const [row] = await queryRows<{ ms: number | null }>(
      this.db,
      sql`select (extract(epoch from least(
            (select min(first_at) from notification_outbox where claimed_until is null) + ${coalesceMs}::int * interval '1 millisecond',
            (select min(claimed_until) from notification_outbox where claimed_until is not null),
            (select min(next_attempt_at) from notification_delivery)
          ) - now()) * 1000)::float8 as ms`,
    );
    return row?.ms ?? null;
  }
}
