import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase, queryRows, type Database } from '../src/db/client.js';
import { EventLogRepository } from '../src/event-log/event-log.repository.js';
import { WEBHOOKS_CONSUMER, WebhooksRepository } from '../src/webhooks/webhooks.repository.js';
import { DeliveryQueueRepository, type ClaimedDelivery } from '../src/webhooks/delivery-queue.repository.js';
import { freshDatabase, type TestDatabase } from './helpers/databases.js';

/**
 * The hand-over between a room's webhook deliveries, at the repository: settling a queue's head makes its next row
 * due, also when that row is being inserted at the same moment by the log consumer on another connection (another
 * instance). Two connections, so PostgreSQL only; the delivery suites cover the same rules end to end on both engines.
 */
const template = inject('template');
let fresh: TestDatabase;
let other: Database;
let repo: DeliveryQueueRepository;
let webhooks: WebhooksRepository;
const HOOK = '01a2432f-21c0-76e3-8f79-000000000001';
const ROOM_A = '01a2432f-21c0-76e3-8f79-00000000000a';
const ROOM_B = '01a2432f-21c0-76e3-8f79-00000000000b';
const ROOM_C = '01a2432f-21c0-76e3-8f79-0000000000c1';
let nextEvent = 1;

beforeAll(async () => {
  if (template.kind !== 'postgres') return;
  fresh = await freshDatabase(template);
  other = await openDatabase({ url: fresh.url! });
  repo = new DeliveryQueueRepository(fresh.database.db);
  webhooks = new WebhooksRepository(fresh.database.db);
  const db = fresh.database.db;
  await db.execute(
    sql`insert into webhook (id, url, events, secret, created_by) values (${HOOK}, 'http://127.0.0.1:9/x', '{*}', 's', 'root')`,
  );
  for (const room of [ROOM_A, ROOM_B, ROOM_C])
    await db.execute(sql`insert into chat_room (id, type, name, created_by) values (${room}, 'group', 'q', 'root')`);
});
afterAll(async () => {
  await other?.close();
  await fresh?.database.close();
  await fresh?.drop();
});

const delivery = (roomId: string) => ({ webhookId: HOOK, eventId: `evt_${nextEvent++}`, type: 'message.created', roomId, body: '{}' });

/** A queue's rows in order: id and whether it is due (false: queued behind the one before). */
async function queue(roomId: string): Promise<Array<{ id: number; due: boolean }>> {
  const rows = await queryRows<{ id: string; due: boolean }>(
    fresh.database.db,
    sql`select id, next_attempt_at <> 'infinity' as due from webhook_delivery
        where webhook_id = ${HOOK} and room_id = ${roomId} and status = 'pending' order by id`,
  );
  return rows.map((r) => ({ id: Number(r.id), due: r.due }));
}

async function claimHead(roomId: string): Promise<ClaimedDelivery> {
  const heads = await repo.claim(10, 10, {}, 60_000);
  const head = heads.find((h) => h.roomId === roomId);
  expect(head).toBeDefined();
  return head!;
}

/** Inserts on the other connection, as the consumer does, and holds its transaction open until `release` resolves. */
function insertHeld(roomId: string, release: Promise<void>): { inserted: Promise<void>; committed: Promise<void> } {
  const otherRepo = new DeliveryQueueRepository(other.db);
  let markInserted!: () => void;
  const inserted = new Promise<void>((resolve) => (markInserted = resolve));
  const committed = other.db.transaction(async (tx) => {
    await otherRepo.insertDeliveries(tx, [delivery(roomId)]);
    markInserted();
    await release;
  });
  return { inserted, committed };
}

