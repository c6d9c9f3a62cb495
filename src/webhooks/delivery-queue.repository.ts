import { sql, type SQL } from 'drizzle-orm';
import { anyOf, queryRows, type Db, type Executor } from '../db/client.js';
import { WEBHOOKS_CONSUMER } from './webhooks.repository.js';

/*
 * The delivery queue: one row per (webhook, event), in a queue per (webhook, room) whose head alone is due. The
 * consumer inserts, the sender claims, attempts and settles; webhooks.repository.ts keeps the webhooks themselves and
 * reads the queue as the deliveries log.
 */

/** A delivery taken for one attempt, with where it goes. `attempts` counts this one. */
export interface ClaimedDelivery {
  id: number;
  webhookId: string;
  roomId: string | null;
  eventId: string;
  body: string;
  attempts: number;
  createdAt: Date;
  url: string;
  secret: string;
}

/** An attempt's end: delivered (2xx), or given up after the retry period. */
export interface SettledDelivery {
  delivery: ClaimedDelivery;
  delivered: boolean;
  statusCode: number | null;
  error?: string;
  /** The row the same run attempts next, if any: it stays the run's, not handed over (migration 0015). */
  next?: number;
}

/** One row the consumer writes: an event for one webhook, its body fixed for every attempt. */
export interface NewDelivery {
  webhookId: string;
  eventId: string;
  type: string;
  roomId: string | null;
  body: string;
}

/**
 * One (webhook, room) queue: inserting behind its last row and settling a head that looked last take turns (the
 * settle's side is in migration 0010, webhook_settle; it waits only when the queue looked empty). The key is the
 * migration's webhook_queue_lock_key, which both sides call.
 */
const QUEUE_LOCK = (webhookId: SQL, roomId: SQL) => sql`pg_advisory_xact_lock(webhook_queue_lock_key(${webhookId}, ${roomId}))`;

/**
 * `d` heads its (webhook, room) queue: no pending row of the queue comes before it. "=" and "is null" apart, not "is
 * not distinct from": only these two reach the queue index, so a look does not read every pending row of the webhook
 * (with a backlog, claims slowed as it grew, and a repair took 24 s against 10,000 queued rows).
 */
const HEADS_ITS_QUEUE = (d: SQL) =>
  sql`not exists (select 1 from webhook_delivery o
                  where o.webhook_id = ${d}.webhook_id and o.room_id = ${d}.room_id and o.status = 'pending' and o.id < ${d}.id)
      and not (${d}.room_id is null and exists (select 1 from webhook_delivery o
                  where o.webhook_id = ${d}.webhook_id and o.room_id is null and o.status = 'pending' and o.id < ${d}.id))`;

const date = (v: Date | string): Date => new Date(v);

interface RawClaimed {
  id: number | string;
  webhook_id: string;
  room_id: string | null;
  event_id: string;
  body: string;
  attempts: number;
  created_at: Date | string;
  url: string;
  secret: string;
}
const toClaimed = (r: RawClaimed): ClaimedDelivery => ({
  id: Number(r.id),
  webhookId: r.webhook_id,
  roomId: r.room_id,
  eventId: r.event_id,
  body: r.body,
  attempts: Number(r.attempts),
  createdAt: date(r.created_at),
  url: r.url,
  secret: r.secret,
});
export class DeliveryQueueRepository {
  constructor(private readonly db: Db) {}

  /** Which log events of these rooms, older than the given id, are still pending for the webhooks (held by another transaction). */
  async olderPending(tx: Executor, firstByRoom: Map<string, number>): Promise<boolean> {
    if (firstByRoom.size === 0) return false;
    const rows = await queryRows(
      tx,
      sql`select 1 from jsonb_each_text(${JSON.stringify(Object.fromEntries(firstByRoom))}::jsonb) f(room_id, first_id)
          where exists (select 1 from domain_event_pending p join domain_event e on e.id = p.event_id
                        where p.consumer = ${WEBHOOKS_CONSUMER} and p.event_id < f.first_id::bigint and e.room_id = f.room_id::uuid)
          limit 1`,
    );
    return rows.length > 0;
  }

