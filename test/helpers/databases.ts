import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/db/client.js';

/** Where globalSetup leaves a migrated PGlite data directory; copying it beats initdb (~5 s) per file. */
export const PGLITE_TEMPLATE_DIR = path.resolve('.test-tmp/pglite-template');
export const PG_TEMPLATE_DB = 'chat_test_template';

export const testDbKind = (): 'pglite' | 'postgres' => (process.env['TEST_DB_KIND'] === 'postgres' ? 'postgres' : 'pglite');

export function postgresUrl(database?: string): string {
  const raw = process.env['TEST_DATABASE_URL'];
  if (!raw) throw new Error('TEST_DATABASE_URL is not set');
  const u = new URL(raw);
  if (database) u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
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
export async function freshDatabase(): Promise<TestDatabase> {
  if (testDbKind() === 'postgres') {
    const name = `chat_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${PG_TEMPLATE_DB}`));
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
  await cp(PGLITE_TEMPLATE_DIR, dir, { recursive: true });
  const database = await openDatabase({ dataDir: dir });
  return { database, url: undefined, dataDir: dir, drop: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs once per test run: builds the templates the files copy. */
export async function prepareTemplates(kind: 'pglite' | 'postgres'): Promise<void> {
  if (kind === 'postgres') {
    await admin(async (c) => {
      const old = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'chat_test_%'`);
      for (const { datname } of old.rows) await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${PG_TEMPLATE_DB}`);
    });
    const db = await openDatabase({ url: postgresUrl(PG_TEMPLATE_DB), poolSize: 1 });
    await db.migrate();
    await db.close();
    return;
  }
  await rm(PGLITE_TEMPLATE_DIR, { recursive: true, force: true });
  const db = await openDatabase({ dataDir: PGLITE_TEMPLATE_DIR });
  await db.migrate();
  await db.close();
}

export async function dropTemplates(kind: 'pglite' | 'postgres'): Promise<void> {
  if (kind === 'postgres') {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${PG_TEMPLATE_DB} WITH (FORCE)`));
  } else {
    await rm(PGLITE_TEMPLATE_DIR, { recursive: true, force: true });
  }
}
