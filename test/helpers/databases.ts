import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/db/client.js';

/**
 * globalSetup leaves a migrated template per run (copying it beats initdb, ~5 s, per file) and hands its name to the
 * test files through TEST_TEMPLATE; runs side by side on one machine never share one.
 */
export interface Template {
  kind: 'pglite' | 'postgres';
  /** PGlite data directory, or PostgreSQL database name. */
  name: string;
  /** DATABASE_PARTITIONS the template's chat_message was made with (the partitioned project: several). */
  partitions: number;
}

export function postgresUrl(database?: string): string {
  const raw = process.env['TEST_DATABASE_URL'];
  if (!raw) throw new Error('TEST_DATABASE_URL is not set');
  const u = new URL(raw);
  if (database) u.pathname = `/${database}`;
  return u.toString();
}

/** Runs `fn` on a connection of its own to TEST_DATABASE_URL's database (creating and dropping databases). */
export async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  database: Database;
  /** For a second instance on the same data (PostgreSQL only) or a restart. */
  url: string | undefined;
  dataDir: string | undefined;
  drop(): Promise<void>;
}

/** A fresh, migrated database for one test file: a copy of the template on the selected engine. */
export async function freshDatabase(template: Template): Promise<TestDatabase> {
  if (template.kind === 'postgres') {
    const name = `${template.name}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template.name}`));
    const url = postgresUrl(name);
    const database = await openDatabase({ url });
    return {
      database,
      url,
      dataDir: undefined,
      drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
    };
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'chat-test-'));
  await cp(template.name, dir, { recursive: true });
  const database = await openDatabase({ dataDir: dir });
  return { database, url: undefined, dataDir: dir, drop: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs once per test run and engine: builds the template the files copy. */
export async function prepareTemplate(kind: 'pglite' | 'postgres', partitions = 1): Promise<Template> {
  const id = `${process.pid}_${Date.now().toString(36)}`;
  if (kind === 'postgres') {
    const name = `chat_test_${id}`;
    await admin((c) => c.query(`CREATE DATABASE ${name}`));
    const db = await openDatabase({ url: postgresUrl(name), poolSize: 1 });
    await db.migrate({ partitions });
    await db.close();
    return { kind, name, partitions };
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'chat-template-'));
  const db = await openDatabase({ dataDir: dir });
  await db.migrate({ partitions });
  await db.close();
  return { kind, name: dir, partitions };
}

/** Drops the template and every database the run's files made from it (also those a crashed file left behind). */
export async function dropTemplate(template: Template): Promise<void> {
  if (template.kind === 'postgres') {
    await admin(async (c) => {
      const rows = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${template.name}%`]);
      for (const { datname } of rows.rows) await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    });
  } else {
    await rm(template.name, { recursive: true, force: true });
  }
}

/** One migration's file, statement by statement, as the migrator runs it (an upgrade test replaying it). */
export async function runMigration(database: Database, file: string): Promise<void> {
  for (const statement of readFileSync(`src/db/migrations/${file}`, 'utf8').split('--> statement-breakpoint')) {
    await database.db.execute(sql.raw(statement));
  }
}

/** The same database opened again (a restart): PGlite by its directory, PostgreSQL by its URL. */
export function reopenDatabase(db: TestDatabase): Promise<Database> {
  return db.url ? openDatabase({ url: db.url }) : openDatabase({ dataDir: db.dataDir });
}