  /**
   * In the transaction that takes the events; a webhook deleted meanwhile gets nothing, a repeat nothing twice. A row
   * behind a pending one of its (webhook, room) is queued with next_attempt_at = infinity, out of the due index's
   * range, so a claim never walks a dead receiver's backlog; settling the one before it makes it due (`settle`). The
   * queue's lock keeps that hand-over and this insert from missing each other.
   */
  async insertDeliveries(tx: Executor, rows: NewDelivery[]): Promise<number> {
    if (rows.length === 0) return 0;
    const input = JSON.stringify(rows.map((r, ord) => ({ ...r, ord })));
    await tx.execute(
      sql`select ${QUEUE_LOCK(sql`q."webhookId"`, sql`q."roomId"`)} from (
            select distinct "webhookId", "roomId" from jsonb_to_recordset(${input}::jsonb) as i("webhookId" uuid, "roomId" uuid)
            order by 1, 2) q`,
    );
    const inserted = await queryRows(
      tx,
      sql`insert into webhook_delivery (webhook_id, event_id, type, room_id, body, next_attempt_at)
          select i."webhookId", i."eventId", i.type, i."roomId", i.body,
            case when row_number() over (partition by i."webhookId", i."roomId" order by i.ord) = 1
                   and not exists (select 1 from webhook_delivery o where o.webhook_id = i."webhookId"
                                   and o.room_id = i."roomId" and o.status = 'pending')
                   and not (i."roomId" is null and exists (select 1 from webhook_delivery o where o.webhook_id = i."webhookId"
                                   and o.room_id is null and o.status = 'pending'))
                 then now() else 'infinity'::timestamptz end
          from jsonb_to_recordset(${input}::jsonb)
            as i(ord int, "webhookId" uuid, "eventId" text, type text, "roomId" uuid, body text)
          join webhook w on w.id = i."webhookId"
          order by i.ord
          on conflict (webhook_id, event_id) do nothing
          returning id`,
    );
    return inserted.length;
  }

  /**
   * Takes due deliveries for one attempt each: only the oldest pending row of each (webhook, room) (so a room's events
   * leave in order), not held by a live lease, at most `perWebhook[w]` of webhook w and `limit` in all. The lease
   * (`locked_until`) outlives the attempt, so a crashed instance's rows are taken again when it runs out.
   */
  async claim(limit: number, perWebhook: number, busy: Record<string, number>, leaseMs: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    const rows = await queryRows<RawClaimed>(
      this.db,
      sql`with due as (
            select d.id, d.webhook_id, d.next_attempt_at from webhook_delivery d
            where d.status = 'pending' and d.next_attempt_at <= now() and (d.locked_until is null or d.locked_until <= now())
              and ${HEADS_ITS_QUEUE(sql`d`)}
            order by d.next_attempt_at, d.id
            limit ${limit * 4}
            for update of d skip locked),
          ranked as (
            select id, row_number() over (partition by webhook_id order by next_attempt_at, id) as n,
              ${perWebhook} - coalesce((${JSON.stringify(busy)}::jsonb ->> webhook_id::text)::int, 0) as free
            from due),
          chosen as (select id from ranked where n <= free order by id limit ${limit})
          update webhook_delivery d set locked_until = now() + ${leaseMs}::int * interval '1 millisecond', attempts = d.attempts + 1
          from chosen c, webhook w
          where d.id = c.id and w.id = d.webhook_id
          returning d.id, d.webhook_id, d.room_id, d.event_id, d.body, d.attempts, d.created_at, w.url, w.secret`,
    );
    return rows.map(toClaimed);
  }

  /**
   * Takes, behind each claimed head, up to `perQueue` of the rows queued after it in its (webhook, room), in order and
   * under the same lease, so a busy room's events go out back to back without a claim each. Only rows that directly
   * follow the head are taken (a row already leased breaks the run), and in id order, as settle locks them. Their
   * `attempts` is the number their attempt will carry; it is written when the attempt ends (settle, retryLater,
   * release), so the deliveries log never counts an attempt a run did not get to.
   */
  async claimFollowers(heads: ClaimedDelivery[], perQueue: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    if (heads.length === 0 || perQueue <= 0) return [];
    const input = JSON.stringify(heads.map((h) => ({ id: h.id, webhookId: h.webhookId, roomId: h.roomId })));
    const rows = await queryRows<RawClaimed>(
      this.db,
      sql`with h as (select * from jsonb_to_recordset(${input}::jsonb) as h(id bigint, "webhookId" uuid, "roomId" uuid)),
          queued as (
            select f.id, f.locked_until, h."webhookId", h."roomId" from h cross join lateral (
              select n.id, n.locked_until from webhook_delivery n
              where n.webhook_id = h."webhookId" and n.room_id = h."roomId" and n.status = 'pending' and n.id > h.id
              order by n.id limit ${perQueue}) f
            where h."roomId" is not null
            union all
            select f.id, f.locked_until, h."webhookId", h."roomId" from h cross join lateral (
              select n.id, n.locked_until from webhook_delivery n
              where n.webhook_id = h."webhookId" and n.room_id is null and n.status = 'pending' and n.id > h.id
              order by n.id limit ${perQueue}) f
            where h."roomId" is null),
          -- A run ends at its queue's first row under a lease; found once per queue (a window), not once per row.
          runs as (
            select id, locked_until,
              min(id) filter (where locked_until > now()) over (partition by "webhookId", "roomId") as first_leased
            from queued),
          free as (
            select r.id from runs r join webhook_delivery d on d.id = r.id
            where (r.locked_until is null or r.locked_until <= now()) and (r.first_leased is null or r.id < r.first_leased)
            order by r.id for update of d)
          update webhook_delivery d set locked_until = now() + ${leaseMs}::int * interval '1 millisecond'
          from free f, webhook w
          where d.id = f.id and w.id = d.webhook_id
          returning d.id, d.webhook_id, d.room_id, d.event_id, d.body, d.attempts + 1 as attempts, d.created_at, w.url, w.secret`,
    );
    return rows.map(toClaimed).sort((a, b) => a.id - b.id);
  }

