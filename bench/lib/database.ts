import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import type { Logger } from 'drizzle-orm';
import pg from 'pg';
import { MIGRATIONS_DIR, openDatabase, type Db } from '../../src/db/client.js';
import { findBinaries, type PostgresBinaries } from '../../src/db/embedded/binaries.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded/postgres-server.js';
import * as schema from '../../src/db/schema.js';
import { log, sleep } from './log.js';
import { ROOT, unpinEmbeddedServer } from './processes.js';

/**
 * `embedded`: the PostgreSQL server the service runs itself under DATA_DIR (its default); `pglite`: PGlite under
 * DATA_DIR (EMBEDDED_ENGINE=pglite); `postgres`: an external server at BENCH_DATABASE_URL / TEST_DATABASE_URL.
 */
export type Engine = 'embedded' | 'pglite' | 'postgres';
export const ENGINES: readonly Engine[] = ['embedded', 'pglite', 'postgres'];
export const ENGINE_LABELS: Record<Engine, string> = {
  embedded: 'Embedded PostgreSQL (default)',
  pglite: 'Embedded PGlite',
  postgres: 'PostgreSQL',
};
/** Both embedded engines are what `npm start` runs on a DATA_DIR: the start-to-ready target applies to them. */
export const isEmbedded = (engine: Engine) => engine !== 'postgres';
/** A real PostgreSQL server (its own processes, the `pg` driver, PostgreSQL's settings), embedded or not. */
export const isRealPostgres = (engine: Engine) => engine !== 'pglite';

/**
 * `--engines`, or by default both embedded engines and the external server when its URL is set. Without binaries for
 * this machine the service itself falls back to PGlite, and so does the default here (saying why).
 */
export function selectEngines(arg: string | undefined, pgUrl: string | undefined): Engine[] {
  if (arg) {
    const named = arg.split(',') as Engine[];
    for (const e of named) if (!ENGINES.includes(e)) throw new Error(`unknown engine ${e}; one of ${ENGINES.join(', ')}`);
    return named;
  }
  const found = findBinaries();
  if ('missing' in found) log(`no embedded PostgreSQL engine: ${found.missing}`);
  return [...('missing' in found ? [] : ['embedded' as const]), 'pglite', ...(pgUrl ? ['postgres' as const] : [])];
}

function binaries(): PostgresBinaries {
  const found = findBinaries();
  if ('missing' in found) throw new Error(`the embedded PostgreSQL engine cannot run here: ${found.missing}`);
  return found;
}

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
  /** DATA_DIR of the server under test (PGlite keeps its files in DATA_DIR/db, the embedded server in DATA_DIR/pg). */
  dataDir: string;
  /** The database URL (external PostgreSQL) for the server and the bench. */
  url: string | undefined;
  /** Environment the server needs to use this database. */
  serverEnv(): Record<string, string>;
  /** With an embedded engine, only while no server has the directory open (the embedded server is started for it). */
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
 * A migrated, empty database directory kept between runs in the temp dir (PGlite's initdb in WebAssembly takes
 * seconds, the real initdb about one), keyed by the migrations and whatever else decides its contents; each run copies
 * it into a fresh DATA_DIR, as the tests copy their template. `build` fills the directory it is given.
 */
