import { sql, type SQL } from 'drizzle-orm';
import { anyOf, queryRows, type Db, type Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';

/** One event as consumers read it. */
export interface LoggedEvent {
  id: number;
  type: string;
  roomId: string | null;
  payload: Record<string, unknown>;
  createdAt: Date;
}

interface EventRow {
  id: number;
  type: string;
  room_id: string | null;
  payload: Record<string, unknown> | string;
  created_at: Date | string;
}

const toEvent = (r: EventRow): LoggedEvent => ({
  id: Number(r.id),
  type: r.type,
  roomId: r.room_id,
  payload: typeof r.payload === 'string' ? (JSON.parse(r.payload) as Record<string, unknown>) : r.payload,
  createdAt: new Date(r.created_at),
});

/** Run for every message sent while a consumer listens (peek and done, at low rates once per event): prepared. */
const PEEK = hotStatement<EventRow>(
  'event_log_peek',
  ['text', 'int'],
  (consumer, limit) =>
    sql`select e.id, e.type, e.room_id, e.payload, e.created_at from domain_event_pending p join domain_event e on e.id = p.event_id
        where p.consumer = ${consumer} order by p.event_id limit ${limit}`,
);
/**
 * Deletes those of the consumer's pending rows among `ids` (a jsonb array) that no other transaction holds (a rollback
 * puts them back): the take of a transaction that handles them, or the marking of events that needed nothing written.
 * The rows locked are deleted by their `ctid` (a TID scan, whatever the statistics say), not by a semi join back to the
 * table: with statistics that took a backlog of thousands for one row, that join read the locked set once per pending
 * row (2.2 s for one take, found by auto_explain in a quick bench run on PostgreSQL).
 */
export const DONE = hotStatement<{ event_id: number }>(
  'event_log_done',
  ['text', 'jsonb'],
  (consumer, ids) =>
    sql`with mine as materialized (
          select ctid from domain_event_pending
          where consumer = ${consumer} and event_id = ${anyOf(ids, 'bigint')}
          for update skip locked)
        delete from domain_event_pending where ctid = any(array(select ctid from mine))
        returning event_id`,
);

/**
 * Registered instead of `message.created` (or beside it: it narrows it), a consumer is fed a sent message only when its
 * room has a participant with a push subscription, or more than PUSHABLE_SCAN participants (those are not looked
 * through: a send into a room of thousands must not probe each). The notifications with Web Push alone register it: nobody else in such a room could
 * be sent one, and most sends then write no event at all (the event, its pending row and the consumer's reads cost a
 * tenth of the service's core in a steady fan-out; measured 2026-12-06). A subscription made after a message was sent
 * does not bring that message a notification. The send statement decides it per room (messages/write.statements.ts).
 */
export const MESSAGE_CREATED_PUSHABLE = 'message.created@push';
const PUSHABLE_SCAN = 64;

/** Whether the room `roomId` (SQL) has a participant with a push subscription, or more than PUSHABLE_SCAN participants. */
export const pushableRoom = (roomId: SQL): SQL =>
  sql`(select count(*) > ${sql.raw(String(PUSHABLE_SCAN))}
         or coalesce(bool_or(exists (select 1 from push_subscription s where s.user_id = p.user_id)), false)
       from (select user_id from chat_participant where room_id = ${roomId} limit ${sql.raw(String(PUSHABLE_SCAN + 1))}) p)`;

/** An event as SQL inside the append statement: its type (text), room (uuid) and payload (jsonb). */
export interface LoggedColumns {
  type: SQL;
  roomId: SQL;
  payload: SQL;
}

/** A consumer that needs events of one type only when `when` holds, asked in the statement that writes them. */
export interface LogNarrowing {
  consumer: string;
  type: string;
  when: (e: LoggedColumns) => SQL;
}

const narrowings = new Map<string, LogNarrowing>();

/**
 * Registered by the feature that owns the consumer, when it is built (one per consumer and type; the same one again
 * replaces it). The condition runs in the writer's transaction: it must not miss work the consumer could still be
 * given by an event it has not handled yet.
 */
export function narrowLog(n: LogNarrowing): void {
  narrowings.set(`${n.consumer}\u0000${n.type}`, n);
}

/**
 * The (consumer, event) pairs a narrowing refuses, over the statement's `input`, once per statement. A narrowing decides
 * from an event's type, room and payload alone, so `pending` finds the logged rows it refused by those. Only the
 * narrowings of types in the batch are asked: the others would only make the plan look dear (PostgreSQL compiled a
 * plan with per-consumer subqueries just in time, at about 0.5 s per statement).
 */
function refusals(events: NewEvent[]): SQL {
  const types = new Set(events.map((e) => e.type));
  const parts = [...narrowings.values()]
    .filter((n) => types.has(n.type))
    .map(
      (n) =>
        // Asked only while that consumer listens to the type (a one-time check): otherwise it takes nothing anyway.
        sql`select ${n.consumer}::text as consumer, i.ord, i.type, i."roomId" as room_id, i.payload from input i
            where i.type = ${n.type}
              and exists (select 1 from domain_event_consumer c where c.name = ${n.consumer} and ${n.type} = any(c.types))
              and not ${n.when({ type: sql`i.type`, roomId: sql`i."roomId"`, payload: sql`i.payload` })}`,
    );
  return parts.length
    ? sql.join(parts, sql` union all `)
    : sql`select null::text as consumer, null::int as ord, null::text as type, null::uuid as room_id, null::jsonb as payload where false`;
}

export interface NewEvent {
  type: string;
  roomId: string | null;
  payload: Record<string, unknown>;
}

/**
 * How the log is read. Each consumer has its own pending rows (consumer, event_id), written with the event and deleted
 * by the transaction that handles it; that transaction also holds them (FOR UPDATE SKIP LOCKED), so instances share
 * the work without handling the same event twice, and a process that dies mid-way hands its events back when its
 * transaction rolls back. There is no "last position" per consumer: identity values of concurrent transactions commit
 * out of order, so a reader at "id > N" could step over an event that commits later with a smaller id.
 */
export class EventLogRepository {
  constructor(private readonly db: Db) {}

  /**
   * Events of these types are logged for the consumer from now on (events written before are not its). In `tx` when
   * given, so what decides the types (the webhooks) commits with them.
   */
  async register(consumer: string, types: string[], tx: Executor = this.db): Promise<void> {
    await tx.execute(
      sql`insert into domain_event_consumer (name, types) values (${consumer}, array(select jsonb_array_elements_text(${JSON.stringify(types)}::jsonb)))
          on conflict (name) do update set types = excluded.types`,
    );
  }

  /** The consumer stops being fed, and what it had still to handle is forgotten (in `tx` when given). */
  async unregister(consumer: string, tx?: Executor): Promise<void> {
    const forget = async (t: Executor) => {
      await t.execute(sql`delete from domain_event_consumer where name = ${consumer}`);
      await t.execute(sql`delete from domain_event_pending where consumer = ${consumer}`);
    };
    await (tx ? forget(tx) : this.db.transaction(forget));
  }

  /**
   * Writes events inside the caller's transaction, with a pending row for each consumer listening to their type, unless
   * a narrowing (narrowLog) says the consumer does not need that one; an event no consumer takes is not written. (The
   * send statement does the same in its own SQL, see messages/write.statements.ts; nothing narrows `message.created`.)
   */
  async append(tx: Executor, events: NewEvent[]): Promise<number[]> {
    if (events.length === 0) return [];
    const rows = await queryRows<{ id: number }>(
      tx,
      sql`with input as (
            select * from jsonb_to_recordset(${JSON.stringify(events.map((e, ord) => ({ ...e, ord })))}::jsonb)
              as i(ord int, type text, "roomId" uuid, payload jsonb)),
          refused as materialized (${refusals(events)}),
          logged as (
            insert into domain_event (type, room_id, payload)
            select i.type, i."roomId", i.payload from input i
            where exists (
              select 1 from domain_event_consumer c where i.type = any(c.types)
                and not exists (select 1 from refused n where n.ord = i.ord and n.consumer = c.name))
            order by i.ord
            returning id, type, room_id, payload),
          pending as (
            insert into domain_event_pending (consumer, event_id)
            select c.name, l.id from logged l join domain_event_consumer c on l.type = any(c.types)
            where not exists (
              select 1 from refused n where n.consumer = c.name and n.type = l.type
                and n.room_id is not distinct from l.room_id and n.payload = l.payload))
          select id from logged order by id`,
    );
    return rows.map((r) => Number(r.id));
  }

  /**
   * Up to `limit` of the consumer's pending events, oldest first, without taking them: the handler reads what it needs
   * outside a transaction, then takes them (`take`). `only`: just these (a batch that failed, retried one by one).
   */
  async peek(consumer: string, limit: number, only?: number[]): Promise<LoggedEvent[]> {
    const rows = only
      ? await queryRows<EventRow>(
          this.db,
          sql`select e.id, e.type, e.room_id, e.payload, e.created_at from domain_event_pending p join domain_event e on e.id = p.event_id
              where p.consumer = ${consumer} and p.event_id = ${anyOf(only, 'bigint')}
              order by p.event_id limit ${limit}`,
        )
      : await PEEK(this.db, [consumer, limit]);
    return rows.map(toEvent);
  }

  /**
   * Inside the caller's transaction: takes those of these events still pending for the consumer and not held by
   * another transaction, deleting their pending rows (a rollback puts them back). Returns the ids taken.
   */
  async take(tx: Executor, consumer: string, ids: number[]): Promise<Set<number>> {
    if (ids.length === 0) return new Set();
    const rows = await DONE(tx, [consumer, JSON.stringify(ids)]);
    return new Set(rows.map((r) => Number(r.event_id)));
  }

  /** Marks events handled that needed nothing written (no transaction to share); one held by a transaction is left to it. */
  async done(consumer: string, ids: number[]): Promise<void> {
    if (ids.length) await DONE(this.db, [consumer, JSON.stringify(ids)]);
  }

  /**
   * Deletes up to `limit` of the oldest events that every consumer has handled, if older than `ageMs`. Only the
   * `limit` lowest ids are looked at (the primary key, no other index on the hot insert path): the oldest events are
   * there, and one still pending among them only leaves itself behind.
   */
  async prune(ageMs: number, limit: number): Promise<number> {
    const rows = await queryRows<{ id: number }>(
      this.db,
      sql`delete from domain_event where id in (
            select o.id from (select id, created_at from domain_event order by id limit ${limit}) o
            where o.created_at < now() - ${ageMs}::int * interval '1 millisecond'
              and not exists (select 1 from domain_event_pending p where p.event_id = o.id))
          returning id`,
    );
    return rows.length;
  }
}
