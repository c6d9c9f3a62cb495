import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { openDatabase, type Database, type Db, type Tx } from '../src/db/client.js';
import { EventLogRepository, MESSAGE_CREATED_PUSHABLE, type LoggedEvent } from '../src/event-log/event-log.repository.js';
import { LogConsumer, type EventHandler } from '../src/event-log/log-consumer.js';
import { newId } from '../src/ids.js';
import { MessagesRepository } from '../src/messages/messages.repository.js';
import type { TestApp } from './helpers/app.js';
import { eventLogSuite } from './helpers/event-log.js';
import { sleep } from './helpers/sockets.js';

const suite = eventLogSuite();
const { errors, quiet, rows } = suite;
let t: TestApp, db: Db, log: EventLogRepository;
beforeAll(() => void ({ t, db, log } = suite));
let names = 0;
/** A consumer of its own event type, so the tests do not see each other's events (nor the app's). */
function consumerOf(handle: EventHandler<LoggedEvent>, on: Db = db, name = `test-${++names}`) {
  return {
    name,
    type: `${name}.happened`,
    consumer: new LogConsumer(on, { name, types: [`${name}.happened`], handle, log: quiet, batch: 10 }),
  };
}
/** A handler for which every event needs a write: `write` gets the events themselves, in the marking transaction. */
const everyEvent = (write: (tx: Tx, events: LoggedEvent[]) => Promise<(() => void) | void>): EventHandler<LoggedEvent> => ({
  plan: async (events) => new Map(events.map((e) => [e.id, e])),
  write,
});
async function append(type: string, n: number, from = 0): Promise<number[]> {
  return db.transaction((tx) =>
    log.append(
      tx,
      Array.from({ length: n }, (_, i) => ({ type, roomId: null, payload: { n: from + i } })),
    ),
  );
}
const pendingOf = async (name: string) =>
  (await rows<{ n: number }>(sql`select count(*)::int as n from domain_event_pending where consumer = ${name}`))[0]!.n;

