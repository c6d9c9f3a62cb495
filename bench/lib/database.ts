import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import type { Logger } from 'drizzle-orm';
import pg from 'pg';
import { MIGRATIONS_DIR, openDatabase, type Db } from '../../src/db/client.js';
import * as schema from '../../src/db/schema.js';
import { ROOT } from './processes.js';

export type Engine = 'pglite' | 'postgres';

/** A connection of the bench's own to the data the server uses: seeding and the raw-SQL baselines go through it. */
export interface RawDb {
  engine: Engine;
  query<T = any>(text: string, params?: unknown[]): Promise<T[]>;
  exec(text: string): Promise<void>;
  /** Drizzle on the same connection; every query it runs is logged into `captured` (to replay the service's SQL raw). */
  drizzle: Db;
  captured: Array<{ sql: string; params: unknown[] }>;
  /** How many queries may run at once (the pg pool; PGlite is one connection). */
  concurrency: number;
  /** One connection of its own (transactions); PGlite has just the one. */
  connection(): Promise<{ query<T = any>(text: string, params?: unknown[]): Promise<T[]>; release(): void }>;
  close(): Promise<void>;
}

export interface BenchDatabase {
  engine: Engine;
  /** DATA_DIR of the server under test (PGlite keeps its files in DATA_DIR/db). */
  dataDir: string;
  /** The database URL (PostgreSQL) for the server and the bench. */
  url: string | undefined;
  /** Environment the server needs to use this database. */
  serverEnv(): Record<string, string>;
  /** With PGlite, only while no server has the directory open. */
  open(poolSize?: number): Promise<RawDb>;
  drop(): Promise<void>;
}

const created = new Set<BenchDatabase>();

function capturing(): { logger: Logger; captured: RawDb['captured'] } {
  const captured: RawDb['captured'] = [];
  return {
    captured,
    logger: {
      logQuery(query, params) {
        captured.push({ sql: query, params });
        if (captured.length > 100) captured.shift();
      },
    },
  };
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * A migrated, empty PGlite directory kept between runs in the temp dir (initdb in WebAssembly takes seconds), keyed by
 * the migrations and the PGlite version; each run copies it into a fresh DATA_DIR, as the tests copy their template.
 */
async function pgliteTemplate(): Promise<string> {
  const hash = createHash('sha256');
  for (const f of readdirSync(MIGRATIONS_DIR, { recursive: true }).map(String).sort()) {
    const file = path.join(MIGRATIONS_DIR, f);
    if (f.endsWith('.sql') || f.endsWith('.json')) hash.update(f).update(readFileSync(file));
  }
  hash.update(readFileSync(path.join(ROOT, 'node_modules/@electric-sql/pglite/package.json')));
  const dir = path.join(tmpdir(), `chat-bench-template-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(path.join(dir, 'PG_VERSION'))) return dir;
  // Templates of older migrations are of no use any more.
  for (const old of readdirSync(tmpdir()).filter((f) => /^chat-bench-template-[0-9a-f]{16}$/.test(f))) {
    await rm(path.join(tmpdir(), old), { recursive: true, force: true });
  }
  const building = `${dir}.${process.pid}`;
  const db = await openDatabase({ dataDir: building });
  await db.migrate();
  await db.close();
  await rename(building, dir).catch(async () => rm(building, { recursive: true, force: true }));
  return dir;
}

/** A fresh, migrated database: a PGlite directory, or a new PostgreSQL database made through `adminUrl` (dropped after). */
export async function createBenchDatabase(engine: Engine, adminUrl?: string): Promise<BenchDatabase> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `chat-bench-${engine}-`));
  let url: string | undefined;
  let name: string | undefined;
  if (engine === 'postgres') {
    if (!adminUrl) throw new Error('PostgreSQL needs BENCH_DATABASE_URL or TEST_DATABASE_URL');
    name = `chat_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
    url = withDatabase(adminUrl, name);
  }
  if (engine === 'postgres') {
    const migrated = await openDatabase({ url, poolSize: 1 });
    await migrated.migrate();
    await migrated.close();
  } else {
    await cp(await pgliteTemplate(), path.join(dataDir, 'db'), { recursive: true });
  }

  const db: BenchDatabase = {
    engine,
    dataDir,
    url,
    serverEnv: () => ({ DATA_DIR: dataDir, ...(url ? { DATABASE_URL: url } : {}) }),
    async open(poolSize = 10) {
      const { logger, captured } = capturing();
      if (engine === 'postgres') {
        const pool = new pg.Pool({ connectionString: url, max: poolSize });
        pool.on('error', () => {});
        return {
          engine,
          query: async (text, params) => (await pool.query(text, params as unknown[])).rows,
          exec: async (text) => void (await pool.query(text)),
          drizzle: drizzlePg(pool, { schema, logger }) as unknown as Db,
          captured,
          concurrency: poolSize,
          connection: async () => {
            const c = await pool.connect();
            return { query: async (text, params) => (await c.query(text, params as unknown[])).rows, release: () => c.release() };
          },
          close: () => pool.end(),
        };
      }
      const client = await PGlite.create(path.join(dataDir, 'db'), { extensions: { pg_trgm } });
      return {
        engine,
        query: async (text, params) => (await client.query(text, params as unknown[])).rows as any[],
        exec: async (text) => void (await client.exec(text)),
        drizzle: drizzlePglite(client, { schema, logger }) as unknown as Db,
        captured,
        concurrency: 1,
        connection: async () => ({
          query: async (text, params) => (await client.query(text, params as unknown[])).rows as any[],
          release: () => {},
        }),
        close: () => client.close(),
      };
    },
    async drop() {
      created.delete(db);
      if (name && adminUrl) await admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  created.add(db);
  return db;
}

/** Drops every database this run created and has not dropped yet (on errors and signals). */
export async function dropAll(): Promise<void> {
  await Promise.all([...created].map((d) => d.drop().catch(() => {})));
}
