import { AsyncLocalStorage } from 'node:async_hooks';
import { sql } from 'drizzle-orm';
import { Counter, Gauge, type Registry } from 'prom-client';
import { causeChain } from '../errors.js';
import { openDatabase, queryRows, type Database, type Db, type Executor } from './client.js';
import { LsnFences, parseLsn, type FenceStore } from './replica-fences.js';

/**
 * Reads on streaming replicas (DATABASE_READ_URLS), never at the price of a client seeing less than it already knows:
 *
 * - A user's own writes: after each one the primary's WAL position (LSN) is kept as the user's fence; their reads go
 *   to a replica only once it has replayed past it (GitLab's database load balancer works the same way).
 * - What a client was told live: a room's history and changes are read on a replica only when its copy of the room is
 *   at the primary's last_seq and last_change_seq, read by the access check a moment before. A client that got
 *   message 51 live and asks for `after=50` is answered with 51.
 * - A replica that does not answer, or is further behind than DATABASE_READ_MAX_LAG_MS, is not read from until it
 *   catches up; a read that fails on one is answered by the primary. Metrics show each replica's state.
 *
 * Repositories keep one `Db`: inside `forUser`/`forRoom` it is the chosen replica's (an AsyncLocalStorage scope), so
 * each service says where it reads in one line and the queries stay the same. Without replicas nothing is wrapped.
 */
export interface ReadRouting {
  /** The handle repositories use: the primary, or within a read scope the replica chosen for it. */
  readonly db: Db;
  /** Whether any read may go to a replica: without, a read needs no room or user mark first and can go out with its check. */
  readonly replicated: boolean;
  /** A write by `userId` committed: their next reads wait for a replica that holds it (or go to the primary). */
  wrote(userId: string): Promise<void>;
  /** Runs `read` on a replica that holds `userId`'s writes, else on the primary. */
  forUser<T>(userId: string, read: () => Promise<T>): Promise<T>;
  /** As forUser, and the replica's copy of the room is at least at `room`'s seqs (as the primary had them). */
  forRoom<T>(userId: string, room: RoomMark, read: () => Promise<T>): Promise<T>;
  /** For a read that outlives one call (a streamed export): the database forUser would read from, itself. */
  readerFor(userId: string): Promise<Db>;
  registerMetrics(registry: Registry): void;
  close(): Promise<void>;
}

export interface RoomMark {
  id: string;
  lastSeq: number;
  lastChangeSeq: number;
}

/** The primary only: what every deployment without replicas runs, at no cost. */
export function primaryOnly(db: Db): ReadRouting {
  return {
    db,
    replicated: false,
    wrote: async () => {},
    forUser: (_userId, read) => read(),
    forRoom: (_userId, _room, read) => read(),
    readerFor: async () => db,
    registerMetrics: () => {},
    close: async () => {},
  };
}

export interface ReplicaOptions {
  urls: string[];
  maxLagMs: number;
  pooler: 'none' | 'pgbouncer';
  /** Shared by the instances when Redis is configured: a user's next request may reach another instance. */
  fences: FenceStore;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Whether an error is the replica being away (its reads are then answered by the primary). */
  isOutage(err: unknown): boolean;
}

interface Replica {
  /** host:port/database, for metrics and logs (no credentials). */
  name: string;
  database: Database;
  up: boolean;
  /** The WAL position it has replayed, as last seen. */
  replayed: bigint;
  lagMs: number;
  warned: boolean;
}

type Reason = 'replica' | 'fence' | 'room' | 'lag' | 'down' | 'conflict';

/** "canceling statement due to conflict with recovery": a hot standby's replay needed what the read was using. */
const recoveryConflict = (err: unknown): boolean => causeChain(err).some((e) => e.code === '40001' || e.code === '40P01');