describe('the durable event log', () => {
  it('writes message.created in the statement that stores the message, for Web Push alone only where someone could get one', async () => {
    // This app has Web Push and no notification webhook: the notifications take sends into rooms with a subscriber.
    expect(await rows(sql`select name, types from domain_event_consumer`)).toEqual([
      { name: 'notifications', types: ['message.created', 'message.created@push', 'message.edited', 'message.deleted'] },
    ]);
    // Listed beside the narrowing, 'message.created' is what an earlier version's send statement looks for (it logged
    // every send for a consumer with that type): instances not yet upgraded keep logging for the notifications.
    const alice = await t.as('alice');
    const room = (await alice.post('/rooms', { type: 'group', name: 'log', participantIds: ['bob'] })).body;
    const eventOf = (messageId: string) =>
      rows<{ id: number; type: string; room_id: string; payload: Record<string, unknown> }>(
        sql`select id, type, room_id, payload from domain_event where payload->>'messageId' = ${messageId}`,
      );
    const unheard = (await alice.post(`/rooms/${room.id}/messages`, { content: 'nobody could be pushed' })).body;
    expect(await eventOf(unheard.id)).toEqual([]);
    // Beside a consumer of every message (as the webhooks are), the event is logged, pending for that one alone: not
    // for a consumer of pushable rooms (one that nothing reads, unlike the notifications, which take theirs at once).
    await log.register('test-every-message', ['message.created']);
    await log.register('test-pushable', [MESSAGE_CREATED_PUSHABLE]);
    try {
      const heardByOne = (await alice.post(`/rooms/${room.id}/messages`, { content: 'for the other consumer' })).body;
      const [event] = await eventOf(heardByOne.id);
      expect(await rows(sql`select consumer from domain_event_pending where event_id = ${event!.id} and consumer like 'test-%'`)).toEqual([
        { consumer: 'test-every-message' },
      ]);
    } finally {
      await log.unregister('test-every-message');
      await log.unregister('test-pushable');
    }

    const subscription = newId();
    await rows(
      sql`insert into push_subscription (id, user_id, endpoint, p256dh, auth) values (${subscription}, 'bob', ${`https://push.example/${subscription}`}, 'k', 'a')`,
    );
    try {
      const sent = (await alice.post(`/rooms/${room.id}/messages`, { content: 'logged' })).body;
      const [event] = await eventOf(sent.id);
      expect(event).toMatchObject({
        type: 'message.created',
        room_id: room.id,
        payload: { messageId: sent.id, roomId: room.id, senderId: 'alice', seq: sent.seq, roomType: 'group' },
      });
      const consumers = await rows<{ consumer: string }>(sql`select consumer from domain_event_pending where event_id = ${event!.id}`);
      // Either still pending for the notifications, or already handled by them (the app's consumer runs at once).
      expect(consumers.every((c) => c.consumer === 'notifications')).toBe(true);
    } finally {
      await rows(sql`delete from push_subscription where id = ${subscription}`);
    }
    expect(await eventOf((await alice.post(`/rooms/${room.id}/messages`, { content: 'unheard again' })).body.id)).toEqual([]);

    // A room of more than 64 is not looked through: its sends are logged whoever is subscribed.
    await rows(
      sql`insert into chat_participant (room_id, user_id, role) select ${room.id}, 'crowd-' || g, 'member' from generate_series(1, 62) g`,
    );
    expect(await eventOf((await alice.post(`/rooms/${room.id}/messages`, { content: '64 members' })).body.id)).toEqual([]);
    await rows(sql`insert into chat_participant (room_id, user_id, role) values (${room.id}, 'crowd-63', 'member')`);
    expect(await eventOf((await alice.post(`/rooms/${room.id}/messages`, { content: '65 members' })).body.id)).toHaveLength(1);
  });

  it('writes no event for a batch that is refused, and none while nobody listens', async () => {
    const alice = await t.as('alice');
    const room = (await alice.post('/rooms', { type: 'group', name: 'refused' })).body;
    // A consumer of every message (the notifications take only rooms where someone could get a push).
    await log.register('test-every-message', ['message.created']);
    onTestFinished(() => log.unregister('test-every-message'));
    await alice.post(`/rooms/${room.id}/messages`, { content: 'kept', clientMessageId: 'k' });
    const count = async () =>
      (await rows<{ n: number }>(sql`select count(*)::int as n from domain_event where room_id = ${room.id}`))[0]!.n;
    expect(await count()).toBe(1);
    const repo = new MessagesRepository(t.app.database.db);
    const row = (content: string, clientMessageId: string | null) => ({
      id: newId(),
      roomId: room.id,
      senderId: 'alice',
      type: 'text',
      content,
      mentions: [],
      replyToSeq: null,
      clientMessageId,
      hasMedia: false,
      searchDoc: '',
    });
    // Refused: one new clientMessageId twice in the batch meets the unique index.
    await expect(repo.insertMany([row('new', null), row('twice', 'k2'), row('twice again', 'k2')])).rejects.toThrow();
    expect(await count()).toBe(1);
    expect(await append('nobody.listens', 3)).toEqual([]);
  });

  it('hands every event to its consumer once, in id order, and marks it handled with what the handler wrote', async () => {
    const seen: number[] = [];
    const { name, type, consumer } = consumerOf(
      everyEvent(async (tx, events) => {
        seen.push(...events.map((e) => e.payload['n'] as number));
        await tx.execute(sql`select 1`);
      }),
    );
    await log.register(name, [type]);
    await append(type, 25);
    expect(await consumer.drain()).toBe(25);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(await pendingOf(name)).toBe(0);
    expect(await consumer.drain()).toBe(0);
  });

  it('gives events back when the consumer fails before marking them: they are handled again (at least once)', async () => {
    const { name, type } = consumerOf(everyEvent(async () => {}));
    await log.register(name, [type]);
    await append(type, 5);
    // A consumer that dies in the middle of its batch: its transaction rolls back, nothing is marked.
    const crashing = new LogConsumer(db, {
      name,
      types: [type],
      log: quiet,
      handle: everyEvent(async (tx) => {
        await tx.execute(sql`select 1`);
        throw new Error('killed mid-batch');
      }),
    });
    await expect(crashing.drain()).rejects.toThrow('killed mid-batch');
    expect(await pendingOf(name)).toBe(5);
    const again: LoggedEvent[] = [];
    const next = new LogConsumer(db, {
      name,
      types: [type],
      log: quiet,
      handle: everyEvent(async (_tx, events) => void again.push(...events)),
    });
    expect(await next.drain()).toBe(5);
    expect(again.map((e) => e.payload['n'])).toEqual([0, 1, 2, 3, 4]);
    expect(await pendingOf(name)).toBe(0);
  });

  it('marks events that need nothing written as handled without a transaction, and writes only for the others', async () => {
    const written: number[] = [];
    const { name, type, consumer } = consumerOf({
      plan: async (events) => new Map(events.filter((e) => (e.payload['n'] as number) % 2 === 0).map((e) => [e.id, e])),
      write: async (_tx, events) => void written.push(...events.map((e) => e.payload['n'] as number)),
    });
    await log.register(name, [type]);
    await append(type, 6);
    expect(await consumer.drain()).toBe(6);
    expect(written).toEqual([0, 2, 4]);
    expect(await pendingOf(name)).toBe(0);
  });

  it('leaves events pending when reading what they need fails (before any write)', async () => {
    const { name, type, consumer } = consumerOf({
      plan: async () => {
        throw new Error('database away');
      },
      write: async () => {},
    });
    await log.register(name, [type]);
    await append(type, 1);
    await expect(consumer.drain()).rejects.toThrow('database away');
    expect(await pendingOf(name)).toBe(1);
  });

  it('does not let one bad event hold up the others: it alone stays pending', async () => {
    const handled: number[] = [];
    const { name, type, consumer } = consumerOf(
      everyEvent(async (_tx, events) => {
        if (events.some((e) => e.payload['n'] === 2)) throw new Error('cannot handle 2');
        handled.push(...events.map((e) => e.payload['n'] as number));
      }),
    );
    await log.register(name, [type]);
    await append(type, 5);
    await consumer.drain();
    expect(handled.sort()).toEqual([0, 1, 3, 4]);
    expect(await pendingOf(name)).toBe(1);
    expect(errors).toContain('handling an event failed; it stays pending');
  });

  it('calls what the handler returns only after the commit, and not at all when it rolled back', async () => {
    const calls: string[] = [];
    let fail = true;
    const { name, type, consumer } = consumerOf(
      everyEvent(async () => {
        if (fail) throw new Error('rolled back');
        return () => void calls.push('after commit');
      }),
    );
    await log.register(name, [type]);
    await append(type, 1);
    await expect(consumer.drain()).rejects.toThrow('rolled back');
    expect(calls).toEqual([]);
    fail = false;
    await consumer.drain();
    expect(calls).toEqual(['after commit']);
  });

  it('is woken by a write once started, and takes what was left pending when it starts', async () => {
    const handled: number[] = [];
    const { name, type, consumer } = consumerOf(
      everyEvent(async (_tx, events) => void handled.push(...events.map((e) => e.payload['n'] as number))),
    );
    await log.register(name, [type]);
    await append(type, 2);
    await consumer.start();
    await until(() => handled.length === 2);
    await append(type, 1, 2);
    consumer.wake();
    await until(() => handled.length === 3);
    await consumer.stop();
    expect(handled).toEqual([0, 1, 2]);
  });

  it('keeps the window of a wakeWithin that comes during a run, instead of running again at once', async () => {
    const handledAt = new Map<number, number>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered = false;
    // Held in `plan` (outside any transaction, so PGlite's one connection stays free for the append below).
    const { name, type, consumer } = consumerOf({
      plan: async (events) => {
        if (events.some((e) => e.payload['n'] === 0)) {
          entered = true;
          await gate;
        }
        return new Map(events.map((e) => [e.id, e]));
      },
      write: async (_tx, events: LoggedEvent[]) => {
        for (const e of events) handledAt.set(e.payload['n'] as number, performance.now());
      },
    });
    await log.register(name, [type]);
    await consumer.start();
    await append(type, 1);
    consumer.wake();
    await until(() => entered);
    await append(type, 1, 1);
    consumer.wakeWithin(300);
    const released = performance.now();
    release();
    await until(() => handledAt.size === 2, 3000);
    await consumer.stop();
    // The run under way had taken event 0 alone; event 1 waited for the window, not for the end of that run.
    expect(handledAt.get(1)! - released).toBeGreaterThanOrEqual(250);
  });

  it('stops within its drain budget with a backlog, leaving the rest pending for the next start', async () => {
    const handled: number[] = [];
    // 40 batches of 10 at 200 ms each: 8 s of backlog against a 3 s budget.
    const { name, type, consumer } = consumerOf(
      everyEvent(async (_tx, events) => {
        await new Promise((r) => setTimeout(r, 200));
        handled.push(...events.map((e) => e.payload['n'] as number));
      }),
    );
    await log.register(name, [type]);
    await append(type, 400);
    void consumer.start();
    await until(() => handled.length >= 10);
    await consumer.stop();
    // Left pending, not drained: stopping all of it would have taken 8 s.
    const left = await pendingOf(name);
    expect(left).toBeGreaterThan(0);
    expect(left + handled.length).toBe(400);
    // What was handled went in order, each once.
    expect(handled).toEqual(handled.map((_, i) => i));
  });

  it('prunes handled events older than a day, in batches, and keeps pending and recent ones', async () => {
    const { name, type } = consumerOf(everyEvent(async () => {}));
    await log.register(name, [type]);
    const ids = await append(type, 4);
    await db.execute(sql`delete from domain_event_pending where consumer = ${name} and event_id <> ${ids[1]!}`);
    await db.execute(
      sql`update domain_event set created_at = now() - interval '25 hours' where id in (${ids[0]!}, ${ids[1]!}, ${ids[2]!})`,
    );
    // Everything older than this test's events is pruned first (the oldest ids are looked at first).
    while ((await log.prune(24 * 60 * 60 * 1000, 1000)) > 0);
    const left = await rows<{ id: number }>(sql`select id from domain_event where id in (${sql.join(ids, sql`, `)}) order by id`);
    expect(left.map((r) => Number(r.id))).toEqual([ids[1], ids[3]]);
  });

  it('stops feeding a consumer that unregisters, and forgets what it had pending', async () => {
    const { name, type } = consumerOf(everyEvent(async () => {}));
    await log.register(name, [type]);
    expect(await append(type, 2)).toHaveLength(2);
    await log.unregister(name);
    expect(await pendingOf(name)).toBe(0);
    expect(await append(type, 2)).toEqual([]);
  });
});

