import { sql } from 'drizzle-orm';
import { ROOM_TYPES, type RetentionConfig } from '../config/retention.js';
import { queryRows, type Db, type Executor } from '../db/client.js';
import type { Log } from '../log.js';
import type { MessageChangesService, TombstoneBatch } from '../messages/index.js';
import { BACKGROUND_SHARE, restAfter, sleep } from '../timers.js';

/** Rooms looked at per pass. */
const ROOMS_PER_PASS = 50;

/** Days per room type as SQL: the cutoff of a room of type `type` (null: kept forever). */
function cutoff(days: RetentionConfig['days'], type: SQL): SQL {
  const cases = ROOM_TYPES.filter((t) => days[t] !== undefined).map((t) => sql`when ${t} then now() - ${days[t]!}::int * interval '1 day'`);
  return cases.length ? sql`(case ${type} ${sql.join(cases, sql` `)} end)` : sql`null::timestamptz`;
}
type SQL = ReturnType<typeof sql>;

/**
 * Retention: on every instance, a loop turns messages older than the room type's limit into tombstones (deleted by
 * "system"), room by room, in small batches. chat_room.retained_through_seq is each room's cursor: every message up to
 * it is done, so a batch reads from just above it (seqs are dense) and stops at the first message young enough to
 * keep. Instances share the work without doing it twice: a batch holds the room's retention advisory lock (tried,
 * never waited for) for its one short transaction; the room row itself is locked only by the batch's tombstone
 * statement, as long as a delete holds it, so sends wait at most for one batch.
 */
export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly changes: MessageChangesService,
    private readonly cfg: RetentionConfig,
  ) {}

  get enabled(): boolean {
    return ROOM_TYPES.some((t) => this.cfg.days[t] !== undefined);
  }

  start(log: Pick<Log, 'error'>): void {
    if (!this.enabled) return;
    this.stopped = false;
    const tick = () => {
      this.running ??= this.pass()
        .then(() => undefined)
        .catch((err: unknown) => log.error({ err }, 'retention pass failed'))
        .finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, this.cfg.intervalMs);
    this.timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over the rooms with expired messages; returns how many messages became tombstones. */
  async pass(): Promise<number> {
    let total = 0;
    for (const roomId of await this.dueRooms()) {
      for (;;) {
        if (this.stopped) return total;
        const began = performance.now();
        const batch = await this.batch(roomId);
        if (!batch) break;
        total += batch.rows.length;
        await this.changes.announceTombstones(batch);
        await sleep(restAfter(performance.now() - began, BACKGROUND_SHARE, this.cfg.pauseMs));
      }
    }
    return total;
  }

  /** Rooms whose next message above their cursor is past their type's limit. */
  private async dueRooms(): Promise<string[]> {
    const rows = await queryRows<{ id: string }>(
      this.db,
      sql`select r.id from chat_room r
          join chat_message m on m.room_id = r.id and m.seq = r.retained_through_seq + 1
          where r.last_seq > r.retained_through_seq and m.created_at < ${cutoff(this.cfg.days, sql`r.type`)}
          limit ${ROOMS_PER_PASS}`,
    );
    return rows.map((r) => r.id);
  }

  /**
   * One batch of one room in one transaction: the expired run of messages above the cursor (at most `batchSize`, up
   * to the first one to keep), its live ones tombstoned, the cursor moved past it. undefined: nothing more to do here
   * now (nothing expired, or another instance holds the room).
   */
  private async batch(roomId: string): Promise<TombstoneBatch | undefined> {
    return this.db.transaction(async (tx) => {
      if (!(await tryLock(tx, roomId))) return undefined;
      const [range] = await queryRows<{ cursor: number | string; through: number | string | null }>(
        tx,
        sql`with r as (select id, type, retained_through_seq from chat_room where id = ${roomId}),
            run as (
              select m.seq, m.created_at < ${cutoff(this.cfg.days, sql`r.type`)} as expired
              from r join chat_message m on m.room_id = r.id and m.seq > r.retained_through_seq
              order by m.seq limit ${this.cfg.batchSize})
            select (select retained_through_seq from r) as cursor,
              (select max(seq) from run where seq < coalesce((select min(seq) from run where expired is not true), 9223372036854775807)) as through`,
      );
      if (!range || range.through === null) return undefined;
      const through = Number(range.through);
      const batch = await this.changes.tombstoneIn(
        tx,
        roomId,
        { fromSeq: Number(range.cursor) + 1, throughSeq: through },
        'system',
        this.cfg.batchSize,
      );
      await tx.execute(
        sql`update chat_room set retained_through_seq = ${through} where id = ${roomId} and retained_through_seq < ${through}`,
      );
      return batch;
    });
  }
}

/** The room's retention lock for this transaction, if no other instance holds it. */
async function tryLock(tx: Executor, roomId: string): Promise<boolean> {
  const [row] = await queryRows<{ ok: boolean }>(
    tx,
    sql`select pg_try_advisory_xact_lock(hashtext('retention'), hashtext(${roomId})) as ok`,
  );
  return row?.ok === true;
}
