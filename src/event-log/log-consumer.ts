import type { Db, Tx } from '../db/client.js';
import type { Log } from '../log.js';
import { EventLogRepository, type LoggedEvent, type PositionRead } from './event-log.repository.js';

/** The longest a consumer sleeps: events written by peers, or left by a run that died, are found within this. */
const POLL_MS = 1000;
const BATCH = 200;
/** Handled events are kept this long (a day), for looking into what happened; then deleted in batches. */
const KEEP_MS = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60_000;
const PRUNE_BATCH = 1000;
/**
 * A graceful stop hands on what is pending for this long at most: a backlog (a webhook receiver that was down) stays
 * pending for the next start or a peer, rather than outlasting the shutdown timeout and ending in a hard exit.
 */
const STOP_DRAIN_MS = 3000;

/**
 * How a consumer handles events, in two steps so the reads (the costly part) run outside any transaction, as prepared
 * statements. `plan` reads what handling the events takes and says, per event id, what to write; an event it leaves
 * out needs nothing written and is marked handled at once. `write` runs in the transaction that takes the planned
 * events: whatever it writes through `tx` commits together with their marking, or not at all (then they are taken
 * again). It gets only the work of events still pending (another instance may have handled some meanwhile); what it
 * returns runs after the commit.
 */
export interface EventHandler<W = unknown> {
  plan(events: LoggedEvent[]): Promise<Map<number, W>>;
  write(tx: Tx, work: W[]): Promise<(() => void) | void>;
}

export interface LogConsumerOptions {
  /** Stable across restarts and the same on every instance: the pending rows are kept under it. */
  name: string;
  types: string[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each consumer's work has its own type
  handle: EventHandler<any>;
  log: Pick<Log, 'error'>;
  batch?: number;
  /**
   * Read the log by position (LogPosition) instead of through pending rows: a send then writes its event and nothing
   * per consumer, and one instance at a time handles the consumer's batches.
   */
  byPosition?: boolean;
}

/**
 * Reads the durable event log for one consumer, at least once: an event stays pending until what handling it writes
 * has committed, in the same transaction as its marking, so a crash anywhere before leaves it to be handled again (by
 * this instance after a restart, or by any other). Woken by the in-process bus for latency; the poll finds what other
 * instances wrote.
 */
export class LogConsumer {
  private readonly repo: EventLogRepository;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /**
   * Asked for while a run was under way: the soonest next run (0: right after it). A wakeWithin keeps its window, so
   * under a steady stream of sends the notifications consumer takes a batch every 50 ms rather than running back to
   * back, three statements for every few events.
   */
  private againIn: number | undefined;
  /** Woken by the bus and the poll only once started; drain() alone works before (tests). */
  private started = false;
  private stopped = false;
  private nextPruneAt = 0;
  /**
   * Read by position: when the pending rows (parked events) are looked at next. At once after this instance parked a
   * batch; otherwise once a poll, for those a peer parked or an earlier version left, instead of a statement a batch.
   */
  private peekParkedAt = 0;
  /** Set by stop(): no batch starts after this, in the run under way or in stop's own drain. */
  private stopBy = Infinity;

  constructor(
    private readonly db: Db,
    private readonly opts: LogConsumerOptions,
  ) {
    this.repo = new EventLogRepository(db);
  }

  /**
   * Registers the consumer (events from now on are logged for it) and takes whatever was left pending before it
   * resolves, so what a previous run left is handled before anything that depends on it starts (the outbox sender).
   */
  async start(): Promise<void> {
    this.stopBy = Infinity;
    await this.repo.register(this.opts.name, this.opts.types, this.db, { byPosition: this.opts.byPosition });
    this.started = true;
    this.wake();
    await this.running;
  }

