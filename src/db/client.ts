import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { PGlite } from '@electric-sql/pglite';
import type { Client as PgClient, types as PgTypes } from 'pg';
import { causeChain } from '../errors.js';
import * as schema from './schema.js';
import { ensureMessagePartitions, partitionParent, type PartitionOptions } from './partitions.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction handle has the same query surface as the database. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Executor = Db | Tx;

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  /** Applies the pending migrations, then gives chat_message the partitions asked for (DATABASE_PARTITIONS). */
  migrate(opts?: MigrateOptions): Promise<void>;
  close(): Promise<void>;
}

export interface MigrateOptions extends PartitionOptions {
  /** Unset: chat_message keeps whatever shape it has (tests' templates, tools). */
  partitions?: number;
}

/** Any fixed number, the same in every instance of this service. */
const MIGRATION_LOCK = 727_001;

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

// Both drivers hand back numbers for int8 columns (seq values stay far below 2^53).
const pgTypes = (types: typeof PgTypes) => ({
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : types.getTypeParser(oid, format as 'text')) as typeof types.getTypeParser,
});

export interface OpenOptions {
  /** postgres://… for PostgreSQL; otherwise PGlite. */
  url?: string | undefined;
  /** pg connection settings instead of a url (the embedded server's socket). */
  connection?: PgConnection | undefined;
  /** PGlite data directory; undefined (or url "memory://") keeps the database in memory. */
  dataDir?: string | undefined;
  poolSize?: number;
  /** How long a query waits for a connection before failing (an outage answers fast rather than queueing). */
  connectTimeoutMs?: number;
  /** PGlite in a worker thread (the embedded engine) rather than in this thread (tests, memory://). */
  pgliteWorker?: boolean;
  /** `pgbouncer`: a transaction-mode pooler stands between; no statement is prepared by name. */
  pooler?: 'none' | 'pgbouncer' | undefined;
  /** Runs after the pool has ended (stops the embedded server). */
  afterClose?: () => Promise<void>;
}

export type PgConnection = { host: string; port: number; user: string; database: string };

// Each driver is imported only when it is the one in use: the embedded default never pays for loading `pg`, nor a
// PostgreSQL deployment for PGlite's WebAssembly.
export async function openDatabase(opts: OpenOptions): Promise<Database> {
  const target = opts.connection ?? (opts.url && /^postgres(ql)?:\/\//.test(opts.url) ? { connectionString: opts.url } : undefined);
  if (target) {
    const [{ default: pg }, { drizzle: drizzlePg }, { migrate: migratePg }] = await Promise.all([
      import('pg'),
      import('drizzle-orm/node-postgres'),
      import('drizzle-orm/node-postgres/migrator'),
    ]);
    // A request during an outage fails within seconds (503) instead of queueing forever for a connection.
    const pool = new pg.Pool({
      ...target,
      max: opts.poolSize ?? 10,
      types: pgTypes(pg.types),
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      ...(opts.pooler === 'pgbouncer' ? { Client: unnamedStatements(pg.Client) } : {}),
    });
    // An idle client that loses its server must not crash the process; the next query reports the outage.
    pool.on('error', () => {});
    const db = drizzlePg(pool, { schema }) as unknown as Db;
    return {
      db,
      kind: 'postgres',
      ping: async () => void (await pool.query('select 1')),
      // Several instances may start at once: an advisory lock lets one migrate while the others wait. The lock is
      // held by an open transaction on a connection of its own (the pool stays free for the migrator): behind a
      // transaction-mode pooler a session lock would stay with whichever server connection took it, while a
      // transaction keeps its server connection until it ends, and its end releases the lock anywhere.
      migrate: async (m?: MigrateOptions) => {
        const lock = new pg.Client(target);
        await lock.connect();
        try {
          await lock.query('begin');
          await lock.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
          await migratePg(db as never, { migrationsFolder: MIGRATIONS_DIR });
          if (m?.partitions !== undefined) await ensureMessagePartitions(db, m.partitions, m);
          await lock.query('commit');
        } finally {
          await lock.end();
        }
      },
      close: async () => {
        await pool.end();
        await opts.afterClose?.();
      },
    };
  }
  const dir = opts.url === 'memory://' ? undefined : opts.dataDir;
  const [{ drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  let client: PGlite;
  let close: () => Promise<void>;
  if (opts.pgliteWorker) {
    // The WebAssembly engine runs every statement synchronously: in a worker thread it cannot hold up the event loop.
    const { openPgliteWorker } = await import('./pglite-worker.js');
    const worker = await openPgliteWorker(dir);
    client = worker.client as unknown as PGlite;
    close = () => worker.close();
  } else {
    const [{ PGlite }, { pg_trgm }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite/contrib/pg_trgm')]);
    if (dir) mkdirSync(dir, { recursive: true });
    const inProcess = await PGlite.create(dir, { extensions: { pg_trgm } });
    client = inProcess;
    close = () => inProcess.close();
  }
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    ping: async () => void (await client.query('select 1')),
    migrate: async (m?: MigrateOptions) => {
      await migratePglite(db as never, { migrationsFolder: MIGRATIONS_DIR });
      if (m?.partitions !== undefined) await ensureMessagePartitions(db, m.partitions, m);
    },
    close,
  };
}

/**
 * A pg client class that drops statement names: a named statement is parsed once per client connection, and behind a
 * transaction-mode pooler (PgBouncer before 1.21, or without `max_prepared_statements`) the next execution may reach
 * a server connection that never saw it ("prepared statement … does not exist"). Unnamed, each is parsed each time.
 */
function unnamedStatements(Client: typeof PgClient): typeof PgClient {
  return class UnnamedStatementsClient extends Client {
    override query(config: unknown, ...rest: unknown[]): never {
      // A submittable (a cursor, a stream) keeps its prototype; none of ours is named.
      const plain = config && typeof config === 'object' && 'name' in config && !('submit' in config);
      const unnamed = plain ? { ...config, name: undefined } : config;
      return (super.query as (...args: unknown[]) => never)(unnamed, ...rest);
    }
  };
}

// In a module of its own so that db/partitions.ts, which this module calls, can use it without an import cycle.
export { anyOf, queryRows, rowDate } from './query.js';

/** PostgreSQL's unique_violation, as both drivers report it (drizzle may wrap it in `cause`). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const hit = causeChain(err).find((e) => e.code === '23505');
  // On a partitioned chat_message the violated index is the partition's (db/partitions.ts names it after its parent).
  return (
    !!hit && (constraint === undefined || hit.constraint === constraint || partitionParent(String(hit.constraint ?? '')) === constraint)
  );
}
