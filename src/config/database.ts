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
  redisUrl: string | undefined;
  /** Prefix of every Redis key and stream of this deployment, so several can share one Redis. */
  redisPrefix: string;
}

export function databaseConfig(read: EnvReader): DatabaseConfig {
  const databaseUrl = read.str('DATABASE_URL');
  if (databaseUrl !== undefined && databaseUrl !== 'memory://' && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    read.problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }
  const embeddedEngine = read.str('EMBEDDED_ENGINE');
  if (embeddedEngine !== undefined && embeddedEngine !== 'postgres' && embeddedEngine !== 'pglite') {
    read.problems.push('EMBEDDED_ENGINE must be postgres or pglite');
  }
  return {
    databaseUrl,
    embeddedEngine: embeddedEngine as DatabaseConfig['embeddedEngine'],
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:']),
    redisPrefix: read.str('REDIS_PREFIX') ?? 'chat',
  };
}
