import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { asc, eq, sql } from 'drizzle-orm';
import { bigint, customType, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isUniqueViolation, MIGRATIONS_DIR, queryRows } from '../src/db/client.js';
import { openPgliteWorker, PgliteWorkerClient, type PgliteWorker } from '../src/db/pglite-worker.js';
import * as schema from '../src/db/schema.js';

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => 'bytea' });
const sample = pgTable('worker_sample', {
  id: integer('id').primaryKey(),
  at: timestamp('at', { withTimezone: true, mode: 'date', precision: 3 }),
  atText: timestamp('at_text', { withTimezone: true, mode: 'string' }),
  big: bigint('big', { mode: 'bigint' }),
  seq: bigint('seq', { mode: 'number' }),
  doc: jsonb('doc'),
  bytes: bytea('bytes'),
  note: text('note'),
});
const tally = pgTable('worker_tally', { tx: integer('tx').notNull(), n: integer('n').notNull() });

// drizzle-orm/pglite passes these with every query; the worker applies the same ones on its side.
const identity = (v: string) => v;
const DRIZZLE_PARSERS = Object.fromEntries([1082, 1114, 1184, 1186, 1231, 1115, 1185, 1187, 1182].map((oid) => [oid, identity]));

const open = (client: PgliteWorkerClient) => drizzle(client as unknown as PGlite, { schema });
type WorkerDb = ReturnType<typeof open>;

// The driver does not depend on the project's engine: it runs once, in the PGlite project.
const here = inject('template').kind === 'pglite';