describe.runIf(template.kind === 'postgres')('webhook queues: settling a head while its room gets a new event', () => {
  it('makes the new row due once its insert commits, when the head looked like the last of its queue', async () => {
    await fresh.database.db.transaction((tx) => repo.insertDeliveries(tx, [delivery(ROOM_A)]));
    const head = await claimHead(ROOM_A);

    let release!: () => void;
    const held = insertHeld(ROOM_A, new Promise<void>((resolve) => (release = resolve)));
    await held.inserted;
    // The insert saw the head still pending, so its row is queued behind it (not due).
    let settled = false;
    const settling = repo.settle([{ delivery: head, delivered: true, statusCode: 204 }]).then(() => (settled = true));
    // The settle found no next row and waits for the insert under way: it must not finish before it commits.
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    release();
    await held.committed;
    await settling;

    const rows = await queue(ROOM_A);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.due).toBe(true);
  });

  it('does not wait for an insert under way when the queue has a next row, and makes that row due', async () => {
    await fresh.database.db.transaction((tx) => repo.insertDeliveries(tx, [delivery(ROOM_B), delivery(ROOM_B)]));
    const head = await claimHead(ROOM_B);

    let release!: () => void;
    const held = insertHeld(ROOM_B, new Promise<void>((resolve) => (release = resolve)));
    await held.inserted;
    try {
      // Finishes while the insert's transaction (and its queue lock) is still open: it is released only afterwards.
      const outcome = await Promise.race([
        repo.settle([{ delivery: head, delivered: true, statusCode: 204 }]).then(() => 'settled'),
        new Promise((r) => setTimeout(() => r('still waiting'), 10_000)),
      ]);
      expect(outcome).toBe('settled');
    } finally {
      release();
      await held.committed;
    }

    const rows = await queue(ROOM_B);
    expect(rows.map((r) => r.due)).toEqual([true, false]);
  });

  it('keeps a run’s next row queued for the run; the run’s last settle, or freeing what it did not try, hands over', async () => {
    const insert = () =>
      fresh.database.db.transaction((tx) => repo.insertDeliveries(tx, [delivery(ROOM_C), delivery(ROOM_C), delivery(ROOM_C)]));
    const runOf = async () => {
      const head = await claimHead(ROOM_C);
      return [head, ...(await repo.claimFollowers([head], 1, 60_000))];
    };
    const settle = (d: ClaimedDelivery, next?: ClaimedDelivery) =>
      repo.settle([{ delivery: d, delivered: true, statusCode: 204, ...(next ? { next: next.id } : {}) }]);
    const dueOf = async () => (await queue(ROOM_C)).map((r) => r.due);

    await insert();
    let run = await runOf();
    // Settled with its next row named: that row stays queued (no other instance can take it), under the run's lease.
    await settle(run[0]!, run[1]);
    expect(await dueOf()).toEqual([false, false]);
    // The run's last settle names no next row: the queue's first pending row (not in the run) is due.
    await settle(run[1]!);
    expect(await dueOf()).toEqual([true]);

    // A run cut short after a delivery: freeing its untried rows makes the first of them due, not the ones behind.
    await insert();
    run = await runOf();
    expect(run).toHaveLength(2);
    await settle(run[0]!, run[1]);
    await repo.unclaim([run[1]!.id]);
    expect(await dueOf()).toEqual([true, false, false]);

    // A run whose head failed (it waits for its retry): its untried rows stay queued behind it.
    const [head, follower] = await runOf();
    await repo.retryLater(head!.id, head!.attempts, 500, 'HTTP 500', 60_000);
    await repo.unclaim([follower!.id]);
    expect(await dueOf()).toEqual([true, false, false]);
    const [retrying] = await queue(ROOM_C);
    expect(retrying!.id).toBe(head!.id);
  });
});

describe.runIf(template.kind === 'postgres')('webhook deliveries: statements that take several rows at once', () => {
  it('free a cut-short run in id order, so it never deadlocks with a removal, which locks them in that order', async () => {
    const db = fresh.database.db;
    const room = '01a2432f-21c0-76e3-8f79-00000000000c';
    await db.execute(sql`insert into chat_room (id, type, name, created_by) values (${room}, 'group', 'q', 'root')`);
    await db.transaction((tx) => repo.insertDeliveries(tx, [delivery(room), delivery(room)]));
    const [low, high] = (await queryRows<{ id: string }>(db, sql`select id from webhook_delivery where room_id = ${room} order by id`)).map(
      (r) => Number(r.id),
    );
    // Written again, the lower row now lies after the higher one: a sequential scan meets the higher one first.
    await db.execute(sql`update webhook_delivery set last_error = null where id = ${low!}`);

    // Another connection takes them in id order, as removing a webhook does, and stops after the first.
    let lockedFirst!: () => void;
    const first = new Promise<void>((resolve) => (lockedFirst = resolve));
    let goOn!: () => void;
    const second = new Promise<void>((resolve) => (goOn = resolve));
    const removal = other.db.transaction(async (tx) => {
      await tx.execute(sql`select id from webhook_delivery where id = ${low!} for update`);
      lockedFirst();
      await second;
      await tx.execute(sql`select id from webhook_delivery where id = ${high!} for update`);
    });
    await first;
    const unclaim = repo.unclaim([high!, low!]);
    // Long enough for the unclaim to lock whatever it takes before waiting for the lower row.
    await new Promise((r) => setTimeout(r, 300));
    goOn();
    // Both finish: PostgreSQL would cancel one of them after deadlock_timeout if the unclaim held the higher row.
    await expect(Promise.all([removal, unclaim])).resolves.toBeDefined();
    const left = await queryRows<{ n: number }>(
      db,
      sql`select count(*)::int as n from webhook_delivery where room_id = ${room} and locked_until is not null`,
    );
    expect(Number(left[0]!.n)).toBe(0);
  });
});

