import { sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EraseRepository } from '../src/admin/erase.repository.js';
import type { Executor } from '../src/db/client.js';
import { startTestApp, type TestApp } from './helpers/app.js';

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
