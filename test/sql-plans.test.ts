import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, type Db } from '../src/db/client.js';
import { chatParticipant, chatRoom } from '../src/db/schema.js';
import { DONE, READ_BY_POSITION } from '../src/event-log/event-log.repository.js';
import { INSERT_MESSAGES } from '../src/messages/write.statements.js';
import { DELETES_THAT_CONCERN_NOTIFICATIONS, deletionsToHandleSql, editsToNotifySql } from '../src/notifications/changes.repository.js';
import { MESSAGES_TO_NOTIFY } from '../src/notifications/notifications.repository.js';
import { MessagesRepository } from '../src/messages/messages.repository.js';
import { MEMBERSHIP_OF } from '../src/rooms/rooms.statements.js';
import { membershipKey, RoomsRepository } from '../src/rooms/rooms.repository.js';
import { compileQuery, parseQuery } from '../src/search/query.js';
import { searchWhere } from '../src/search/search.repository.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { nodesOf, planOf, type PlanNode } from './helpers/plans.js';
import { buildRoom } from './helpers/factories.js';

/**
 * Plans of hot statements on tables of a small deployment's size, and under statistics that lag a queue's churn: the
 * planner's estimates there chose plans that read a whole table per call (a list of ids handed over as JSON looks
 * like 100 rows to it), or per row. Each test fails on the statement's earlier form.
 */
let t: TestApp;
let ids: string[];
let room: string;

const scansOf = (node: PlanNode): string[] =>
  nodesOf(node)
    .filter((n) => n['Relation Name'])
    .map((n) => `${n['Node Type']} on ${n['Relation Name']}`);

beforeAll(async () => {
  t = await startTestApp();
  const owner = await t.as('plan-owner', { name: 'O' });
  room = (await buildRoom(owner)).id;
  await t.app.database.db.execute(
    sql`insert into chat_message (id, room_id, seq, sender_id, type, content, search_doc)
        select gen_random_uuid(), ${room}, g, 'plan-owner', 'text', 'bulk ' || g, ''::tsvector from generate_series(1, 6000) g`,
  );
  // A deployment's worth of other rooms, none in slow mode.
  await t.app.database.db.execute(
    sql`insert into chat_room (id, type, created_by) select gen_random_uuid(), 'group', 'plan-other' from generate_series(1, 5000)`,
  );
  await t.app.database.db.execute(sql`analyze chat_message`);
  await t.app.database.db.execute(sql`analyze chat_room`);
  ids = (
    await queryRows<{ id: string }>(t.app.database.db, sql`select id from chat_message where room_id = ${room} order by seq desc limit 10`)
  ).map((r) => r.id);
});
afterAll(async () => t?.close());

async function tableScans(db: Db, statement: ReturnType<typeof sql>, table: string): Promise<string[]> {
  return scansOf(await planOf(db, statement)).filter((s) => s.endsWith(` on ${table}`));
}

