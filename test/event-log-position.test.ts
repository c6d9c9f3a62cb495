import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { openDatabase, type Database, type Db, type Tx } from '../src/db/client.js';
import { EventLogRepository, type LoggedEvent } from '../src/event-log/event-log.repository.js';
import { LogConsumer, type EventHandler } from '../src/event-log/log-consumer.js';
import type { TestApp } from './helpers/app.js';
import { eventLogSuite } from './helpers/event-log.js';
import { sleep } from './helpers/sockets.js';

/** Consumers that read the log by position (LogPosition): no pending row per event, one row moved per batch. */

const suite = eventLogSuite();
const { errors, quiet, rows } = suite;
let t: TestApp, db: Db, log: EventLogRepository;
beforeAll(() => void ({ t, db, log } = suite));
let names = 0;
const handlerOf = (write: (tx: Tx, events: LoggedEvent[]) => Promise<void>): EventHandler<LoggedEvent> => ({
  plan: async (events) => new Map(events.map((e) => [e.id, e])),
  write: async (tx, events) => void (await write(tx, events)),
});
/** A consumer of its own event type, read by position, registered (from the log's end) before it returns. */
async function positioned(handle: EventHandler<LoggedEvent>, on: Db = db, name = `pos-${++names}`) {
  const consumer = new LogConsumer(on, { name, types: [`${name}.happened`], handle, log: quiet, batch: 10, byPosition: true });
  await new EventLogRepository(on).register(name, [`${name}.happened`], on, { byPosition: true });
  return { name, type: `${name}.happened`, consumer };
}
const append = (type: string, n: number, from = 0, roomId: string | null = null, on: Db | Tx = db) =>
  new EventLogRepository(db).append(
    on,
    Array.from({ length: n }, (_, i) => ({ type, roomId, payload: { n: from + i } })),
  );
const inTx = (type: string, n: number, from = 0) => db.transaction((tx) => append(type, n, from, null, tx));
const pendingOf = async (name: string) =>
  (await rows<{ n: number }>(sql`select count(*)::int as n from domain_event_pending where consumer = ${name}`))[0]!.n;

describe('a consumer read by position', () => {
  it('starts at the log’s end, reads each later event once in id order, and gets no pending rows', async () => {
    const seen: number[] = [];
    const { name, type, consumer } = await positioned(
      handlerOf(async (_tx, events) => void seen.push(...events.map((e) => e.payload['n'] as number))),
    );
    const before = await new EventLogRepository(db).readByPosition(name, 10);
    expect(before?.events).toEqual([]);
    await inTx(type, 25);
    expect(await pendingOf(name)).toBe(0);
    // Batches of 10: 10, 10, then 5 (the drain stops at a short one).
    await consumer.drain();
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i));
    await consumer.drain();
    expect(seen).toHaveLength(25);
    const [row] = await rows<{ read_to: number }>(sql`select read_to from domain_event_consumer where name = ${name}`);
    const [last] = await rows<{ id: number }>(sql`select max(id) as id from domain_event where type = ${type}`);
    expect(Number(row!.read_to)).toBeGreaterThanOrEqual(Number(last!.id));
  });

  it('does not read events written before it registered', async () => {
    const name = `pos-${++names}`;
    const type = `${name}.happened`;
    // Logged for another consumer of the type (a pending one), before this one registers.
    await log.register(`${name}-other`, [type]);
    await inTx(type, 3);
    const seen: number[] = [];
    const { consumer } = await positioned(
      handlerOf(async (_tx, events) => void seen.push(...events.map((e) => e.payload['n'] as number))),
      db,
      name,
    );
    await inTx(type, 2, 100);
    await consumer.drain();
    expect(seen).toEqual([100, 101]);
    await log.unregister(`${name}-other`);
  });

  it('writes nothing and moves nothing when the handler fails to read; handles the events on the next try', async () => {
    let fail = true;
    const seen: number[] = [];
    const { name, type, consumer } = await positioned({
      plan: async (events) => {
        if (fail) throw new Error('database away');
        return new Map(events.map((e) => [e.id, e]));
      },
      write: async (_tx, events) => void seen.push(...events.map((e) => e.payload['n'] as number)),
    });
    await inTx(type, 3);
    // The failed batch is parked: pending rows of its own, the position past it.
    await consumer.drain();
    expect(seen).toEqual([]);
    expect(await pendingOf(name)).toBe(3);
    fail = false;
    await inTx(type, 2, 10);
    await consumer.drain();
    // The parked ones first, then the log by position.
    expect(seen).toEqual([0, 1, 2, 10, 11]);
    expect(await pendingOf(name)).toBe(0);
  });

  it('parks a batch whose write fails: the others are handled one by one, the bad one stays pending, the log goes on', async () => {
    const seen: number[] = [];
    const { name, type, consumer } = await positioned(
      handlerOf(async (tx, events) => {
        if (events.some((e) => e.payload['n'] === 2)) throw new Error('bad event');
        await tx.execute(sql`select 1`);
        seen.push(...events.map((e) => e.payload['n'] as number));
      }),
    );
    await inTx(type, 5);
    await consumer.drain();
    expect(seen).toEqual([]);
    expect(await pendingOf(name)).toBe(5);
    await inTx(type, 2, 10);
    await consumer.drain();
    expect(seen).toEqual([0, 1, 3, 4, 10, 11]);
    expect(await pendingOf(name)).toBe(1);
    expect(errors).toContain('handling a batch of events failed; trying each alone');
  });

  it('looks for parked events once a poll, not every batch: a peer’s are handled within a poll, its own at once', async () => {
    const seen: number[] = [];
    const { name, type, consumer } = await positioned(
      handlerOf(async (_tx, events) => void seen.push(...events.map((e) => e.payload['n'] as number))),
    );
    // A peer of the same consumer whose handler fails: it parks what it reads.
    const peer = new LogConsumer(db, {
      name,
      types: [type],
      handle: { plan: () => Promise.reject(new Error('peer broken')), write: async () => {} },
      log: quiet,
      batch: 10,
      byPosition: true,
    });
    await consumer.drain();
    await inTx(type, 3);
    await peer.drain();
    expect(await pendingOf(name)).toBe(3);
    const peek = vi.spyOn(EventLogRepository.prototype, 'peek');
    try {
      await consumer.drain();
      await consumer.drain();
      expect(peek).not.toHaveBeenCalled();
      expect(seen).toEqual([]);
      await sleep(1100);
      await consumer.drain();
      expect(peek).toHaveBeenCalled();
      expect(seen).toEqual([0, 1, 2]);
      expect(await pendingOf(name)).toBe(0);
    } finally {
      peek.mockRestore();
    }
  });

  it('is not pruned past: an event it has not read is kept, however old', async () => {
    const { name, type, consumer } = await positioned(handlerOf(async () => {}));
    const ids = await inTx(type, 2);
    await db.execute(sql`update domain_event set created_at = now() - interval '25 hours' where id in (${ids[0]!}, ${ids[1]!})`);
    while ((await log.prune(24 * 60 * 60 * 1000, 1000)) > 0);
    expect(await rows(sql`select id from domain_event where id in (${ids[0]!}, ${ids[1]!})`)).toHaveLength(2);
    await consumer.drain();
    while ((await log.prune(24 * 60 * 60 * 1000, 1000)) > 0);
    expect(await rows(sql`select id from domain_event where id in (${ids[0]!}, ${ids[1]!})`)).toHaveLength(0);
    await log.unregister(name);
  });
});