async function template(kind: string, ready: string, key: Buffer[], build: (dir: string) => Promise<void>): Promise<string> {
  const hash = createHash('sha256');
  for (const f of readdirSync(MIGRATIONS_DIR, { recursive: true }).map(String).sort()) {
    const file = path.join(MIGRATIONS_DIR, f);
    if (f.endsWith('.sql') || f.endsWith('.json')) hash.update(f).update(readFileSync(file));
  }
  for (const k of key) hash.update(k);
  const dir = path.join(tmpdir(), `chat-bench-${kind}-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(path.join(dir, ready))) return dir;
  // Templates of older migrations are of no use any more.
  const stale = new RegExp(`^chat-bench-${kind}-[0-9a-f]{16}$`);
  for (const old of readdirSync(tmpdir()).filter((f) => stale.test(f))) {
    await rm(path.join(tmpdir(), old), { recursive: true, force: true });
  }
  const building = `${dir}.${process.pid}`;
  await rm(building, { recursive: true, force: true });
  try {
    await build(building);
    await rename(building, dir);
  } catch (err) {
    await rm(building, { recursive: true, force: true });
    // Another run may have finished the same template first.
    if (!existsSync(path.join(dir, ready))) throw err;
  }
  return dir;
}

/** The PGlite template: the database directory itself (DATA_DIR/db of a run). */
function pgliteTemplate(): Promise<string> {
  const key = [readFileSync(path.join(ROOT, 'node_modules/@electric-sql/pglite/package.json'))];
  return template('template', 'PG_VERSION', key, async (dir) => {
    const db = await openDatabase({ dataDir: dir });
    await db.migrate();
    await db.close();
  });
}

/**
 * The embedded server's template: a DATA_DIR-like directory holding the cluster in `pg`, keyed also by the binaries'
 * package (their PostgreSQL version) and the server code (its initdb options).
 */
function embeddedTemplate(bin: PostgresBinaries): Promise<string> {
  const binPackage = path.resolve(path.dirname(bin.postgres), '../../package.json');
  const key = [readFileSync(binPackage), readFileSync(path.join(ROOT, 'src/db/embedded/postgres-server.ts'))];
  return template('pg-template', 'pg/PG_VERSION', key, async (dir) => {
    await mkdir(dir, { recursive: true });
    const server = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), binaries: bin });
    try {
      const db = await openDatabase({ connection: server.connection, poolSize: 1 });
      await db.migrate();
      await db.close();
    } finally {
      await server.stop();
      await rm(server.connection.host, { recursive: true, force: true });
    }
  });
}

/** Seeding and the baselines on a pg pool: the external server's URL or the embedded server's socket. */
function pgRaw(engine: Engine, target: pg.PoolConfig, poolSize: number, afterClose?: () => Promise<void>): RawDb {
  const { logger, captured } = capturing();
  const pool = new pg.Pool({ ...target, max: poolSize });
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
    close: async () => {
      await pool.end();
      await afterClose?.();
    },
  };
}

async function pgliteRaw(dir: string): Promise<RawDb> {
  const { logger, captured } = capturing();
  const client = await PGlite.create(dir, { extensions: { pg_trgm } });
  return {
    engine: 'pglite',
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
}

const execFileP = promisify(execFile);

/** The environment a service needs to run `engine` on `dataDir` (the external URL for `postgres`). */
function envFor(engine: Engine, dataDir: string, url: string | undefined): Record<string, string> {
  if (engine === 'postgres') return { DATA_DIR: dataDir, DATABASE_URL: url! };
  return { DATA_DIR: dataDir, EMBEDDED_ENGINE: engine === 'embedded' ? 'postgres' : 'pglite' };
}

/**
 * A fresh, migrated database: an embedded DATA_DIR, or a new PostgreSQL database made through `adminUrl` (dropped after).
 * `partitions` (PostgreSQL only): chat_message in that many hash partitions, and the service told so.
 */
export async function createBenchDatabase(engine: Engine, adminUrl?: string, partitions = 1): Promise<BenchDatabase> {
  if (partitions !== 1 && engine !== 'postgres') throw new Error('--partitions is measured on PostgreSQL (--engines=postgres)');
  const bin = engine === 'embedded' ? binaries() : undefined;
  const dataDir = await mkdtemp(path.join(tmpdir(), `chat-bench-${engine}-`));
  const cluster = path.join(dataDir, 'pg');
  let url: string | undefined;
  let name: string | undefined;
  // Servers the bench started on the cluster and has not stopped yet, and every socket directory they used.
  const servers = new Set<EmbeddedServer>();
  const sockets = new Set<string>();
  const db: BenchDatabase = {
    engine,
    dataDir,
    url,
    serverEnv: () => ({ ...envFor(engine, dataDir, url), ...(partitions !== 1 ? { DATABASE_PARTITIONS: String(partitions) } : {}) }),
    async open(poolSize = 10) {
      if (engine === 'postgres') return pgRaw(engine, { connectionString: url }, poolSize);
      if (engine === 'pglite') return pgliteRaw(path.join(dataDir, 'db'));
      // Stopped again on close: a service that finds it running would take it for an orphan and stop it first.
      const server = await startEmbeddedPostgres({ dir: cluster, binaries: bin! });
      unpinEmbeddedServer(dataDir); // started by this (pinned) process; its baselines run on every core, as the service's
      servers.add(server);
      sockets.add(server.connection.host);
      return pgRaw(engine, server.connection, poolSize, async () => {
        servers.delete(server);
        await server.stop();
      });
    },
    async drop() {
      created.delete(db);
      if (name && adminUrl) await admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => {});
      for (const s of [...servers]) await s.stop().catch(() => {});
      servers.clear();
      await stopLeftServer(cluster);
      for (const s of sockets) await rm(s, { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  created.add(db);
  try {
    if (engine === 'postgres') {
      if (!adminUrl) throw new Error('PostgreSQL needs BENCH_DATABASE_URL or TEST_DATABASE_URL');
      name = `chat_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
      await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
      db.url = url = withDatabase(adminUrl, name);
      const migrated = await openDatabase({ url, poolSize: 1 });
      await migrated.migrate({ partitions });
      await migrated.close();
    } else if (engine === 'pglite') {
      await cp(await pgliteTemplate(), path.join(dataDir, 'db'), { recursive: true });
    } else {
      // cp -a, not fs.cp: running as root, the cluster's files must stay the `postgres` user's, its directory 0700.
      await execFileP('cp', ['-a', path.join(await embeddedTemplate(bin!), 'pg'), cluster]);
      await rm(path.join(cluster, 'postmaster.pid'), { force: true });
    }
  } catch (err) {
    await db.drop();
    throw err;
  }
  return db;
}

