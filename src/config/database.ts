import type { EnvReader } from './readers.js';

export interface DatabaseConfig {
  /** undefined: embedded PGlite under dataDir. "memory://": PGlite in memory (tests). */
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  /** Prefix of every Redis key and stream of this deployment, so several can share one Redis. */
  redisPrefix: string;
}

export function databaseConfig(read: EnvReader): DatabaseConfig {
  const databaseUrl = read.str('DATABASE_URL');
  if (databaseUrl !== undefined && databaseUrl !== 'memory://' && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    read.problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }
  return {
    databaseUrl,
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:']),
    redisPrefix: read.str('REDIS_PREFIX') ?? 'chat',
  };
}