describe('hot statement plans at 6,000 messages in 5,000 rooms', () => {
  it('the messages to notify are read by their ids, not by a scan of every message', async () => {
    const scans = await tableScans(t.app.database.db, MESSAGES_TO_NOTIFY.inline([JSON.stringify(ids), false]), 'chat_message');
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);
    // And it answers for exactly those messages.
    expect((await MESSAGES_TO_NOTIFY(t.app.database.db, [JSON.stringify(ids), false])).map((m) => m.messageId).sort()).toEqual(
      [...ids].sort(),
    );
  });

  it('the edits and deletes the notifications read are joined to messages and rooms by index', async () => {
    const db = t.app.database.db;
    const edits = ids.slice(0, 3).map((messageId, n) => ({ eventId: n + 1, messageId, newMentions: ['plan-owner'] }));
    const editScans = await tableScans(db, editsToNotifySql(edits, true), 'chat_message');
    expect(editScans.length).toBeGreaterThan(0);
    expect(editScans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);
    const deleted = ids.slice(0, 3).map((messageId) => ({ messageId, roomId: room }));
    const deleteScans = await tableScans(db, deletionsToHandleSql(deleted), 'chat_room');
    expect(deleteScans.length).toBeGreaterThan(0);
    expect(deleteScans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);
    // And they answer: the edited messages, none of them deleted; no deletion concerns a notification here.
    const found = await queryRows<{ messageId: string }>(db, editsToNotifySql(edits, false));
    expect(found.map((r) => r.messageId).sort()).toEqual(ids.slice(0, 3).sort());
    expect(await queryRows(db, deletionsToHandleSql(deleted))).toEqual([]);
  });

  it('the access checks asked together read their rooms and participant rows by key, not by a scan', async () => {
    const db = t.app.database.db;
    const others = (await queryRows<{ id: string }>(db, sql`select id from chat_room where created_by = 'plan-other' limit 40`)).map(
      (r) => r.id,
    );
    const roomIds = [room, ...others];
    const userIds = ['plan-owner', ...others.map((_, n) => `plan-user-${n}`)];
    const plan = await planOf(db, MEMBERSHIP_OF.inline([JSON.stringify(roomIds), JSON.stringify(userIds)]));
    const scans = scansOf(plan).filter((s) => s.endsWith(' on chat_room') || s.endsWith(' on chat_participant'));
    expect(scans.some((s) => s.endsWith(' on chat_room'))).toBe(true);
    expect(scans.some((s) => s.endsWith(' on chat_participant'))).toBe(true);
    expect(scans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);
    // And it answers each pair asked: the owner is in their room, nobody else in any, and a room that is not there is absent.
    const missing = '01a24a19-eb90-7dd5-97de-6600ab86f79b';
    const asks = [
      { roomId: room, userId: 'plan-owner' },
      { roomId: room, userId: 'plan-user-0' },
      { roomId: others[0]!, userId: 'plan-owner' },
      { roomId: missing, userId: 'plan-owner' },
      { roomId: room.toUpperCase(), userId: 'plan-owner' },
    ];
    const found = await new RoomsRepository(db).findManyWithMembership(asks);
    expect(found.get(membershipKey(room, 'plan-owner'))).toMatchObject({
      room: { id: room },
      participant: { userId: 'plan-owner', roomId: room },
    });
    expect(found.get(membershipKey(room, 'plan-user-0'))).toMatchObject({ room: { id: room }, participant: null });
    expect(found.get(membershipKey(others[0]!, 'plan-owner'))).toMatchObject({ room: { id: others[0] }, participant: null });
    expect(found.has(membershipKey(missing, 'plan-owner'))).toBe(false);
    expect(found.get(membershipKey(room.toUpperCase(), 'plan-owner'))).toMatchObject({
      room: { id: room },
      participant: { userId: 'plan-owner' },
    });
    expect(found.size).toBe(4);

    // Mapped by hand, each row is what the ORM reads of both tables: every column, with its type (set ones included).
    await db.execute(sql`update chat_room set description = 'd', slow_mode_s = 7 where id = ${room}`);
    await db.execute(
      sql`update chat_participant set last_read_at = now(), last_delivered_at = now(), muted = true,
        muted_until = now() + interval '1 hour', hide_previews = true where room_id = ${room} and user_id = 'plan-owner'`,
    );
    try {
      const again = await new RoomsRepository(db).findManyWithMembership([{ roomId: room, userId: 'plan-owner' }]);
      const [ormRoom] = await db.select().from(chatRoom).where(eq(chatRoom.id, room));
      const [ormParticipant] = await db
        .select()
        .from(chatParticipant)
        .where(and(eq(chatParticipant.roomId, room), eq(chatParticipant.userId, 'plan-owner')));
      expect(ormParticipant!.mutedUntil).toBeInstanceOf(Date);
      expect(again.get(membershipKey(room, 'plan-owner'))).toStrictEqual({ room: ormRoom, participant: ormParticipant });
    } finally {
      await db.execute(sql`update chat_room set description = null, slow_mode_s = 0 where id = ${room}`);
      await db.execute(
        sql`update chat_participant set last_read_at = null, last_delivered_at = null, muted = false, muted_until = null,
          hide_previews = false where room_id = ${room} and user_id = 'plan-owner'`,
      );
    }
  });

  it("a send's slow-mode check reads the rooms in slow mode, not every room", async () => {
    const message = {
      ord: 0,
      id: '01a24a19-eb90-7dd5-97de-6600ab86f79a',
      roomId: room,
      senderId: 'plan-owner',
      type: 'text',
      content: 'hello',
      mentions: [],
      replyToSeq: null,
      clientMessageId: null,
      hasMedia: false,
      searchDoc: '',
      slowChecked: false,
    };
    const scans = await tableScans(t.app.database.db, INSERT_MESSAGES.inline([JSON.stringify([message])]), 'chat_room');
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);
  });

  it("a send looks for a push subscription among its room's participants only (Web Push alone)", async () => {
    const db = t.app.database.db;
    // Two participants in each of the other rooms, and a third of those users subscribed.
    await db.execute(
      sql`insert into chat_participant (room_id, user_id, role)
          select r.id, 'plan-user-' || (row_number() over () + k), 'member' from chat_room r cross join generate_series(0, 1) k
          where r.created_by = 'plan-other'`,
    );
    await db.execute(
      sql`insert into push_subscription (id, user_id, endpoint, p256dh, auth)
          select gen_random_uuid(), 'plan-user-' || g, 'https://push.example/plan-' || g, 'k', 'a' from generate_series(1, 10000, 3) g`,
    );
    await db.execute(sql`analyze chat_participant`);
    await db.execute(sql`analyze push_subscription`);
    const message = { ord: 0, id: '01a24a19-eb90-7dd5-97de-6600ab86f79b', roomId: room, senderId: 'plan-owner', type: 'text' };
    const send = INSERT_MESSAGES.inline([JSON.stringify([{ ...message, content: 'hi', mentions: [], searchDoc: '' }])]);
    for (const table of ['chat_participant', 'push_subscription']) {
      const scans = await tableScans(db, send, table);
      expect(scans.length).toBeGreaterThan(0);
      expect(scans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);
    }
  });

  it('an event log take deletes the rows it locked by their position, however stale the statistics', async () => {
    const db = t.app.database.db;
    // What a consumer meets after a burst: statistics taken when the queue was pages of dead rows around one live
    // row, then a backlog of thousands they do not know of (the old form took minutes a batch on PostgreSQL here).
    await db.execute(sql`alter table domain_event_pending set (autovacuum_enabled = false)`);
    await db.execute(sql`insert into domain_event_pending (consumer, event_id) select 'plan-test', g from generate_series(1, 5000) g`);
    await db.execute(sql`delete from domain_event_pending where consumer = 'plan-test'`);
    await db.execute(sql`insert into domain_event_pending (consumer, event_id) values ('plan-test', 999999)`);
    await db.execute(sql`analyze domain_event_pending`);
    await db.execute(sql`insert into domain_event_pending (consumer, event_id) select 'plan-test', g from generate_series(1, 5000) g`);
    const taking = JSON.stringify(Array.from({ length: 200 }, (_, i) => 1000 + i));
    const del = nodesOf(await planOf(db, DONE.inline(['plan-test', taking]))).find((n) => n['Node Type'] === 'ModifyTable');
    expect(del?.Operation).toBe('Delete');
    // Straight to the rows it locked: no join back to the queue that could read it again for every row.
    const input = del!.Plans!.filter((p) => p['Parent Relationship'] === 'Outer');
    expect(input.map((p) => `${p['Node Type']} on ${p['Relation Name']}`)).toEqual(['Tid Scan on domain_event_pending']);
    const taken = (await DONE(db, ['plan-test', taking])).map((r) => Number(r.event_id));
    expect(taken.sort((a, b) => a - b)).toEqual(JSON.parse(taking));
    const left = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from domain_event_pending where consumer = 'plan-test'`);
    expect(left[0]!.n).toBe(4801);
    await db.execute(sql`delete from domain_event_pending where consumer = 'plan-test'`);
    await db.execute(sql`alter table domain_event_pending reset (autovacuum_enabled)`);
  });

  it('a read by position reads the log by its primary key, near its position only', async () => {
    const db = t.app.database.db;
    // 20,000 events the statistics do not know of yet (a log that grew since the last analyze), the consumer 200
    // behind the end: its read (100 events, the ids they span) must not read the rest.
    await db.execute(
      sql`insert into domain_event (type, room_id, payload) select 'plan.read', null, '{}'::jsonb from generate_series(1, 20000)`,
    );
    await db.execute(
      sql`insert into domain_event_consumer (name, types, read_to, gaps)
          values ('plan-reader', '{plan.read}', (select max(id) - 200 from domain_event), '[]')`,
    );
    const plan = await planOf(db, READ_BY_POSITION.inline(['plan-reader', 100]), { analyze: true });
    const read = (n: PlanNode): number =>
      nodesOf(n)
        .filter((m) => m['Relation Name'] === 'domain_event')
        .reduce((sum, m) => sum + (m['Actual Rows'] ?? 0) * (m['Actual Loops'] ?? 1), 0);
    // 100 events and the 100 ids they span (and the log's highest id): hundreds of rows, not the 20,000.
    expect(read(plan)).toBeGreaterThan(0);
    expect(read(plan)).toBeLessThan(600);
    const rows = await READ_BY_POSITION(db, ['plan-reader', 100]);
    expect(rows.filter((r) => r.from_gaps === null)).toHaveLength(100);
    await db.execute(sql`delete from domain_event_consumer where name = 'plan-reader'`);
    await db.execute(sql`delete from domain_event where type = 'plan.read'`);
  });

  it("a delete looks for its message in its room's notifications, not in every notification", async () => {
    const db = t.app.database.db;
    // Notifications gathering for offline users in a deployment's worth of rooms.
    await db.execute(
      sql`insert into notification_outbox (id, user_id, room_id, room_type, message_ids, last_seq, sender_id, preview)
          select gen_random_uuid(), 'plan-offline', r.id, 'group', array[gen_random_uuid()], 1, 'plan-other', 'hi'
          from chat_room r where r.created_by = 'plan-other'`,
    );
    await db.execute(sql`analyze notification_outbox`);
    const payload = JSON.stringify({ messageId: ids[0], roomId: room });
    const concerns = DELETES_THAT_CONCERN_NOTIFICATIONS.when({
      type: sql`'message.deleted'`,
      roomId: sql`${room}::uuid`,
      payload: sql`${payload}::jsonb`,
    });
    const scans = await tableScans(db, sql`select ${concerns} as concerns`, 'notification_outbox');
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);
  });

  it('a search can read the text indexes, which hold live messages only (migration 0019)', async () => {
    const db = t.app.database.db;
    // The indexes the search statement can use at all: at this size the planner rightly walks the room's newest
    // messages instead, so scans other than bitmap ones are switched off. A partial index whose condition the
    // statement does not imply is never among them (the room's btree would be used instead).
    const indexes = (q: string) =>
      db.transaction(async (tx) => {
        await tx.execute(sql`set local enable_seqscan = off`);
        await tx.execute(sql`set local enable_indexscan = off`);
        const { must, mustNot } = compileQuery(parseQuery(q));
        const where = searchWhere([room], { userId: 'plan-owner', must, mustNot, limit: 20 });
        const plan = await planOf(tx, sql`${new MessagesRepository(tx).newestMatchingQuery(where, 21)}`);
        // The messages' own scan, not that of the replies they quote (the same table under another alias).
        const heap = nodesOf(plan).find((n) => n['Node Type'] === 'Bitmap Heap Scan' && n.Alias === 'chat_message');
        return nodesOf(heap ?? plan)
          .filter((n) => n['Node Type'] === 'Bitmap Index Scan')
          .map((n) => n['Index Name']!)
          .sort();
      });
    // A word: the full-text index, and the trigram index for it inside longer words.
    expect(await indexes('xylophone')).toEqual(['chat_message_content_trgm_idx', 'chat_message_search_idx']);
    // A short word matches by token only.
    expect(await indexes('xy')).toEqual(['chat_message_search_idx']);
  });
});
