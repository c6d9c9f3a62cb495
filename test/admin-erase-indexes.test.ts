import { sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EraseRepository, roomWithLiveMessagesPastSql } from '../src/admin/erase.repository.js';
import type { Executor } from '../src/db/client.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { nodesOf, planOf } from './helpers/plans.js';
import { buildRoom } from './helpers/factories.js';

/**
 * An erase's last batch finds where others' messages (and their earlier versions) name the user (mentions, pins,
 * deletions) through partial indexes: one statement over every message held that batch for about a second a million
 * rows, on the database the sends need. A partial index serves a statement only when the statement repeats the index's condition, so a reworded
 * statement would quietly read every message again: here each of the batch's statements is explained with sequential
 * scans priced out, and none may read chat_message or chat_message_edit (or a partition of either) from end to end.
 */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** The statements `work` runs through the executor it is given, recorded as they go. */
function recording(tx: Executor, seen: SQL[]): Executor {
  return new Proxy(tx, {
    get(target, prop, receiver) {
      if (prop !== 'execute') return Reflect.get(target, prop, receiver) as unknown;
      return (q: SQL) => {
        seen.push(q);
        return target.execute(q);
      };
    },
  });
}

describe("an erase's last batch", () => {
  it('finds mentions (in earlier versions too), pins and deletions by the user through their indexes, never by reading every message', async () => {
    const plans: string[] = [];
    await t.app.database.db.transaction(async (tx) => {
      const seen: SQL[] = [];
      await new EraseRepository(recording(tx, seen)).eraseTraces('u-erase-indexes');
      expect(seen.length).toBeGreaterThan(10);
      await tx.execute(sql`set local enable_seqscan = off`);
      for (const q of seen) {
        const res = (await tx.execute(sql`explain ${q}`)) as unknown as { rows: Array<{ 'QUERY PLAN': string }> };
        plans.push(res.rows.map((r) => r['QUERY PLAN']).join('\n'));
      }
    });
    const all = plans.join('\n');
    for (const index of [
      'chat_message_mentions_idx',
      'chat_message_pinned_idx',
      'chat_message_deleted_by_idx',
      'chat_message_edit_mentions_idx',
    ]) {
      // With DATABASE_PARTITIONS each partition's index is its parent's name and the partition's suffix.
      expect(all).toMatch(new RegExp(`${index}(_p\\d+_\\d+)?\\b`));
    }
    // Neither the messages nor their earlier versions (chat_message_edit) are read whole.
    expect(all).not.toMatch(/Seq Scan on chat_message(_edit)?(_p\d+_\d+)?\b/);
  });
});

describe("an erase's look at the end for messages sent meanwhile", () => {
  /** Rows `q` read and threw away, by its executed plan. */
  async function thrownAway(q: SQL): Promise<number> {
    const plan = await planOf(t.app.database.db, q, { analyze: true });
    return nodesOf(plan).reduce((sum, n) => sum + (n['Rows Removed by Filter'] ?? 0), 0);
  }

  it('reads each room from past what was done there, not the tombstones the job just made', async () => {
    const user = 'u-erase-sweep';
    const room = (await buildRoom(await t.as(user))).id;
    // Others' messages in other rooms, so the planner sees a table where one user's messages are few.
    await t.app.database.db.execute(
      sql`with rooms as (insert into chat_room (id, type, created_by) select gen_random_uuid(), 'group', 'u-other'
                         from generate_series(1, 100) returning id)
          insert into chat_message (id, room_id, seq, sender_id, type, content, search_doc)
          select gen_random_uuid(), r.id, g, 'u-other-' || (g % 7), 'text', 'hi', ''::tsvector
          from rooms r, generate_series(1, 200) g`,
    );
    // 2,000 tombstones the job made, then one message sent meanwhile.
    await t.app.database.db.execute(
      sql`insert into chat_message (id, room_id, seq, sender_id, type, content, search_doc, deleted_at, deleted_by)
          select gen_random_uuid(), ${room}, g, ${user}, 'text', '', ''::tsvector, case when g <= 2000 then now() end,
            case when g <= 2000 then 'system' end
          from generate_series(1, 2001) g`,
    );
    await t.app.database.db.execute(sql`update chat_room set last_seq = 2001 where id = ${room}`);
    await t.app.database.db.execute(sql`analyze chat_message`);
    const passed = new Map([[room, 2000]]);
    expect(await new EraseRepository(t.app.database.db).roomWithLiveMessagesPast(user, passed)).toBe(room);
    expect(await thrownAway(roomWithLiveMessagesPastSql(user, passed))).toBeLessThan(10);
    // A look from the start (what the job did before) reads every tombstone to find it.
    expect(await thrownAway(roomWithLiveMessagesPastSql(user, new Map()))).toBeGreaterThanOrEqual(2000);
  });
});