const postgres = inject('template').kind === 'postgres';
describe.runIf(postgres)('a consumer read by position, with transactions that commit out of id order', () => {
  let others: Database[] = [];
  beforeAll(async () => {
    if (postgres) others = [await openDatabase({ url: t.db.url! })];
  });
  afterAll(async () => {
    for (const o of others) await o.close();
  });

  it('reads an event that commits after a read that passed its id, once', async () => {
    const seen: number[] = [];
    const { type, consumer } = await positioned(
      handlerOf(async (_tx, events) => void seen.push(...events.map((e) => e.payload['n'] as number))),
    );
    // The slow transaction takes its id first and commits last.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let logged!: () => void;
    const inserted = new Promise<void>((resolve) => (logged = resolve));
    const slow = others[0]!.db.transaction(async (tx) => {
      await new EventLogRepository(others[0]!.db).append(tx, [{ type, roomId: null, payload: { n: 1 } }]);
      logged();
      await released;
    });
    await inserted;
    await inTx(type, 1, 2);
    await consumer.drain();
    expect(seen).toEqual([2]);
    release();
    await slow;
    await consumer.drain();
    expect(seen).toEqual([2, 1]);
    await consumer.drain();
    expect(seen).toEqual([2, 1]);
  });

  it('forgets an id whose transaction rolled back, once every transaction running when it was seen has ended', async () => {
    const seen: number[] = [];
    const { name, type, consumer } = await positioned(
      handlerOf(async (_tx, events) => void seen.push(...events.map((e) => e.payload['n'] as number))),
    );
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let logged!: () => void;
    const inserted = new Promise<void>((resolve) => (logged = resolve));
    const doomed = others[0]!.db
      .transaction(async (tx) => {
        await new EventLogRepository(others[0]!.db).append(tx, [{ type, roomId: null, payload: { n: 1 } }]);
        logged();
        await released;
        throw new Error('rolled back');
      })
      .catch(() => {});
    await inserted;
    await inTx(type, 1, 2);
    await consumer.drain();
    const gaps = async () => (await rows<{ gaps: unknown[] }>(sql`select gaps from domain_event_consumer where name = ${name}`))[0]!.gaps;
    expect(await gaps()).toHaveLength(1);
    release();
    await doomed;
    await inTx(type, 1, 3);
    await consumer.drain();
    expect(seen).toEqual([2, 3]);
    // Forgotten once no transaction of the cluster that was running when it was seen is left (other tests' may be).
    for (let i = 0; i < 100 && (await gaps()).length > 0; i++) {
      await sleep(100);
      await inTx(type, 1, 10 + i);
      await consumer.drain();
    }
    expect(await gaps()).toEqual([]);
    expect(seen.slice(0, 2)).toEqual([2, 3]);
    expect(seen).not.toContain(1);
  });

  it('hands every event to exactly one of several instances reading at once', async () => {
    const name = `pos-${++names}`;
    others.push(await openDatabase({ url: t.db.url! }), await openDatabase({ url: t.db.url! }));
    const seen: number[] = [];
    const record = handlerOf(async (tx, events) => {
      await tx.execute(sql`select pg_sleep(0.005)`);
      seen.push(...events.map((e) => e.payload['n'] as number));
    });
    const consumers = [db, others.at(-1)!.db, others.at(-2)!.db].map(
      (on) => new LogConsumer(on, { name, types: [`${name}.happened`], handle: record, log: quiet, batch: 10, byPosition: true }),
    );
    await log.register(name, [`${name}.happened`], db, { byPosition: true });
    const writing = (async () => {
      for (let i = 0; i < 20; i++) await inTx(`${name}.happened`, 10, i * 10);
    })();
    let done = false;
    void writing.then(() => (done = true));
    await Promise.all(
      consumers.map(async (c) => {
        while (!done) await c.drain();
        await c.drain();
      }),
    );
    await consumers[0]!.drain();
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(await pendingOf(name)).toBe(0);
  });
});
