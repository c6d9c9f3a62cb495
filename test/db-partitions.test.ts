import { spawnSync } from 'node:child_process';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { type Database } from '../src/db/client.js';
import { messagePartitions, partitionsOf, PartitionsMismatch } from '../src/db/partitions.js';
import { startAppWith, TEST_JWT_SECRET } from './helpers/app.js';
import { freshDatabase, reopenDatabase as reopen, runMigration, type TestDatabase } from './helpers/databases.js';
import { historySnapshot as snapshot, writeHistory } from './helpers/history.js';

// DATABASE_PARTITIONS: a new install gets a partitioned chat_message; an existing one is reshaped by
// `npm run migrate -- --repartition` and answers exactly as before. On either engine (the same SQL runs on both).

const template = inject('template');
const opened: TestDatabase[] = [];
afterAll(async () => {
  for (const db of opened) await db.drop();
});

async function fresh(): Promise<TestDatabase> {
  const db = await freshDatabase(template);
  opened.push(db);
  return db;
}

const rows = async <T>(database: Database, q: ReturnType<typeof sql>) => ((await database.db.execute(q)) as unknown as { rows: T[] }).rows;

/**
 * The storage options and conditions (`live`) of the GIN indexes of chat_message and its partitions over `columns` (by
 * default the text): each partition's, or the table's own.
 */
const ginOptions = (database: Database, columns = ['search_doc', 'content'], table = 'chat_message') =>
  rows<{ name: string; options: string | null; live: string | null }>(
    database,
    sql`select c.relname as name, array_to_string(c.reloptions, ',') as options, pg_get_expr(x.indpred, x.indrelid) as live
          from pg_class c join pg_index x on x.indexrelid = c.oid join pg_am a on a.oid = c.relam
          join pg_attribute col on col.attrelid = x.indrelid and col.attnum = x.indkey[0]
         where c.relkind = 'i' and a.amname = 'gin' and (x.indrelid = ${table}::regclass
            or x.indrelid in (select inhrelid from pg_inherits where inhparent = ${table}::regclass))
           and col.attname in (${sql.join(
             columns.map((c) => sql`${c}`),
             sql`, `,
           )})
         order by 1`,
  );

/** The app on `database` with DATABASE_PARTITIONS, as main.ts builds it; it closes the database when it closes. */
const serve = (database: Database, partitions: number) => startAppWith(database, { DATABASE_PARTITIONS: String(partitions) });

