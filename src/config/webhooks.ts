import type { EnvReader } from './readers.js';

export interface WebhooksConfig {
  /**
   * WEBHOOK_ALLOW_PRIVATE_URLS=1: webhook URLs may be plain http and resolve to loopback, private or link-local
   * addresses (a service inside the operator's network, tests). Off: https and public addresses only, as push endpoints.
   */
  allowPrivateUrls: boolean;
  /** The first retry waits up to this long (full jitter); each next one up to twice as long, at most an hour. */
  retryBaseMs: number;
  /** A delivery still failing this long after its event was queued is given up (status `failed`). */
  retryForS: number;
  /** One POST may take this long before it counts as failed. */
  timeoutMs: number;
}

export function webhooksConfig(read: EnvReader): WebhooksConfig {
  return {
    allowPrivateUrls: read.bool('WEBHOOK_ALLOW_PRIVATE_URLS', false),
    retryBaseMs: read.int('WEBHOOK_RETRY_BASE_MS', 1000, 1, 3_600_000),
    retryForS: read.int('WEBHOOK_RETRY_FOR_S', 86_400, 1, 30 * 86_400),
    timeoutMs: read.int('WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
  };
}