export async function openReplicas(primary: Db, opts: ReplicaOptions): Promise<ReadRouting> {
  const replicas: Replica[] = [];
  for (const url of opts.urls) {
    const database = await openDatabase({ url, pooler: opts.pooler, connectTimeoutMs: 1000 });
    replicas.push({ name: replicaName(url), database, up: false, replayed: 0n, lagMs: Infinity, warned: false });
  }
  const scope = new AsyncLocalStorage<Db>();
  const db = scoped(primary, scope);
  const pollMs = Math.max(50, Math.min(250, Math.floor(opts.maxLagMs / 4)));
  // A fence older than the allowed lag (and a poll's slack) is behind every replica still read from: it may go.
  const fences = new LsnFences(opts.fences, () => primaryLsn(primary), opts.maxLagMs + 2 * pollMs + 1000);
  // Primary positions over the last max-lag window: a replica's lag is how long ago the primary was past its position.
  const samples: Array<{ at: number; lsn: bigint }> = [];
  const reads = new Counter({
    name: 'chat_db_reads_total',
    help: 'Reads that may use a replica, by where they ran: replica, or primary and why (fence, room, lag, down, conflict)',
    labelNames: ['target', 'reason'] as const,
    registers: [],
  });

  const replayedBy = async (r: Replica): Promise<bigint | undefined> => {
    const rows = await withTimeout(
      queryRows<{ lsn: string | null }>(r.database.db, sql`select pg_last_wal_replay_lsn()::text as lsn`),
      1000,
    );
    const lsn = rows[0]?.lsn;
    if (!lsn) {
      // Not in recovery: a primary (a promoted replica, or the wrong URL). Its data may have diverged: never read.
      if (!r.warned) opts.log.warn({ replica: r.name }, 'DATABASE_READ_URLS names a server that is not a replica: not read from');
      r.warned = true;
      return undefined;
    }
    return parseLsn(lsn);
  };

  const lagOf = (replayed: bigint, now: number): number => {
    const ahead = samples.find((s) => s.lsn > replayed);
    return ahead ? now - ahead.at : 0;
  };

  const poll = async () => {
    const now = Date.now();
    const head = await primaryLsn(primary).catch(() => undefined);
    if (head !== undefined) samples.push({ at: now, lsn: head });
    // Keep one sample older than the window, so a replica behind all of it still reads as that far behind.
    while (samples.length > 1 && samples[1]!.at < now - opts.maxLagMs - 2 * pollMs) samples.shift();
    await Promise.all(
      replicas.map(async (r) => {
        const replayed = await replayedBy(r).catch(() => undefined);
        const wasUp = r.up;
        r.up = replayed !== undefined;
        if (replayed !== undefined) r.replayed = replayed;
        r.lagMs = r.up ? lagOf(r.replayed, now) : Infinity;
        if (wasUp !== r.up)
          opts.log.info({ replica: r.name, up: r.up }, r.up ? 'read replica answering' : 'read replica away: reads go to the primary');
      }),
    );
  };
  await poll();
  let polling: Promise<void> | undefined;
  const timer = setInterval(() => void (polling ??= poll().finally(() => (polling = undefined))), pollMs);
  timer.unref();

  let turn = 0;
  /** A replica holding the user's writes, taking turns among those that qualify; or why none does. */
  const pick = async (userId: string): Promise<Replica | Reason> => {
    const live = replicas.filter((r) => r.up);
    if (live.length === 0) return 'down';
    const current = live.filter((r) => r.lagMs <= opts.maxLagMs);
    if (current.length === 0) return 'lag';
    const fence = await fences.of(userId);
    const start = turn++ % current.length;
    const ordered = [...current.slice(start), ...current.slice(0, start)];
    const ready = fence === undefined ? ordered[0] : ordered.find((r) => r.replayed >= fence);
    if (ready) return ready;
    // The last poll may be up to pollMs old: ask the most advanced one where it is now, rather than give up.
    const best = ordered.reduce((a, b) => (b.replayed > a.replayed ? b : a));
    const now = await replayedBy(best).catch(() => undefined);
    if (now !== undefined && now > best.replayed) best.replayed = now;
    return fence !== undefined && best.replayed >= fence ? best : 'fence';
  };

  const run = async <T>(chosen: Replica | Reason, read: () => Promise<T>): Promise<T> => {
    if (typeof chosen === 'string') {
      reads.inc({ target: 'primary', reason: chosen });
      return read();
    }
    try {
      const result = await scope.run(chosen.database.db, read);
      reads.inc({ target: 'replica', reason: 'replica' });
      return result;
    } catch (err) {
      if (recoveryConflict(err)) {
        // A long read that the replica's replay cancelled (max_standby_streaming_delay): the primary answers it.
        reads.inc({ target: 'primary', reason: 'conflict' });
        return read();
      }
      if (!opts.isOutage(err)) throw err;
      // Away since the last poll: this read and the next ones go to the primary until it answers again.
      chosen.up = false;
      reads.inc({ target: 'primary', reason: 'down' });
      return read();
    }
  };

  return {
    db,
    replicated: true,
    wrote: (userId) => fences.raise(userId),
    forUser: async (userId, read) => run(await pick(userId), read),
    async readerFor(userId) {
      const chosen = await pick(userId);
      reads.inc(typeof chosen === 'string' ? { target: 'primary', reason: chosen } : { target: 'replica', reason: 'replica' });
      return typeof chosen === 'string' ? primary : chosen.database.db;
    },
    async forRoom(userId, room, read) {
      const chosen = await pick(userId);
      if (typeof chosen === 'string') return run(chosen, read);
      let current: boolean;
      try {
        current = await caughtUpWith(chosen.database.db, room);
      } catch (err) {
        if (!opts.isOutage(err)) throw err;
        // Away since the last poll, as when a read fails on it.
        chosen.up = false;
        return run('down', read);
      }
      return run(current ? chosen : 'room', read);
    },
    registerMetrics(registry) {
      registry.registerMetric(reads);
      new Gauge({
        name: 'chat_db_replica_up',
        help: 'Whether a read replica answers and is a replica (1) or not (0)',
        labelNames: ['replica'] as const,
        registers: [registry],
        collect() {
          for (const r of replicas) this.set({ replica: r.name }, r.up ? 1 : 0);
        },
      });
      new Gauge({
        name: 'chat_db_replica_lag_seconds',
        help: 'How long ago the primary was at the position a replica has replayed (reads skip it past DATABASE_READ_MAX_LAG_MS)',
        labelNames: ['replica'] as const,
        registers: [registry],
        collect() {
          for (const r of replicas) this.set({ replica: r.name }, r.up ? r.lagMs / 1000 : -1);
        },
      });
    },
    async close() {
      clearInterval(timer);
      await polling;
      await Promise.all(replicas.map((r) => r.database.close()));
    },
  };
}

