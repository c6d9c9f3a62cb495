import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { MIGRATIONS_DIR, openDatabase, type Database } from '../src/db/client.js';
import { admin, postgresUrl } from './helpers/databases.js';

describe.runIf(inject('template').kind === 'postgres')('migrations on PostgreSQL', () => {
  const name = `chat_migrate_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const opened: Database[] = [];
  afterAll(async () => {
    for (const db of opened) await db.close();
    await admin((c) => c.query(`drop database if exists ${name} with (force)`));
  });

  it('four instances starting at once on an empty database: one migrates, the others wait for it, each migration runs once', async () => {
    await admin((c) => c.query(`create database ${name}`));
    opened.push(...(await Promise.all(Array.from({ length: 4 }, () => openDatabase({ url: postgresUrl(name), poolSize: 2 })))));
    await Promise.all(opened.map((db) => db.migrate()));
    const c = new pg.Client({ connectionString: postgresUrl(name) });
    await c.connect();
    try {
      const applied = (await c.query<{ n: number }>('select count(*)::int as n from drizzle.__drizzle_migrations')).rows[0]!.n;
      expect(applied).toBe(readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).length);
      // The lock is a transaction's: nothing of it is left once the instances are up.
      const locks = (
        await c.query<{ n: number }>(
          "select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())",
        )
      ).rows[0]!.n;
      expect(locks).toBe(0);
    } finally {
      await c.end();
    }
  });
});
