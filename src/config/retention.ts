import type { EnvReader } from './readers.js';

export const ROOM_TYPES = ['direct', 'group', 'business', 'support'] as const;
export type RetainedRoomType = (typeof ROOM_TYPES)[number];

export interface RetentionConfig {
  /**
   * Days a message is kept per room type before it becomes a tombstone; undefined: kept forever. RETENTION_DAYS sets
   * every type, RETENTION_DAYS_<TYPE> overrides one.
   */
  days: Record<RetainedRoomType, number | undefined>;
  /** How often each instance looks for rooms with expired messages. */
  intervalMs: number;
  /** Messages tombstoned per transaction: the room row is locked only for one such batch, so sends barely wait. */
  batchSize: number;
  /** The least pause between two batches; retention rests three times as long as a batch took anyway (see Retention). */
  pauseMs: number;
}

export interface AdminJobsConfig {
  /** Messages an erase tombstones per transaction (per room). */
  eraseBatchSize: number;
  /** How long a job stays with the instance that took it without news; after that, any instance takes it over. */
  leaseMs: number;
  /** How often each instance looks for a job to run (besides being woken by the instance that queued it). */
  pollMs: number;
  /** Pause between two batches of a job (0 in production; tests slow a job down with it). */
  pauseMs: number;
}

const MAX_DAYS = 100 * 365;

export function retentionConfig(read: EnvReader): RetentionConfig {
  const all = optionalDays(read, 'RETENTION_DAYS');
  const days = Object.fromEntries(
    ROOM_TYPES.map((type) => [type, optionalDays(read, `RETENTION_DAYS_${type.toUpperCase()}`) ?? all]),
  ) as Record<RetainedRoomType, number | undefined>;
  return {
    days,
    intervalMs: read.int('RETENTION_INTERVAL_MS', 60_000, 10, 24 * 3600 * 1000),
    batchSize: read.int('RETENTION_BATCH_SIZE', 50, 1, 10_000),
    pauseMs: read.int('RETENTION_PAUSE_MS', 0, 0, 60_000),
  };
}

export function adminJobsConfig(read: EnvReader): AdminJobsConfig {
  return {
    eraseBatchSize: read.int('ERASE_BATCH_SIZE', 50, 1, 10_000),
    leaseMs: read.int('ADMIN_JOB_LEASE_MS', 30_000, 200, 3600 * 1000),
    pollMs: read.int('ADMIN_JOB_POLL_MS', 5000, 10, 3600 * 1000),
    pauseMs: read.int('ADMIN_JOB_PAUSE_MS', 0, 0, 60_000),
  };
}

/** Unset (or blank): no limit. Otherwise a whole number of days, at least 1. */
function optionalDays(read: EnvReader, name: string): number | undefined {
  if (read.str(name) === undefined) return undefined;
  return read.int(name, 1, 1, MAX_DAYS);
}
