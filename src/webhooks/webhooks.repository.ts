import { sql } from 'drizzle-orm';
import { queryRows, type Db, type Executor } from '../db/client.js';
import { EventLogRepository } from '../event-log/event-log.repository.js';

export interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  secret: string;
  createdBy: string;
  createdAt: Date;
}

export interface DeliveryLogRow {
  id: number;
  eventId: string;
  type: string;
  status: 'pending' | 'delivered' | 'failed';
  lastStatusCode: number | null;
  attempts: number;
  /** null: queued behind an earlier event of its room (it is due once that one is settled). */
  nextAttemptAt: Date | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** The consumer's name in the event log: its registration (and pending rows) live under it, for every instance. */
export const WEBHOOKS_CONSUMER = 'webhooks';
/** Serialises registrations: the consumer's types are the union over every webhook, so writers take turns. */
const REGISTRATION_LOCK = sql`pg_advisory_xact_lock(hashtext('chat:webhooks:registration'))`;

const date = (v: Date | string): Date => new Date(v);
const dateOrNull = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

interface RawWebhook {
  id: string;
  url: string;
  events: string[];
  secret: string;
  created_by: string;
  created_at: Date | string;
}
const toWebhook = (r: RawWebhook): WebhookRow => ({
  id: r.id,
  url: r.url,
  events: r.events,
  secret: r.secret,
  createdBy: r.created_by,
  createdAt: date(r.created_at),
});

export class WebhooksRepository {
  private readonly eventLog: EventLogRepository;

  constructor(private readonly db: Db) {
    this.eventLog = new EventLogRepository(db);
  }

  /**
   * Inserts the webhook and (re)registers the consumer with the union of log types every webhook needs, in one
   * transaction: from its commit on, each writer logs those events.
   */
  async create(row: Omit<WebhookRow, 'createdAt'>, logTypesOf: (events: string[][]) => string[]): Promise<WebhookRow> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select ${REGISTRATION_LOCK}`);
      const [created] = await queryRows<RawWebhook>(
        tx,
        sql`insert into webhook (id, url, events, secret, created_by)
            values (${row.id}, ${row.url}, array(select jsonb_array_elements_text(${JSON.stringify(row.events)}::jsonb)), ${row.secret}, ${row.createdBy})
            returning *`,
      );
      await this.register(
        tx,
        logTypesOf,
        (await queryRows<{ events: string[] }>(tx, sql`select events from webhook`)).map((w) => w.events),
      );
      return toWebhook(created!);
    });
  }

  /** Removes the webhook (its deliveries go with it); the last one gone, the log stops keeping events for webhooks. */
  async delete(id: string, logTypesOf: (events: string[][]) => string[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select ${REGISTRATION_LOCK}`);
      // The registration changes before any webhook row is locked: the consumer handles a batch holding its row (and
      // pending rows) and then writes deliveries, whose foreign key locks the webhook's row. Waiting for the consumer
      // while holding that row deadlocked with it (seen in a bench run).
      const rest = await queryRows<{ events: string[] }>(tx, sql`select events from webhook where id <> ${id}`);
      await this.register(
        tx,
        logTypesOf,
        rest.map((w) => w.events),
      );
      // Its deliveries first, locked in id order: a sender settling one row locks it and then the next of its room (a
      // higher id), so taking them in that same order never deadlocks with it, where the cascade's order is the plan's.
      await tx.execute(
        sql`delete from webhook_delivery where id in (
              select id from webhook_delivery where webhook_id = ${id} order by id for update)`,
      );
      const gone = await queryRows<{ id: string }>(tx, sql`delete from webhook where id = ${id} returning id`);
      return gone.length > 0;
    });
  }

  private async unregister(tx: Executor): Promise<void> {
    await this.eventLog.unregister(WEBHOOKS_CONSUMER, tx);
  }

  /** The consumer follows `all` (every webhook's events), read by position; with none, it is gone. */
  private async register(tx: Executor, logTypesOf: (events: string[][]) => string[], all: string[][]): Promise<void> {
    if (all.length === 0) return this.unregister(tx);
    await this.eventLog.register(WEBHOOKS_CONSUMER, logTypesOf(all), tx, { byPosition: true });
  }

  async list(): Promise<WebhookRow[]> {
    return (await queryRows<RawWebhook>(this.db, sql`select * from webhook order by created_at, id`)).map(toWebhook);
  }

  async exists(id: string): Promise<boolean> {
    return (await queryRows(this.db, sql`select 1 from webhook where id = ${id}`)).length > 0;
  }

  /** Whether any webhook exists: while none does, instances do not read the log or look for deliveries. */
  async any(): Promise<boolean> {
    return (await queryRows(this.db, sql`select 1 from webhook limit 1`)).length > 0;
  }

  /** Newest first, keyset-paged on id. */
  async deliveries(webhookId: string, beforeId: number | null, limit: number): Promise<DeliveryLogRow[]> {
    const rows = await queryRows<{
      id: number | string;
      event_id: string;
      type: string;
      status: DeliveryLogRow['status'];
      last_status_code: number | null;
      attempts: number;
      next_attempt_at: Date | string | null;
      last_error: string | null;
      created_at: Date | string;
      delivered_at: Date | string | null;
    }>(
      this.db,
      sql`select id, event_id, type, status, last_status_code, attempts,
            case when next_attempt_at = 'infinity' then null else next_attempt_at end as next_attempt_at, last_error, created_at, delivered_at
          from webhook_delivery where webhook_id = ${webhookId} ${beforeId === null ? sql`` : sql`and id < ${beforeId}`}
          order by id desc limit ${limit}`,
    );
    return rows.map((r) => ({
      id: Number(r.id),
      eventId: r.event_id,
      type: r.type,
      status: r.status,
      lastStatusCode: r.last_status_code,
      attempts: Number(r.attempts),
      nextAttemptAt: dateOrNull(r.next_attempt_at),
      lastError: r.last_error,
      createdAt: date(r.created_at),
      deliveredAt: dateOrNull(r.delivered_at),
    }));
  }
}