describe.runIf(here)('PGlite in a worker thread', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-pglite-worker-'));
  let worker: PgliteWorker;
  let db: WorkerDb;
  // The reference: what the same statements give on PGlite in this thread.
  let inProcess: PGlite;

  beforeAll(async () => {
    [worker, inProcess] = await Promise.all([openPgliteWorker(dataDir), PGlite.create()]);
    db = open(worker.client);
    await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
    const ddl = `create table worker_sample (id integer primary key, at timestamptz(3), at_text timestamptz, big int8, seq int8,
      doc jsonb, bytes bytea, note text); create table worker_tally (tx integer not null, n integer not null)`;
    await Promise.all([worker.client.exec(ddl), inProcess.exec(ddl)]);
  });

  afterAll(async () => {
    await Promise.all([worker?.close(), inProcess?.close()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('applies the migrations, which create the tables', async () => {
    const tables = await queryRows<{ table_name: string }>(
      db,
      sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
    );
    const names = tables.map((t) => t.table_name);
    for (const table of ['chat_user', 'chat_room', 'chat_participant', 'chat_message', 'webhook_delivery', 'admin_job']) {
      expect(names).toContain(table);
    }
    const applied = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
    expect(applied[0]!.n).toBe(journal.entries.length);
  });

  it('round-trips timestamps, int8, jsonb, bytea and null through drizzle', async () => {
    const at = new Date('2026-03-04T05:06:07.089Z');
    const big = 9_007_199_254_740_993n; // above 2^53: must not pass through a float
    const doc = { text: 'héllo', list: [1, 2, { deep: null }], flag: true };
    const bytes = Uint8Array.from([0, 1, 2, 254, 255]);
    await db.insert(sample).values([
      { id: 1, at, atText: '2026-03-04 05:06:07.089+00', big, seq: 41, doc, bytes, note: 'x' },
      { id: 2, at: null, atText: null, big: null, seq: null, doc: null, bytes: null, note: null },
    ]);
    const rows = await db.select().from(sample).orderBy(asc(sample.id));
    expect(rows).toEqual([
      { id: 1, at, atText: '2026-03-04 05:06:07.089+00', big, seq: 41, doc, bytes, note: 'x' },
      { id: 2, at: null, atText: null, big: null, seq: null, doc: null, bytes: null, note: null },
    ]);
    expect(rows[0]!.at).toBeInstanceOf(Date);
    expect(rows[0]!.bytes).toBeInstanceOf(Uint8Array);
    // The relational query API goes through the same client.
    const found = await db.query.chatUser.findMany({ where: eq(schema.chatUser.id, 'nobody') });
    expect(found).toEqual([]);
  });

  it('returns what in-process PGlite returns: rows, fields and affected rows, with and without drizzle parsers', async () => {
    const statements: [string, unknown[]][] = [
      [
        `select now()::date as d, '2026-01-02 03:04:05.678+00'::timestamptz as tz, '1 day 2 hours'::interval as iv,
         9007199254740993::int8 as big, 7::int8 as small, 1.5::numeric as num, array[1.25, 2.5]::numeric[] as nums,
         array['2026-01-02'::date] as dates, '{"a":[1,"b"]}'::jsonb as j, '\\x00ff'::bytea as b, null::text as nothing,
         true as yes, 'text' as t`,
        [],
      ],
      ['select $1::int8 + 1 as next, $2::text as echoed, $3::bytea as raw', ['41', "it's", Uint8Array.from([9, 8])]],
      ['insert into worker_tally (tx, n) values (-1, 1), (-1, 2), (-1, 3)', []],
      ['update worker_tally set n = n + 10 where tx = $1', [-1]],
      ['delete from worker_tally where tx = $1', [-1]],
    ];
    for (const [statement, params] of statements) {
      for (const options of [
        undefined,
        { rowMode: 'object' as const, parsers: DRIZZLE_PARSERS },
        { rowMode: 'array' as const, parsers: DRIZZLE_PARSERS },
      ]) {
        const theirs = await inProcess.query(statement, params, options);
        const ours = await worker.client.query(statement, params, options);
        expect(ours).toEqual(theirs);
      }
    }
    const script =
      'insert into worker_tally values (-2, 1); select count(*) as n from worker_tally where tx = -2; delete from worker_tally where tx = -2';
    expect(await worker.client.exec(script)).toEqual(await inProcess.exec(script));
  });

  it('reports a unique violation with its code and constraint, and the caller on this thread in the stack', async () => {
    await db.insert(schema.chatUser).values({ id: 'dup-user' });
    const viaDrizzle = await db
      .insert(schema.chatUser)
      .values({ id: 'dup-user' })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(isUniqueViolation(viaDrizzle, 'chat_user_pkey')).toBe(true);
    expect(isUniqueViolation(viaDrizzle, 'some_other_uq')).toBe(false);

    const raw = await worker.client.query(`insert into chat_user (id) values ('dup-user')`).then(
      () => undefined,
      (err: unknown) => err as Error & Record<string, unknown>,
    );
    expect(raw).toBeInstanceOf(Error);
    expect(raw!.message).toBe('duplicate key value violates unique constraint "chat_user_pkey"');
    expect(raw).toMatchObject({ code: '23505', constraint: 'chat_user_pkey', table: 'chat_user', severity: 'ERROR', schema: 'public' });
    expect(raw!['detail']).toBe('Key (id)=(dup-user) already exists.');
    expect(raw!.stack).toContain('db-pglite-worker.test.ts');
  });

  it('rolls back a transaction whose callback throws, and rethrows that very error', async () => {
    const boom = new Error('changed my mind');
    await expect(
      db.transaction(async (tx) => {
        await tx.insert(tally).values({ tx: 100, n: 1 });
        const inside = await tx.select().from(tally).where(eq(tally.tx, 100));
        expect(inside).toHaveLength(1); // the row exists inside the transaction…
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await db.select().from(tally).where(eq(tally.tx, 100))).toEqual([]); // …and not after

    // A failing statement inside rolls back the rows before it too.
    await expect(
      db.transaction(async (tx) => {
        await tx.insert(tally).values({ tx: 101, n: 1 });
        await tx.execute(sql`select * from no_such_table`);
      }),
    ).rejects.toThrow(/no_such_table/);
    expect(await db.select().from(tally).where(eq(tally.tx, 101))).toEqual([]);
  });

  it('rolls a nested transaction (savepoint) back and keeps the outer one', async () => {
    const result = await db.transaction(async (tx) => {
      await tx.insert(tally).values({ tx: 200, n: 1 });
      await expect(
        tx.transaction(async (inner) => {
          await inner.insert(tally).values({ tx: 200, n: 2 });
          throw new Error('inner only');
        }),
      ).rejects.toThrow('inner only');
      await tx.transaction(async (inner) => void (await inner.insert(tally).values({ tx: 200, n: 3 })));
      return 'committed';
    });
    expect(result).toBe('committed');
    const rows = await db.select({ n: tally.n }).from(tally).where(eq(tally.tx, 200)).orderBy(asc(tally.n));
    expect(rows).toEqual([{ n: 1 }, { n: 3 }]);
  });

  it('runs concurrent transactions and plain queries to completion, never showing half a transaction', async () => {
    const TXS = 8;
    const ROWS = 5;
    const counts: number[] = [];
    // Staggered starts, so that plain queries queue up between transactions rather than all after them.
    const transactions = Array.from({ length: TXS }, async (_, i) => {
      await sleep(i * 7);
      return db.transaction(async (tx) => {
        for (let n = 0; n < ROWS; n++) {
          await tx.insert(tally).values({ tx: 300 + i, n });
          await sleep(1); // gives the plain queries below every chance to slip in mid-transaction
        }
        const mine = await tx
          .select()
          .from(tally)
          .where(eq(tally.tx, 300 + i));
        return mine.length;
      });
    });
    const plain = Array.from({ length: TXS * 2 }, async (_, i) => {
      await sleep(i * 3);
      const [row] = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from worker_tally where tx >= 300`);
      counts.push(row!.n);
    });
    const seen = await Promise.all(transactions);
    await Promise.all(plain);
    expect(seen).toEqual(Array(TXS).fill(ROWS));
    expect(counts).toHaveLength(TXS * 2);
    // Statements outside a transaction wait for it, so they only ever see whole transactions.
    for (const n of counts) expect(n % ROWS).toBe(0);
    const [total] = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from worker_tally where tx >= 300`);
    expect(total!.n).toBe(TXS * ROWS);
  });

  it('keeps the event loop turning while the worker runs a long statement (in process, it stands still)', async () => {
    const ticksDuring = async (run: () => Promise<unknown>) => {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      try {
        await run();
      } finally {
        clearInterval(timer);
      }
      return ticks;
    };
    const statement = 'select pg_sleep(0.6)';
    const blocked = await ticksDuring(() => inProcess.query(statement));
    const free = await ticksDuring(() => worker.client.query(statement));
    expect(blocked).toBeLessThanOrEqual(1);
    expect(free).toBeGreaterThanOrEqual(10);
  });

  it('lets a transaction roll itself back and still return, as PGlite does', async () => {
    const out = await worker.client.transaction(async (tx) => {
      await tx.query('insert into worker_tally (tx, n) values (500, 1)');
      await tx.rollback();
      expect(tx.closed).toBe(true);
      await expect(tx.query('select 1')).rejects.toThrow('Transaction is closed');
      return 'done';
    });
    expect(out).toBe('done');
    expect((await worker.client.query('select * from worker_tally where tx = 500')).rows).toEqual([]);
  });

  it('refuses query options it cannot apply in the worker instead of ignoring them', async () => {
    await expect(worker.client.query('select 1', [], { parsers: { 1184: (v: string) => new Date(v) } })).rejects.toThrow(
      /identity parsers/,
    );
    await expect(worker.client.query('select 1', [], { serializers: { 25: String } })).rejects.toThrow(/"serializers"/);
  });

  it('keeps the data across close and reopen on the same directory; calls after close reject', async () => {
    await db.insert(tally).values({ tx: 400, n: 42 });
    const closed = worker;
    await closed.close();
    await expect(closed.client.query('select 1')).rejects.toThrow(/closed/);
    await expect(closed.client.transaction(async () => 1)).rejects.toThrow(/closed/);

    worker = await openPgliteWorker(dataDir);
    db = open(worker.client);
    expect(await db.select().from(tally).where(eq(tally.tx, 400))).toEqual([{ tx: 400, n: 42 }]);
    expect(await db.select({ id: sample.id }).from(sample).orderBy(asc(sample.id))).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('waits for the calls under way before it closes', async () => {
    const w = await openPgliteWorker(undefined); // in memory
    const slow = w.client.query<{ n: number }>('select 7 as n from pg_sleep(0.2)');
    const tx = w.client.transaction(async (t) => {
      await sleep(50);
      return (await t.query<{ n: number }>('select 8 as n')).rows[0]!.n;
    });
    const closing = w.close();
    await expect(w.client.transaction(async () => 'too late')).rejects.toThrow(/closing/);
    await expect(w.client.query('select 1')).rejects.toThrow(/closing/);
    await closing;
    expect((await slow).rows).toEqual([{ n: 7 }]);
    expect(await tx).toBe(8);
    await expect(w.client.query('select 1')).rejects.toThrow(/closed/);
  });
});

describe.runIf(here)('PGlite worker failures', () => {
  it('rejects opening when PGlite cannot open its directory', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'chat-pglite-worker-bad-'));
    try {
      const file = path.join(dir, 'a-file');
      writeFileSync(file, 'not a directory');
      await expect(openPgliteWorker(path.join(file, 'data'))).rejects.toThrow(/ENOTDIR|not a directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects every pending call when the thread dies, and every later call', async () => {
    // A stand-in thread that swallows the first request and dies on the second, as a crashed PGlite thread would.
    const thread = new Worker(
      `const { parentPort } = require('node:worker_threads');
       let seen = 0;
       parentPort.on('message', () => { if (++seen === 2) throw new Error('wasm trap'); });`,
      { eval: true },
    );
    const client = new PgliteWorkerClient(thread);
    const first = client.query('select 1');
    const second = client.transaction(async () => 'never');
    await expect(first).rejects.toThrow(/PGlite worker failed: wasm trap/);
    await expect(second).rejects.toThrow(/PGlite worker failed: wasm trap/);
    await expect(client.query('select 2')).rejects.toThrow(/PGlite worker failed/);
    await expect(client.exec('select 3')).rejects.toThrow(/PGlite worker failed/);
    await client.close(); // closing a dead worker settles too
  });
});
