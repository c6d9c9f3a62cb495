import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, type Db } from '../src/db/client.js';
import { INSERT_MESSAGES } from '../src/messages/messages.repository.js';
import { MESSAGES_TO_NOTIFY } from '../src/notifications/notifications.repository.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { buildRoom } from './helpers/factories.js';

/**
 * Plans of hot statements on a table of a small deployment's size. A list of ids handed over as JSON looks like 100
 * rows to the planner; written as `in (select …)` it was hashed against a sequential scan of every message, which on
 * a few thousand messages is the cheaper plan on paper and a real cost per call (7 ms a batch of notifications at
 * 6,000 messages, measured). These tests fail on that shape.
 */
let t: TestApp;
let ids: string[];
let room: string;

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; Plans?: PlanNode[] };
const scansOf = (node: PlanNode): string[] => [
  ...(node['Relation Name'] ? [`${node['Node Type']} on ${node['Relation Name']}`] : []),
  ...(node.Plans ?? []).flatMap(scansOf),
];

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
  const [row] = await queryRows<{ 'QUERY PLAN': unknown }>(db, sql`explain (format json) ${statement}`);
  const raw = row!['QUERY PLAN'];
  const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan: PlanNode }>;
  return scansOf(plan[0]!.Plan).filter((s) => s.endsWith(` on ${table}`));
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
});