const TARGET = Symbol('the database a read scope reaches');

/**
 * One `T` (a statement prepared with drizzle's `.prepare()`, which binds it to one pool) per database it runs on: a
 * repository's `db` reaches a replica inside a read scope and the primary outside, and each needs its own.
 */
export function onePer<T>(): (db: Executor, build: () => T) => T {
  const made = new WeakMap<object, T>();
  return (db, build) => {
    const on = ((db as { [TARGET]?: object })[TARGET] ?? db) as object;
    let value = made.get(on);
    if (value === undefined) made.set(on, (value = build()));
    return value;
  };
}

/** A Db whose every call goes to the scope's replica when there is one, else to the primary. */
function scoped(primary: Db, scope: AsyncLocalStorage<Db>): Db {
  return new Proxy(primary, {
    get(target, prop) {
      const on = scope.getStore() ?? target;
      if (prop === TARGET) return on;
      const value = Reflect.get(on, prop, on) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(on) : value;
    },
  });
}

async function primaryLsn(primary: Db): Promise<bigint> {
  const rows = await queryRows<{ lsn: string }>(primary, sql`select pg_current_wal_lsn()::text as lsn`);
  return parseLsn(rows[0]!.lsn);
}

/** Whether the replica's copy of the room is as far as `room` (the primary's). A room it does not have yet is behind. */
async function caughtUpWith(db: Db, room: RoomMark): Promise<boolean> {
  const [row] = await queryRows<{ last_seq: number; last_change_seq: number }>(
    db,
    sql`select last_seq, last_change_seq from chat_room where id = ${room.id}`,
  );
  return !!row && Number(row.last_seq) >= room.lastSeq && Number(row.last_change_seq) >= room.lastChangeSeq;
}

function replicaName(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('replica did not answer in time'), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