  /**
   * Rows taken but never tried (a run cut short before them): free again, and the first of them due now if it heads
   * its queue (the row before it settled: a settle that names its run's next row leaves that row queued, see
   * `settle`); behind a row that waits for its retry, they stay queued. Locked in id order first, as removing a
   * webhook and settling lock them: updated in the plan's order (a sequential scan follows where updates left the
   * rows), it deadlocked with a webhook's removal, and the removal could be the one PostgreSQL cancelled (a 500).
   */
  async unclaim(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.execute(
      sql`update webhook_delivery d set locked_until = null,
            next_attempt_at = case when d.next_attempt_at = 'infinity' and ${HEADS_ITS_QUEUE(sql`d`)} then now() else d.next_attempt_at end
          where d.id in (select id from webhook_delivery
                         where id = ${anyOf(ids, 'bigint')}
                         order by id for update)`,
    );
  }

  /**
   * Settles attempts in one statement (the function webhook_settle, migrations 0010 and 0015): each row leaves the
   * queue as `delivered` or `failed` (given up). A row settled with its run's `next` hands nothing over: the run
   * attempts that row next, under its lease (or `unclaim` hands it over). For the others the next of each (webhook,
   * room) is due now. The rows are locked in id order, as removing a webhook locks them; a queue's lock is taken only
   * when no next row was found (see QUEUE_LOCK).
   */
  async settle(done: SettledDelivery[]): Promise<void> {
    if (done.length === 0) return;
    const input = JSON.stringify(
      done.map((s) => ({
        id: s.delivery.id,
        attempts: s.delivery.attempts,
        webhookId: s.delivery.webhookId,
        roomId: s.delivery.roomId,
        delivered: s.delivered,
        statusCode: s.statusCode,
        error: s.delivered ? null : (s.error ?? '').slice(0, 500),
        next: s.next ?? null,
      })),
    );
    // One round trip (migration 0010): a room's next event waits for this, so its pace is set by it under load.
    await this.db.execute(sql`select webhook_settle(${input}::jsonb)`);
  }

  /** Another attempt in `delayMs`; the row stays the head of its room's queue. `attempts`: the one that just ended. */
  async retryLater(id: number, attempts: number, statusCode: number | null, error: string, delayMs: number): Promise<void> {
    await this.db.execute(
      sql`update webhook_delivery set last_status_code = ${statusCode}, last_error = ${error.slice(0, 500)}, locked_until = null,
            attempts = greatest(attempts, ${attempts}::int),
            next_attempt_at = now() + ${Math.round(delayMs)}::int * interval '1 millisecond'
          where id = ${id}`,
    );
  }

  /**
   * A queued row whose head is gone without handing over (a row removed by other means): due again. Scans the queued
   * rows, so it runs rarely (with the prune).
   */
  async repairQueues(): Promise<number> {
    const rows = await queryRows(
      this.db,
      // Locked in id order, as every statement that takes several of these rows (see unclaim).
      sql`update webhook_delivery set next_attempt_at = now()
          where id in (select d.id from webhook_delivery d
            where d.status = 'pending' and d.next_attempt_at = 'infinity'
              -- A run's next row under its live lease is the run's to attempt (see settle); once the lease has run out
              -- (its instance died), it is anyone's.
              and (d.locked_until is null or d.locked_until <= now())
              and ${HEADS_ITS_QUEUE(sql`d`)}
            order by d.id for update of d)
          returning id`,
    );
    return rows.length;
  }

  /** An attempt cut short by a shutdown: due again at once, for any instance (the attempt stays counted). */
  async release(id: number, attempts: number): Promise<void> {
    await this.db.execute(
      sql`update webhook_delivery set locked_until = null, next_attempt_at = now(), attempts = greatest(attempts, ${attempts}::int)
          where id = ${id}`,
    );
  }

  /** Deletes up to `limit` of the oldest settled deliveries older than `ageMs` (by id, the primary key). */
  async prune(ageMs: number, limit: number): Promise<number> {
    const rows = await queryRows(
      this.db,
      // Locked in id order, as every statement that takes several of these rows (see unclaim).
      sql`delete from webhook_delivery where id in (
            select d.id from webhook_delivery d where d.id in (
              select o.id from (select id, status, created_at from webhook_delivery order by id limit ${limit}) o
              where o.status <> 'pending' and o.created_at < now() - ${ageMs}::bigint * interval '1 millisecond')
            order by d.id for update of d)
          returning id`,
    );
    return rows.length;
  }
}