/**
 * A run on an empty DATA_DIR of `engine` (the first start: initdb and migrations), removed after; with the embedded
 * server, none may outlive it (a service killed by the bench leaves its server running).
 */
export async function withFreshDataDir<T>(engine: Engine, fn: (env: Record<string, string>) => Promise<T>): Promise<T> {
  if (engine === 'postgres') throw new Error('an empty DATA_DIR is an embedded engine’s first start');
  const dir = await mkdtemp(path.join(tmpdir(), 'chat-bench-fresh-'));
  try {
    return await fn(envFor(engine, dir, undefined));
  } finally {
    await stopLeftServer(path.join(dir, 'pg'));
    await rm(dir, { recursive: true, force: true });
  }
}

/** Stops the PostgreSQL server still running on `cluster` (a killed service's), if it is that one: the data is deleted next. */
async function stopLeftServer(cluster: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !running(pid)) return;
  // The pid file outlives a crashed server: its number may belong to another process by now.
  if (process.platform === 'linux' && !readProc(pid, 'cmdline').split('\0').includes(cluster)) return;
  // Immediate shutdown: the cluster is about to be removed, nothing needs a checkpoint.
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone meanwhile */
    }
  };
  signal('SIGQUIT');
  for (let i = 0; i < 200 && running(pid); i++) await sleep(25);
  if (running(pid)) signal('SIGKILL');
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Alive and not a zombie (a server whose parent was killed may wait for a reaper that never comes). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = readProc(pid, 'stat');
  return !stat || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** Drops every database this run created and has not dropped yet (on errors and signals). */
export async function dropAll(): Promise<void> {
  await Promise.all([...created].map((d) => d.drop().catch(() => {})));
}
