import type { EnvReader } from './readers.js';

export interface LimitsConfig {
  /** Writes per user per minute before 429: one budget for REST and socket writes, shared by every instance. */
  rateLimitWritesPerMinute: number;
  search: {
    /** Searches per user per minute before 429 (reads are otherwise not limited; a search is the one costly read). */
    perMinute: number;
    /** A search taking longer than this is cut off (PostgreSQL statement timeout) and answered 503 with Retry-After. */
    timeoutMs: number;
  };
  /** Largest JSON request body in bytes; over it is 413. */
  bodyLimitBytes: number;
  /** How long after sending a message its sender may edit it, in seconds; 0: always. */
  messageEditWindowS: number;
}

export function limitsConfig(read: EnvReader): LimitsConfig {
  return {
    rateLimitWritesPerMinute: read.int('RATE_LIMIT_WRITES_PER_MINUTE', 600, 1, 1_000_000),
    search: {
      perMinute: read.int('RATE_LIMIT_SEARCHES_PER_MINUTE', 60, 1, 1_000_000),
      timeoutMs: read.int('SEARCH_TIMEOUT_MS', 3000, 100, 600_000),
    },
    bodyLimitBytes: read.int('BODY_LIMIT_BYTES', 256 * 1024, 1024, 64 * 1024 * 1024),
    messageEditWindowS: read.int('MESSAGE_EDIT_WINDOW_S', 0, 0, 100 * 365 * 24 * 3600),
  };
}