describe.runIf(template.kind === 'postgres')('removing a webhook while the log consumer handles a batch by position', () => {
  it('changes the registration before locking the webhook: the batch commits, then the webhook goes; no deadlock', async () => {
    const db = fresh.database.db;
    const room = '01a2432f-21c0-76e3-8f79-00000000000e';
    const [going, staying] = ['01a2432f-21c0-76e3-8f79-000000000011', '01a2432f-21c0-76e3-8f79-000000000012'];
    await db.execute(sql`insert into chat_room (id, type, name, created_by) values (${room}, 'group', 'q', 'root')`);
    for (const id of [going, staying])
      await db.execute(
        sql`insert into webhook (id, url, events, secret, created_by) values (${id}, 'http://127.0.0.1:9/x', '{*}', 's', 'root')`,
      );
    const log = new EventLogRepository(db);
    await log.register(WEBHOOKS_CONSUMER, ['message.created'], db, { byPosition: true });
    await db.transaction((tx) => log.append(tx, [{ type: 'message.created', roomId: room, payload: {} }]));
    const read = (await new EventLogRepository(other.db).readByPosition(WEBHOOKS_CONSUMER, 10))!;
    expect(read.events).toHaveLength(1);

    // The consumer, on another connection: moves its position (its row stays locked until commit), and only then
    // writes the delivery, whose foreign key check locks the webhook's row.
    let movedIt!: () => void;
    const moved = new Promise<void>((resolve) => (movedIt = resolve));
    const batch = other.db.transaction(async (tx) => {
      expect(await new EventLogRepository(other.db).advance(tx, WEBHOOKS_CONSUMER, read.from, read.next)).toBe(true);
      movedIt();
      await new Promise((r) => setTimeout(r, 300));
      await new DeliveryQueueRepository(other.db).insertDeliveries(tx, [
        { ...delivery(room), webhookId: going, eventId: `evt_${read.events[0]!.id}` },
      ]);
    });
    await moved;
    // Not the last webhook: the consumer's types are written again (its row, which the batch holds).
    const removal = webhooks.delete(going, () => ['message.created']);
    await expect(Promise.all([batch, removal])).resolves.toEqual([undefined, true]);
    const left = await queryRows<{ going: number; deliveries: number; read_to: number }>(
      db,
      sql`select (select count(*)::int from webhook where id = ${going}) as going,
            (select count(*)::int from webhook_delivery where webhook_id = ${going}) as deliveries,
            (select read_to from domain_event_consumer where name = ${WEBHOOKS_CONSUMER}) as read_to`,
    );
    expect({ ...left[0], read_to: Number(left[0]!.read_to) }).toEqual({ going: 0, deliveries: 0, read_to: read.next.to });
    await db.execute(sql`delete from webhook where id = ${staying}`);
    await log.unregister(WEBHOOKS_CONSUMER);
  });
});

describe.runIf(template.kind === 'postgres')('removing the last webhook while the log consumer handles a batch', () => {
  it('waits for the batch to commit, then removes the webhook and its deliveries; neither side is cancelled', async () => {
    const db = fresh.database.db;
    const room = '01a2432f-21c0-76e3-8f79-00000000000d';
    await db.execute(sql`insert into chat_room (id, type, name, created_by) values (${room}, 'group', 'q', 'root')`);
    // The webhook of this file's other tests goes first: the one removed below is then the last.
    await db.execute(sql`delete from webhook where id <> ${HOOK}`);
    await db.execute(sql`insert into domain_event_consumer (name, types) values (${WEBHOOKS_CONSUMER}, '{message.created}')`);
    const [event] = await queryRows<{ id: number }>(
      db,
      sql`insert into domain_event (type, room_id, payload) values ('message.created', ${room}, '{}') returning id`,
    );
    await db.execute(sql`insert into domain_event_pending (consumer, event_id) values (${WEBHOOKS_CONSUMER}, ${event!.id})`);

    // The consumer, on another connection: takes the event (its pending row stays locked until commit), and only
    // then writes the delivery, whose foreign key check locks the webhook's row.
    let tookIt!: () => void;
    const took = new Promise<void>((resolve) => (tookIt = resolve));
    const batch = other.db.transaction(async (tx) => {
      const taken = await new EventLogRepository(other.db).take(tx, WEBHOOKS_CONSUMER, [Number(event!.id)]);
      expect(taken.size).toBe(1);
      tookIt();
      // Long enough for the removal to reach whatever it waits for.
      await new Promise((r) => setTimeout(r, 300));
      await new DeliveryQueueRepository(other.db).insertDeliveries(tx, [{ ...delivery(room), eventId: `evt_${event!.id}` }]);
    });
    await took;
    const removal = webhooks.delete(HOOK, () => ['message.created']);
    // PostgreSQL cancels one of them (deadlock_timeout, 1 s) if the removal holds the webhook's row while it waits.
    await expect(Promise.all([batch, removal])).resolves.toEqual([undefined, true]);
    const left = await queryRows<{ hooks: number; deliveries: number; consumers: number; pending: number }>(
      db,
      sql`select (select count(*)::int from webhook) as hooks, (select count(*)::int from webhook_delivery) as deliveries,
            (select count(*)::int from domain_event_consumer where name = ${WEBHOOKS_CONSUMER}) as consumers,
            (select count(*)::int from domain_event_pending where consumer = ${WEBHOOKS_CONSUMER}) as pending`,
    );
    expect(left[0]).toEqual({ hooks: 0, deliveries: 0, consumers: 0, pending: 0 });
  });
});
