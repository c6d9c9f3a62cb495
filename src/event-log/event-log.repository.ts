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
 * Where a consumer read by position stands: it has handled every event of its types with an id up to `to`, except
 * those in `gaps`. An id alone would not do: identity values of concurrent transactions commit out of order, so a
 * reader at "id > N" could step over an event that commits later with a smaller id. So each id it passed without a row
 * is kept as a gap, with the `pg_snapshot_xmax` of the read that saw it missing, and looked up again by each read (by
 * primary key) until its row shows (it is read then) or every transaction running at that read has ended (it never
 * will: a rollback). A room's events take their ids under its row lock, in commit order, so one that fills a gap
 * comes before the room's later events.
 */
export interface LogPosition {
  to: number;
  /** JSON `[[id, xmax as seen], …]`, compared as it was read when the position moves. */
  gaps: string;
}

/** One read by position: the events to handle (by id), and where the consumer stands once they are handled. */
export interface PositionRead {
  events: LoggedEvent[];
  from: LogPosition;
  next: LogPosition;
  /** Whether `limit` cut the read short (more events are there to read at once). */
  full: boolean;
}

/**
 * In the WHERE of every insert into domain_event, so it is evaluated before the row's id is taken: the transaction then
 * has its xid before it holds an id. A read that finds that id missing is sure to count the transaction among those
 * running (its xid is below the read's xmax), which is what retiring a gap relies on (LogPosition). An insert after
 * another write of the transaction has one already; this makes it so for an event that is a transaction's first write.
 * (The ids come from a sequence with CACHE 1: an id is taken by the insert that uses it, never ahead of time.)
 */
export const XID_BEFORE_ID = sql`pg_current_xact_id() is not null`;

/** Whether the event `e` (an alias with `id` and `type`) is still to be read by some consumer read by position. */
export const unreadByPosition = (e: SQL): SQL =>
  sql`exists (select 1 from domain_event_consumer c
              where c.read_to is not null and ${e}.type = any(c.types)
                and (${e}.id > c.read_to or c.gaps @> jsonb_build_array(jsonb_build_array(${e}.id))))`;

type PositionRow = EventRow & {
  from_to: number | string | null;
  from_gaps: string | null;
  next_to: number | string | null;
  next_gaps: string | null;
};

/**
 * Read on every wake of a consumer read by position: prepared. One statement, so one snapshot for the events, the
 * ids found missing and the horizon that retires old gaps. Every id the read passes is found by primary key (gaps by
 * `= any`, later ids as a range), whatever the planner knows of the table.
 */
export const READ_BY_POSITION = hotStatement<PositionRow>(
  'event_log_read_by_position',
  ['text', 'int'],
  (consumer, limit) =>
    sql`with c as materialized (
          select read_to, gaps, types from domain_event_consumer where name = ${consumer} and read_to is not null),
        g as materialized (
          select (x->>0)::bigint as id, (x->>1)::xid8 as seen from c, jsonb_array_elements(c.gaps) x),
        filled as materialized (
          select e.id, e.type, e.room_id, e.payload, e.created_at from domain_event e where e.id = any(array(select id from g))),
        fresh as materialized (
          select e.id, e.type, e.room_id, e.payload, e.created_at from domain_event e
          where e.id > (select read_to from c) and e.type = any((select types from c)::text[]) order by e.id limit ${limit}),
        bound as materialized (
          select case when (select count(*) from fresh) >= ${limit} then (select max(id) from fresh)
                      else greatest(c.read_to, (select coalesce(max(id), 0) from domain_event)) end as next_to
          from c),
        -- Both sides by range (an anti join hashed the whole table).
        missing as (
          select generate_series(c.read_to + 1, b.next_to) as id from c, bound b
          except
          select e.id from domain_event e where e.id > (select read_to from c) and e.id <= (select next_to from bound)),
        next_gaps as (
          select coalesce(jsonb_agg(jsonb_build_array(k.id, k.seen::text) order by k.id), '[]'::jsonb) as gaps from (
            select g.id, g.seen from g
            where not exists (select 1 from filled f where f.id = g.id) and g.seen > pg_snapshot_xmin(pg_current_snapshot())
            union all
            select m.id, pg_snapshot_xmax(pg_current_snapshot()) from missing m) k)
        select f.*, null::bigint as from_to, null::text as from_gaps, null::bigint as next_to, null::text as next_gaps
        from filled f, c where f.type = any(c.types)
        union all
        select *, null::bigint, null::text, null::bigint, null::text from fresh
        union all
        select null, null, null, null, null, c.read_to, c.gaps::text, b.next_to, n.gaps::text from c, bound b, next_gaps n`,
);

/** Where a consumer read by position starts: after the last event written, with no gaps. */
const LOG_END = sql`(select coalesce(max(id), 0) from domain_event)`;

