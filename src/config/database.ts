import type { EnvReader } from './readers.js';

export interface DatabaseConfig {
  /** undefined: embedded PGlite under dataDir. "memory://": PGlite in memory (tests). */
  databaseUrl: string | undefined;
  /**
   * The engine under DATA_DIR when DATABASE_URL is unset: a PostgreSQL server the service runs from the npm-shipped
   * binaries (default), or PGlite (WebAssembly, in a worker thread). Unset: postgres, unless DATA_DIR holds only an
   * older PGlite database, which keeps being used.
   */
  embeddedEngine: 'postgres' | 'pglite' | undefined;
  /**
   * `pgbouncer`: DATABASE_URL reaches PostgreSQL through a pooler in transaction mode, where consecutive statements of
   * one client may run on different server connections, so no statement is prepared by name.
   */
  databasePooler: 'none' | 'pgbouncer';
  /** Streaming replicas of DATABASE_URL's server that history, room lists, receipts and search may read from. */
  databaseReadUrls: string[];
  /** A replica further behind the primary than this is not read from (reads go to the primary). */
  databaseReadMaxLagMs: number;
  /** Hash partitions of chat_message by room (1: one plain table); see db/partitions.ts. */
  databasePartitions: number;
  redisUrl: string | undefined;
  /** Seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES), instead of REDIS_URL. */
  redisClusterNodes: Array<{ host: string; port: number }> | undefined;
  /** Prefix of every Redis key and stream of this deployment, so several can share one Redis. */
  redisPrefix: string;
}

export function databaseConfig(read: EnvReader): DatabaseConfig {
  const databaseUrl = read.str('DATABASE_URL');
  // A PostgreSQL server of the deployment's own: what a pooler and replicas stand beside.
  const external = databaseUrl !== undefined && /^postgres(ql)?:\/\//.test(databaseUrl);
  if (databaseUrl !== undefined && databaseUrl !== 'memory://' && !external) {
    read.problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }
  const embeddedEngine = read.str('EMBEDDED_ENGINE');
  if (embeddedEngine !== undefined && embeddedEngine !== 'postgres' && embeddedEngine !== 'pglite') {
    read.problems.push('EMBEDDED_ENGINE must be postgres or pglite');
  }
  const pooler = read.str('DATABASE_POOLER') ?? 'none';
  if (pooler !== 'none' && pooler !== 'pgbouncer') read.problems.push('DATABASE_POOLER must be none or pgbouncer');
  else if (pooler !== 'none' && !external) {
    read.problems.push('DATABASE_POOLER needs DATABASE_URL (the embedded engine is reached without a pooler)');
  }
  return {
    databaseUrl,
    embeddedEngine: embeddedEngine as DatabaseConfig['embeddedEngine'],
    databasePooler: pooler as DatabaseConfig['databasePooler'],
    databaseReadUrls: readUrls(read, external),
    databaseReadMaxLagMs: read.int('DATABASE_READ_MAX_LAG_MS', 5000, 100, 3_600_000),
    databasePartitions: read.int('DATABASE_PARTITIONS', 1, 1, 1024),
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:']),
    redisClusterNodes: clusterNodes(read),
    redisPrefix: read.str('REDIS_PREFIX') ?? 'chat',
  };
}

/** Comma-separated postgres:// URLs of replicas; only beside a DATABASE_URL (the embedded engine has no replicas). */
function readUrls(read: EnvReader, external: boolean): string[] {
  const raw = read.str('DATABASE_READ_URLS');
  if (raw === undefined) return [];
  const urls = raw.split(',').map((u) => u.trim());
  if (urls.some((u) => !/^postgres(ql)?:\/\/[^\s]+$/.test(u))) {
    read.problems.push('DATABASE_READ_URLS must be postgres:// URLs separated by commas');
    return [];
  }
  if (!external) {
    read.problems.push('DATABASE_READ_URLS needs DATABASE_URL (replicas follow the PostgreSQL server it names)');
    return [];
  }
  return urls;
}

/** `host:port,host:port` (a `redis://` in front of each is accepted): any few masters or replicas of the cluster. */
function clusterNodes(read: EnvReader): DatabaseConfig['redisClusterNodes'] {
  const raw = read.str('REDIS_CLUSTER_NODES');
  if (raw === undefined) return undefined;
  if (read.str('REDIS_URL') !== undefined) {
    read.problems.push('REDIS_URL and REDIS_CLUSTER_NODES are both set: use one (a cluster takes REDIS_CLUSTER_NODES)');
    return undefined;
  }
  const nodes = raw.split(',').map((part) => {
    const m = /^(?:redis:\/\/)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(part.trim());
    const port = m ? Number(m[2]) : 0;
    return m && port > 0 && port < 65536 ? { host: m[1]!.replace(/^\[|\]$/g, ''), port } : undefined;
  });
  if (nodes.length === 0 || nodes.some((n) => n === undefined)) {
    read.problems.push('REDIS_CLUSTER_NODES must be host:port[,host:port…]');
    return undefined;
  }
  return nodes as Array<{ host: string; port: number }>;
}

/** Whether instances share state through Redis (one server or a cluster). */
export const redisConfigured = (c: Pick<DatabaseConfig, 'redisUrl' | 'redisClusterNodes'>): boolean =>
  c.redisUrl !== undefined || c.redisClusterNodes !== undefined;
