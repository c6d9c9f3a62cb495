import { Redis } from 'ioredis';
import { inject } from 'vitest';

/** Whether this run's apps have Redis (the PostgreSQL project with TEST_REDIS_URL): the suites of several instances run. */
export const runsClustered = (): boolean => inject('template').kind === 'postgres' && !!process.env['TEST_REDIS_URL'];

/**
 * On the PostgreSQL run with TEST_REDIS_URL set, every test app is a cluster-ready deployment: its shared state
 * (Socket.IO adapter, presence, typing, rate limits) goes through Redis, under a prefix of its own.
 */
export function redisEnv(kind: 'pglite' | 'postgres'): Record<string, string> {
  const url = process.env['TEST_REDIS_URL'];
  if (kind !== 'postgres' || !url) return {};
  return { REDIS_URL: url, REDIS_PREFIX: uniquePrefix() };
}

export const uniquePrefix = () => `chat-test-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

export async function dropRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    // Keys a script touches together carry a hash tag, `{prefix:…}`, for Redis Cluster.
    for (const match of [`${prefix}:*`, `{${prefix}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}