/**
 * How the log is read. A consumer either reads it by position (LogPosition: nothing per event but the event itself,
 * and one row moved per batch, in the transaction that writes what the batch needs; one instance at a time moves it),
 * or has its own pending rows (consumer, event_id), written with the event and deleted by the transaction that handles
 * it; that transaction also holds them (FOR UPDATE SKIP LOCKED), so instances share the work without handling the
 * same event twice, and a process that dies mid-way hands its events back when its transaction rolls back. A consumer
 * read by position also has pending rows for the events of a batch it could not handle (`park`).
 */
export class EventLogRepository {
  constructor(private readonly db: Db) {}

  /**
   * Events of these types are logged for the consumer from now on (events written before are not its). In `tx` when
   * given, so what decides the types (the webhooks) commits with them.
   */
  async register(consumer: string, types: string[], tx: Executor = this.db, opts: { byPosition?: boolean } = {}): Promise<void> {
    const list = sql`array(select jsonb_array_elements_text(${JSON.stringify(types)}::jsonb))`;
    await tx.execute(
      opts.byPosition
        ? // A consumer read by position starts at the log's end; registered again, it keeps its place (the types change).
          // One that had pending rows keeps them too: they are handled before anything read by position (LogConsumer).
          sql`insert into domain_event_consumer (name, types, read_to, gaps)
              values (${consumer}, ${list}, ${LOG_END}, '[]')
              on conflict (name) do update set types = excluded.types,
                read_to = coalesce(domain_event_consumer.read_to, excluded.read_to),
                gaps = coalesce(domain_event_consumer.gaps, excluded.gaps)`
        : sql`insert into domain_event_consumer (name, types) values (${consumer}, ${list})
              on conflict (name) do update set types = excluded.types`,
    );
  }

  /**
   * A consumer registered by an earlier version (pending rows) goes on by position from the log's end, as `register`
   * starts one; its pending rows are handled first (LogConsumer). Nothing happens to one read by position, or none.
   */
  async readByPositionFromEnd(consumer: string): Promise<void> {
    await this.db.execute(
      sql`update domain_event_consumer set read_to = ${LOG_END}, gaps = '[]' where name = ${consumer} and read_to is null`,
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
            where ${XID_BEFORE_ID} and exists (
              select 1 from domain_event_consumer c where i.type = any(c.types)
                and not exists (select 1 from refused n where n.ord = i.ord and n.consumer = c.name))
            order by i.ord
            returning id, type, room_id, payload),
          pending as (
            insert into domain_event_pending (consumer, event_id)
            select c.name, l.id from logged l join domain_event_consumer c on l.type = any(c.types)
            where c.read_to is null and not exists (
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

  /** The consumer's next events by position, or null if it is not read by position (see LogPosition). */
  async readByPosition(consumer: string, limit: number): Promise<PositionRead | null> {
    const rows = await READ_BY_POSITION(this.db, [consumer, limit]);
    const cursor = rows.find((r) => r.from_gaps !== null);
    if (!cursor || cursor.from_gaps === null || cursor.next_gaps === null) return null;
    const from = { to: Number(cursor.from_to), gaps: cursor.from_gaps };
    const events = rows
      .filter((r) => r.from_gaps === null)
      .map(toEvent)
      .sort((a, b) => a.id - b.id);
    const full = events.filter((e) => e.id > from.to).length >= limit;
    return { events, from, next: { to: Number(cursor.next_to), gaps: cursor.next_gaps }, full };
  }

  /**
   * Moves the consumer from `from` to `next`, in the caller's transaction, if it still stands at `from`: false when
   * another instance moved it meanwhile (it handled these events; the caller writes nothing). The row stays locked
   * until the caller commits, so what it writes for the batch commits with the move or not at all.
   */
  async advance(tx: Executor, consumer: string, from: LogPosition, next: LogPosition): Promise<boolean> {
    const rows = await queryRows(
      tx,
      sql`update domain_event_consumer set read_to = ${next.to}, gaps = ${next.gaps}::jsonb
          where name = ${consumer} and read_to = ${from.to} and gaps = ${from.gaps}::jsonb
          returning 1`,
    );
    return rows.length === 1;
  }

  /** Gives these events pending rows of the consumer's (in the caller's transaction): handled one by one, as any pending row. */
  async park(tx: Executor, consumer: string, ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await tx.execute(
      sql`insert into domain_event_pending (consumer, event_id)
          select ${consumer}, id from unnest(${`{${ids.join(',')}}`}::bigint[]) as id
          on conflict do nothing`,
    );
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
            select o.id from (select id, type, created_at from domain_event order by id limit ${limit}) o
            where o.created_at < now() - ${ageMs}::int * interval '1 millisecond'
              and not exists (select 1 from domain_event_pending p where p.event_id = o.id)
              and not ${unreadByPosition(sql`o`)})
          returning id`,
    );
    return rows.length;
  }
}
