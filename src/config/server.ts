import path from 'node:path';
import type { EnvReader } from './readers.js';

export interface ServerConfig {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  dataDir: string;
  publicUrl: string;
  corsOrigins: string[] | '*' | false;
  logLevel: string;
  /** LOG_FORMAT when set; unset: chosen at start from the terminal (src/log-format.ts). */
  logFormat: 'json' | 'pretty' | undefined;
  /** How long in-flight work may take to finish on SIGTERM. */
  shutdownTimeoutMs: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function serverConfig(read: EnvReader): ServerConfig {
  const nodeEnv = read.str('NODE_ENV');
  const env: ServerConfig['env'] = nodeEnv === 'production' ? 'production' : nodeEnv === 'test' ? 'test' : 'development';
  const port = read.int('PORT', 3000, 0, 65535);
  const host = read.str('HOST') ?? '0.0.0.0';
  const dataDir = path.resolve(read.str('DATA_DIR') ?? './data');
  const publicUrl = (read.url('PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(/\/+$/, '');
  const cors = corsOrigins(read.str('CORS_ORIGINS'), env === 'production');
  const logLevel = read.str('LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) read.problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  const rawLogFormat = read.str('LOG_FORMAT');
  const logFormat = rawLogFormat === 'json' || rawLogFormat === 'pretty' ? rawLogFormat : undefined;
  if (rawLogFormat !== undefined && !logFormat) read.problems.push(`LOG_FORMAT must be json or pretty (got "${rawLogFormat}")`);
  const shutdownTimeoutMs = read.int('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000);
  return {
    env,
    port,
    host,
    dataDir,
    publicUrl,
    corsOrigins: cors,
    logLevel,
    logFormat,
    shutdownTimeoutMs,
  };
}

/** Unset: any origin in development, none in production (a browser app there names its origins). */
function corsOrigins(raw: string | undefined, production: boolean): ServerConfig['corsOrigins'] {
  if (raw === undefined) return production ? false : '*';
  if (raw === '*') return '*';
  return raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
}