const postgres = inject('template').kind === 'postgres';
describe.runIf(postgres)('consumers on several connections (instances)', () => {
  let others: Database[] = [];
  afterAll(async () => {
    for (const o of others) await o.close();
  });

  it('never hands one event to two consumers of the same name, and hands every event to one of them', async () => {
    others = [await openDatabase({ url: t.db.url! }), await openDatabase({ url: t.db.url! })];
    const byConsumer: number[][] = [[], [], []];
    const name = `shared-${Date.now()}`;
    const type = `${name}.happened`;
    const consumers = [db, others[0]!.db, others[1]!.db].map(
      (on, i) =>
        new LogConsumer(on, {
          name,
          types: [type],
          log: quiet,
          batch: 7,
          handle: everyEvent(async (tx, events) => {
            // Slow enough that the consumers' transactions overlap.
            await tx.execute(sql`select pg_sleep(0.005)`);
            byConsumer[i]!.push(...events.map((e) => e.payload['n'] as number));
          }),
        }),
    );
    await log.register(name, [type]);
    const writing = (async () => {
      for (let k = 0; k < 10; k++) await append(type, 30, k * 30);
    })();
    const reading = consumers.map(async (c) => {
      for (let k = 0; k < 40; k++) {
        await c.drain();
        await sleep(2);
      }
    });
    await Promise.all([writing, ...reading]);
    for (const c of consumers) await c.drain();
    const all = byConsumer.flat();
    expect(all.length).toBe(300);
    expect(new Set(all).size).toBe(300);
    expect(byConsumer.filter((list) => list.length > 0).length).toBeGreaterThan(1);
  }, 30_000);
});

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}
