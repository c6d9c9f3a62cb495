import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { queryRows, type Database, type Executor } from '../src/db/client.js';
import { editInOneStatement } from '../src/messages/message-changes.statement.js';
import { reactInOneStatement } from '../src/reactions/reactions.statement.js';
import { documentVector } from '../src/text/tokenize.js';
import { dbRows, startAppWith, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { deleteMessage, expectChangeIndexWhole, okOf as ok, pin, react } from './helpers/changes.js';
import { freshDatabase, reopenDatabase as reopen, runMigration, type TestDatabase } from './helpers/databases.js';
import { buildMessages, buildRoom } from './helpers/factories.js';
import { historySnapshot, writeHistory } from './helpers/history.js';

// Migration 0020: a reaction moves no indexed column of chat_message (the change log finds the message through
// chat_message_change instead), so PostgreSQL can write it as a HOT update, with no new entry in any index.

const template = inject('template');
let t: TestApp;
let alice: Client, bob: Client;
const opened: TestDatabase[] = [];

beforeAll(async () => {
  t = await startTestApp();
  alice = await t.as('alice');
  bob = await t.as('bob');
});
afterAll(async () => {
  await t?.close();
  for (const db of opened) await db.drop();
});

/** chat_message, or its partitions: the relations whose statistics count its rows' updates. */
const MESSAGE_RELATIONS = sql`select c.oid from pg_class c where c.oid = 'chat_message'::regclass
  or c.oid in (select inhrelid from pg_inherits where inhparent = 'chat_message'::regclass)`;

/**
 * Rows of chat_message `write` updated, and how many of those were HOT updates: the backend's counts not yet reported
 * (which PostgreSQL may keep across transactions) before and after it, in one transaction.
 */
async function updatesOf(database: Database, write: (tx: Executor) => Promise<unknown>): Promise<{ updated: number; hot: number }> {
  return database.db.transaction(async (tx) => {
    const counts = async () =>
      (
        await queryRows<{ updated: number; hot: number }>(
          tx,
          sql`select coalesce(sum(pg_stat_get_xact_tuples_updated(r.oid)), 0)::int as updated,
                coalesce(sum(pg_stat_get_xact_tuples_hot_updated(r.oid)), 0)::int as hot
              from (${MESSAGE_RELATIONS}) r`,
        )
      )[0]!;
    const before = await counts();
    await write(tx);
    const after = await counts();
    return { updated: after.updated - before.updated, hot: after.hot - before.hot };
  });
}

const changesOf = async (c: Client, roomId: string, after = 0) =>
  (await ok(c.get(`/rooms/${roomId}/changes?after=${after}&limit=200`))).data;

describe('the change log without reactions in the indexes', () => {
  it('writes a reaction as a HOT update (no index entry), an edit as an ordinary one', async () => {
    const room = await buildRoom(alice, { participantIds: ['bob'] });
    const [first, second] = await buildMessages(alice, room.id, 2);
    const database = t.app.database;
    expect(await updatesOf(database, (tx) => reactInOneStatement(tx, first!.id, 'bob', '👍', true))).toEqual({ updated: 1, hot: 1 });
    expect(await updatesOf(database, (tx) => reactInOneStatement(tx, first!.id, 'alice', '🎉', true))).toEqual({ updated: 1, hot: 1 });
    const content = 'edited, words in the text indexes';
    const input = { content, searchDoc: documentVector(content), mentions: undefined, notBefore: null };
    expect(await updatesOf(database, (tx) => editInOneStatement(tx, second!.id, 'alice', input))).toEqual({ updated: 1, hot: 0 });
    await expectChangeIndexWhole(t, room.id);
  });

  it('lists a message a reaction moved at its change, and moves it back with its next edit, pin or delete', async () => {
    const room = await buildRoom(alice, { participantIds: ['bob'] });
    const [a, b, c] = await buildMessages(alice, room.id, 3);
    const position = async () => (await ok(alice.get(`/rooms/${room.id}`))).lastChangeSeq as number;
    const listed = () =>
      dbRows<{ id: string }>(t, sql`select message_id as id from chat_message_change where room_id = ${room.id} order by change_seq`);

    await ok(react(bob, a!.id, '👍'));
    await ok(react(bob, b!.id, '👍'));
    await ok(react(alice, a!.id, '👀'));
    expect((await listed()).map((r) => r.id)).toEqual([b!.id, a!.id]);
    await expectChangeIndexWhole(t, room.id);
    const afterReactions = await position();

    await ok(alice.patch(`/messages/${a!.id}`, { content: 'a, edited' }));
    await ok(pin(alice, room.id, b!.id));
    await ok(react(bob, c!.id, '🎉'));
    expect((await listed()).map((r) => r.id)).toEqual([c!.id]);
    await expectChangeIndexWhole(t, room.id);
    await ok(deleteMessage(alice, c!.id));
    expect(await listed()).toEqual([]);
    await expectChangeIndexWhole(t, room.id);

    // Each message once, at its latest change, in order: from the start and from a position between.
    const all = await changesOf(alice, room.id);
    expect(all.map((m: { id: string }) => m.id)).toEqual([a!.id, b!.id, c!.id]);
    expect(all.map((m: { changeSeq: number }) => m.changeSeq)).toEqual([afterReactions + 1, afterReactions + 2, afterReactions + 4]);
    expect((await changesOf(alice, room.id, afterReactions + 1)).map((m: { id: string }) => m.id)).toEqual([b!.id, c!.id]);
  });

  it('pages through messages a reaction moved and messages at their base alike, each once', async () => {
    const room = await buildRoom(alice, { participantIds: ['bob'] });
    const sent = await buildMessages(alice, room.id, 30);
    // Every third message reacted to, out of order: the two lists interleave.
    for (const m of [...sent].reverse().filter((_, i) => i % 3 === 0)) await ok(react(bob, m.id, '👍'));
    const seen: Array<{ id: string; changeSeq: number }> = [];
    for (let after = 0; ;) {
      const page = await ok(alice.get(`/rooms/${room.id}/changes?after=${after}&limit=7`));
      seen.push(...page.data);
      if (!page.hasMore) break;
      after = page.data.at(-1).changeSeq;
    }
    expect(seen).toHaveLength(30);
    expect(new Set(seen.map((m) => m.id)).size).toBe(30);
    const seqs = seen.map((m) => m.changeSeq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    await expectChangeIndexWhole(t, room.id);
  });
});

describe('migration 0020 on a database that has messages', () => {
  /** The database as migration 0019 left it: the change log's index on change_seq, no base, no list. */
  async function as0019(database: Database): Promise<void> {
    for (const statement of [
      sql`drop table chat_message_change`,
      sql`drop index chat_message_base_change_idx`,
      sql`alter table chat_message drop column base_change_seq`,
      sql`create index chat_message_change_idx on chat_message (room_id, change_seq)`,
    ])
      await database.db.execute(statement);
  }

  // A partitioned template (the postgres-partitioned project) cannot go back to one table.
  it.each(template.partitions > 1 ? [template.partitions] : [1, 4])(
    'on %i partition(s): every answer as before, reactions then HOT, and the same answers after a reshape',
    async (partitions) => {
      const db = await freshDatabase(template);
      opened.push(db);
      await db.database.migrate({ partitions });
      const env = { DATABASE_PARTITIONS: String(partitions) };
      const s1 = await startAppWith(db.database, env);
      const rooms = await writeHistory(s1);
      // A message whose latest change is a reaction: before 0020 its change_seq is past where it was sent.
      const [reacted] = await dbRows<{ id: string }>(s1, sql`select id from chat_message where room_id = ${rooms[1]} order by seq limit 1`);
      await ok(react(await s1.as('bob'), reacted!.id, '🎉'));
      const before = await historySnapshot(s1, rooms);
      await s1.close();

      const old = await reopen(db);
      await as0019(old);
      await runMigration(old, '0020_reactions_off_the_indexes.sql');
      const [drift] = await queryRows<{ n: number }>(
        old.db,
        sql`select count(*)::int as n from chat_message where base_change_seq <> change_seq`,
      );
      expect(drift!.n).toBe(0);

      const s2 = await startAppWith(old, env);
      expect(await historySnapshot(s2, rooms)).toEqual(before);
      await expectChangeIndexWhole(s2, rooms[1]!);
      expect(await updatesOf(s2.app.database, (tx) => reactInOneStatement(tx, reacted!.id, 'alice', '👀', true))).toEqual({
        updated: 1,
        hot: 1,
      });
      await expectChangeIndexWhole(s2, rooms[1]!);
      const after = await historySnapshot(s2, rooms);
      await s2.close();

      if (partitions === 1) return;
      const reshaping = await reopen(db);
      try {
        await reshaping.migrate({ partitions: 2 * partitions, repartition: true });
      } finally {
        await reshaping.close();
      }
      const s3 = await startAppWith(await reopen(db), { DATABASE_PARTITIONS: String(2 * partitions) });
      try {
        expect(await historySnapshot(s3, rooms)).toEqual(after);
        await expectChangeIndexWhole(s3, rooms[1]!);
      } finally {
        await s3.close();
      }
    },
    60_000,
  );
});