  /**
   * Something was written: run within `withinMs` (so a burst is taken in one batch: one transaction for many events
   * instead of one each), or right after the run under way.
   */
  wakeWithin(withinMs: number): void {
    if (!this.started || this.stopped || this.soon) return;
    if (this.running) {
      this.againIn = Math.min(this.againIn ?? withinMs, withinMs);
      return;
    }
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.wake();
    }, withinMs);
    this.soon.unref();
  }

  /** Something was written: run now (or right after the run under way). */
  wake(): void {
    if (!this.started || this.stopped) return;
    if (this.running) {
      this.againIn = 0;
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    clearTimeout(this.soon);
    this.soon = undefined;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      const next = this.againIn ?? POLL_MS;
      this.againIn = undefined;
      if (!this.stopped) this.schedule(next);
    });
  }

  /**
   * Stops taking work once what is pending now is handled, or STOP_DRAIN_MS have passed (the writers have stopped by
   * then). A failing database, or a backlog, leaves the rest pending for the next start or a peer.
   */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    clearTimeout(this.soon);
    this.stopBy = Date.now() + STOP_DRAIN_MS;
    await this.running;
    if (this.started && !this.stopped)
      await this.drain().catch((err: unknown) => this.opts.log.error({ err, consumer: this.opts.name }, 'event log consumer failed'));
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Takes and handles batches until none is left (or stopped, or past the stop's deadline); the number handled. */
  async drain(): Promise<number> {
    let total = 0;
    const size = this.opts.batch ?? BATCH;
    for (let n = size; n === size && !this.stopped && Date.now() < this.stopBy;) {
      n = await this.batch();
      total += n;
    }
    return total;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), ms);
    this.timer.unref();
  }

  private async loop(): Promise<void> {
    do {
      this.againIn = undefined;
      try {
        await this.drain();
        if (Date.now() >= this.nextPruneAt) await this.prune();
      } catch (err) {
        // The database is away, most likely: the events stay pending, the poll tries again.
        this.opts.log.error({ err, consumer: this.opts.name }, 'event log consumer failed');
        this.againIn = undefined;
        return;
      }
    } while (this.againIn === 0 && !this.stopped);
  }

  /** Handles one batch; the number looked at, or 0 when it had to be tried event by event (the caller stops draining). */
  private async batch(): Promise<number> {
    const size = this.opts.batch ?? BATCH;
    if (!this.opts.byPosition) return this.pendingBatch(size);
    // Parked events first (a batch that failed), then by position; a parked event that keeps failing holds up nothing.
    let parked = 0;
    const now = Date.now();
    if (now >= this.peekParkedAt) {
      parked = await this.pendingBatch(size).catch((err: unknown) => {
        this.opts.log.error({ err, consumer: this.opts.name }, 'handling a parked event failed; it stays pending');
        return 0;
      });
      // A full batch may have more behind it; otherwise the next look is a poll away (or right after a park here).
      this.peekParkedAt = parked === size ? 0 : now + POLL_MS;
    }
    const read = await this.repo.readByPosition(this.opts.name, size);
    if (read) await this.handleRead(read);
    return parked === size || read?.full ? size : 0;
  }

  /**
   * A batch read by position: what it needs written commits with the move of the position, or not at all. If handling
   * it fails, its events are parked (given pending rows) and the position moves past them, so the next batches try
   * each alone (pendingBatch) while the log is read on.
   */
  private async handleRead({ events, from, next }: PositionRead): Promise<void> {
    const { name, handle, log } = this.opts;
    if (events.length === 0) {
      if (next.to !== from.to) await this.repo.advance(this.db, name, from, next);
      return;
    }
    try {
      const work = await handle.plan(events);
      const after = await this.db.transaction(async (tx) => {
        // Moved by another instance meanwhile: it has handled these events.
        if (!(await this.repo.advance(tx, name, from, next))) return undefined;
        return work.size ? handle.write(tx, [...work.values()]) : undefined;
      });
      after?.();
    } catch (err) {
      log.error({ err, consumer: name, events: events.length }, 'handling a batch of events failed; trying each alone');
      this.peekParkedAt = 0;
      await this.db.transaction(async (tx) => {
        if (await this.repo.advance(tx, name, from, next))
          await this.repo.park(
            tx,
            name,
            events.map((e) => e.id),
          );
      });
    }
  }

  /** One batch of pending rows; the number looked at, or 0 when it had to be tried event by event. */
  private async pendingBatch(size: number): Promise<number> {
    const events = await this.repo.peek(this.opts.name, size);
    try {
      await this.handle(events);
    } catch (err) {
      if (events.length <= 1) throw err;
      await this.oneByOne(
        events.map((e) => e.id),
        err,
      );
      return 0;
    }
    return events.length;
  }

  /** One bad event must not hold up the others: each is tried alone, and one that fails alone stays pending. */
  private async oneByOne(ids: number[], err: unknown): Promise<void> {
    const { name, log } = this.opts;
    log.error({ err, consumer: name, events: ids.length }, 'handling a batch of events failed; trying each alone');
    let failedInARow = 0;
    for (const id of ids) {
      try {
        await this.handle(await this.repo.peek(name, 1, [id]));
        failedInARow = 0;
      } catch (e) {
        log.error({ err: e, consumer: name, eventId: id }, 'handling an event failed; it stays pending');
        // Several in a row: the database (or what the handler needs) is away rather than one event being bad.
        if (++failedInARow === 3) throw e;
      }
    }
  }

  private async handle(events: LoggedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const { name, handle } = this.opts;
    const work = await handle.plan(events);
    // Nothing to write for these: marked handled without a transaction (the common case: everyone was online).
    await this.repo.done(
      name,
      events.flatMap((e) => (work.has(e.id) ? [] : [e.id])),
    );
    if (work.size === 0) return;
    const after = await this.db.transaction(async (tx) => {
      const taken = await this.repo.take(tx, name, [...work.keys()]);
      const mine = [...work].flatMap(([id, w]) => (taken.has(id) ? [w] : []));
      return mine.length ? handle.write(tx, mine) : undefined;
    });
    after?.();
  }

  private async prune(): Promise<void> {
    this.nextPruneAt = Date.now() + PRUNE_EVERY_MS;
    while (!this.stopped && (await this.repo.prune(KEEP_MS, PRUNE_BATCH)) === PRUNE_BATCH);
  }
}