describe('DATABASE_PARTITIONS', () => {
  it('is read as a whole number of partitions from 1 to 1024', () => {
    const problems = (value: string) => {
      try {
        loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, DATABASE_PARTITIONS: value });
        return [];
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
    };
    for (const bad of ['0', '1025', 'four', '2.5', '-4']) expect(problems(bad).join(' ')).toMatch(/DATABASE_PARTITIONS/);
    expect(loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, DATABASE_PARTITIONS: '16' }).databasePartitions).toBe(16);
    expect(loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET }).databasePartitions).toBe(1);
  });

  it('gives a new install its partitions at the first start, and the service works on them', async () => {
    const db = await fresh();
    await db.database.migrate({ partitions: 4 });
    expect(await messagePartitions(db.database.db)).toBe(4);
    // What grows with the messages, partitioned by message: reactions and earlier versions.
    expect(await partitionsOf(db.database.db, 'chat_reaction')).toBe(4);
    expect(await partitionsOf(db.database.db, 'chat_message_edit')).toBe(4);
    // Each partition's GIN indexes keep the small pending list (migration 0016) the one table's have.
    const gin = await ginOptions(db.database);
    expect(gin).toHaveLength(8);
    for (const index of gin) expect(index).toMatchObject({ options: 'gin_pending_list_limit=64', live: '(deleted_at IS NULL)' });
    // The erase's index of mentions (migration 0017) is written in place on every partition.
    const mentions = await ginOptions(db.database, ['mentions']);
    expect(mentions).toHaveLength(4);
    for (const index of mentions) expect(index.options).toBe('fastupdate=false');
    // And that of earlier versions' mentions (migration 0018), on every partition of chat_message_edit.
    const editMentions = await ginOptions(db.database, ['mentions'], 'chat_message_edit');
    expect(editMentions.map((i) => i.options)).toEqual(Array(4).fill('fastupdate=false'));
    const s = await serve(db.database, 4);
    try {
      const rooms = await writeHistory(s);
      const alice = await s.as('alice');
      const history = (await alice.get(`/rooms/${rooms[0]}/messages?limit=100`)).body.data;
      expect(history.map((m: any) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(history[5]).toMatchObject({ replyTo: { seq: 5 } });
      expect(history[0]).toMatchObject({ content: 'partition probe edited', reactions: [{ emoji: '👍', count: 1 }] });
      // The messages spread over the partitions (25 rooms in one of 4 by chance: 4^-24), each room's in one.
      for (let r = 0; r < 20; r++) {
        const room = await alice.post('/rooms', { type: 'direct', participantIds: [`u${r}`] });
        expect((await alice.post(`/rooms/${room.body.id}/messages`, { content: 'spread' })).status).toBe(201);
      }
      const spread = await rows<{ part: string; rooms: number }>(
        db.database,
        sql`select tableoid::regclass::text as part, count(distinct room_id)::int as rooms from chat_message group by 1`,
      );
      expect(spread.length).toBeGreaterThan(1);
      expect(spread.reduce((a, p) => a + p.rooms, 0)).toBe(25);
      // A reply still cannot point into another room.
      const elsewhere = (await alice.get(`/rooms/${rooms[1]}/messages?limit=1`)).body.data[0];
      const bad = await alice.post(`/rooms/${rooms[0]}/messages`, { content: 'x', replyToId: elsewhere.id });
      expect(bad.status).toBe(400);
      expect((await alice.get(`/rooms/${rooms[0]}/messages?limit=100`)).body.data).toHaveLength(6);
    } finally {
      await s.close();
    }
  });

  it('refuses to reshape a table holding messages unless asked to, then carries every message over unchanged', async () => {
    const db = await fresh();
    const s1 = await serve(db.database, 1);
    expect(await ginOptions(db.database)).toEqual([
      { name: 'chat_message_content_trgm_idx', options: 'gin_pending_list_limit=64', live: '(deleted_at IS NULL)' },
      { name: 'chat_message_search_idx', options: 'gin_pending_list_limit=64', live: '(deleted_at IS NULL)' },
    ]);
    const rooms = await writeHistory(s1);
    const before = await snapshot(s1, rooms);
    await s1.close();

    let database = await reopen(db);
    const start = database.migrate({ partitions: 4 });
    await expect(start).rejects.toBeInstanceOf(PartitionsMismatch);
    await expect(start).rejects.toThrow(/--repartition/);
    expect(await messagePartitions(database.db)).toBe(1); // nothing moved
    const logged: string[] = [];
    await database.migrate({ partitions: 4, repartition: true, log: (m) => logged.push(m) });
    expect(await messagePartitions(database.db)).toBe(4);
    expect(logged).toEqual([
      expect.stringMatching(/^chat_message: one table → 4 partitions, 30 rows/),
      expect.stringMatching(/^chat_reaction: one table → 4 partitions, 1 rows/),
      expect.stringMatching(/^chat_message_edit: one table → 4 partitions, 1 rows/),
    ]);

    const s2 = await serve(database, 4);
    try {
      expect(await snapshot(s2, rooms)).toEqual(before);
      // Writes go on where they stopped: the next seq, a reply to a copied message, a reaction on one.
      const alice = await s2.as('alice');
      const old = (await alice.get(`/rooms/${rooms[1]}/messages?limit=1&after=0`)).body.data[0];
      const next = await alice.post(`/rooms/${rooms[1]}/messages`, { content: 'after the move', replyToId: old.id });
      expect(next.status).toBe(201);
      expect(next.body).toMatchObject({ seq: 7, replyTo: { seq: 1 } });
      expect((await alice.put(`/messages/${old.id}/reactions/${encodeURIComponent('🎉')}`)).status).toBe(200);
    } finally {
      await s2.close();
    }

    // From 4 to 8 the same way; back to one table is refused with what to do instead.
    database = await reopen(db);
    try {
      await database.migrate({ partitions: 8, repartition: true });
      expect(await messagePartitions(database.db)).toBe(8);
      expect(await partitionsOf(database.db, 'chat_reaction')).toBe(8);
      expect((await ginOptions(database, ['mentions'])).map((i) => i.options)).toEqual(Array(8).fill('fastupdate=false'));
      expect((await ginOptions(database, ['mentions'], 'chat_message_edit')).map((i) => i.options)).toEqual(
        Array(8).fill('fastupdate=false'),
      );
      const count = await rows<{ n: number }>(database, sql`select count(*)::int as n from chat_message`);
      expect(count[0]!.n).toBe(31);
      await expect(database.migrate({ partitions: 1, repartition: true })).rejects.toThrow(/DATABASE_PARTITIONS=8/);
      expect(await messagePartitions(database.db)).toBe(8);
    } finally {
      await database.close();
    }
  });

  /**
   * A database on 4 partitions whose text indexes are as an install partitioned before migration 0016 has them: made on
   * the parent without the setting (which PostgreSQL then refuses to SET on a partitioned index), on every message.
   */
  async function partitionedBefore0016(): Promise<TestDatabase> {
    const db = await fresh();
    await db.database.migrate({ partitions: 4 });
    await db.database.db.execute(sql`drop index chat_message_search_idx`);
    await db.database.db.execute(sql`drop index chat_message_content_trgm_idx`);
    await db.database.db.execute(sql`create index chat_message_search_idx on chat_message using gin (search_doc)`);
    await db.database.db.execute(sql`create index chat_message_content_trgm_idx on chat_message using gin (content gin_trgm_ops)`);
    return db;
  }

  it('gives the GIN indexes of a table partitioned before migration 0016 their small pending list, and keeps it through a reshape', async () => {
    const db = await partitionedBefore0016();
    expect((await ginOptions(db.database)).map((i) => i.options)).toEqual(Array(8).fill(null));
    await expect(db.database.db.execute(sql`alter index chat_message_search_idx set (gin_pending_list_limit = 64)`)).rejects.toMatchObject({
      cause: { detail: expect.stringMatching(/not supported for partitioned indexes/) },
    });

    await runMigration(db.database, '0016_gin_pending_list.sql');
    const upgraded = await ginOptions(db.database);
    expect(upgraded).toHaveLength(8);
    for (const index of upgraded) expect(index.options).toBe('gin_pending_list_limit=64');

    await db.database.migrate({ partitions: 8, repartition: true });
    const reshaped = await ginOptions(db.database);
    expect(reshaped).toHaveLength(16);
    for (const index of reshaped) expect(index.options).toBe('gin_pending_list_limit=64');
  });

  it('gives a table partitioned before migration 0019 text indexes of live messages only, with their small pending list', async () => {
    // As such an install has them: on every message, the setting on each partition's index (migration 0016).
    const db = await partitionedBefore0016();
    await runMigration(db.database, '0016_gin_pending_list.sql');
    expect((await ginOptions(db.database)).map((i) => i.live)).toEqual(Array(8).fill(null));

    await runMigration(db.database, '0019_live_text_indexes.sql');
    const upgraded = await ginOptions(db.database);
    expect(upgraded).toHaveLength(8);
    for (const index of upgraded) expect(index).toMatchObject({ options: 'gin_pending_list_limit=64', live: '(deleted_at IS NULL)' });

    await db.database.migrate({ partitions: 8, repartition: true });
    const reshaped = await ginOptions(db.database);
    expect(reshaped).toHaveLength(16);
    for (const index of reshaped) expect(index).toMatchObject({ options: 'gin_pending_list_limit=64', live: '(deleted_at IS NULL)' });
  });

  it.runIf(template.kind === 'postgres')('is reshaped by `npm run migrate -- --repartition`, as docs/deploy.md says', async () => {
    const db = await fresh();
    const s = await serve(db.database, 1);
    await writeHistory(s);
    await s.close();
    const env = { ...process.env, DATABASE_URL: db.url!, DATABASE_PARTITIONS: '16', LOG_LEVEL: 'silent', NODE_ENV: 'test' };
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/db/migrate-cli.ts', ...args], { env, encoding: 'utf8', timeout: 60_000 });
    const refused = run();
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/DATABASE_PARTITIONS=16 npm run migrate -- --repartition/);
    const done = run('--repartition');
    expect(done.stderr).toBe('');
    expect(done.status).toBe(0);
    expect(done.stdout).toMatch(/chat_message: one table → 16 partitions, 30 rows/);
    const database = await reopen(db);
    try {
      expect(await messagePartitions(database.db)).toBe(16);
    } finally {
      await database.close();
    }
  });
});
