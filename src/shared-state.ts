import { randomUUID } from 'node:crypto';
import type { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import { rateLimiters, type RateLimiterFactory } from './limits/rate-limiter.js';
import { windowGate, type WindowGate } from './limits/window-gate.js';
import { createPresenceStore, type PresenceStore } from './presence/index.js';
import { createTypingStore, type TypingStore } from './realtime/index.js';

/**
 * The state instances must share to act as one: in memory for a single process, in Redis when REDIS_URL is set.
 * Everything that differs between the two modes is chosen here, once.
 */
export interface SharedState {
  instanceId: string;
  redis: Redis | undefined;
  presence: PresenceStore;
  typing: TypingStore;
  limiter: RateLimiterFactory;
  /** "At most once per window" keys (slow mode), held across instances. */
  windows: WindowGate;
  /** The Socket.IO adapter for several instances; undefined keeps Socket.IO's in-memory one. */
  socketAdapter: ReturnType<typeof createAdapter> | undefined;
  close(): Promise<void>;
}

export async function createSharedState(config: Config, onRedisError: (err: Error) => void): Promise<SharedState> {
  const instanceId = randomUUID();
  const grace = config.realtime.presenceGraceMs;
  if (!config.redisUrl) {
    return {
      instanceId,
      redis: undefined,
      presence: createPresenceStore(undefined, config.redisPrefix, instanceId, grace),
      typing: createTypingStore(undefined, config.redisPrefix),
      limiter: rateLimiters(undefined, config.redisPrefix),
      windows: windowGate(undefined, config.redisPrefix),
      socketAdapter: undefined,
      close: async () => {},
    };
  }
  // ioredis and the adapter load only here: a single instance never needs them.
  const [{ adapterClient, createRedis }, { createAdapter }] = await Promise.all([
    import('./redis.js'),
    import('@socket.io/redis-streams-adapter'),
  ]);
  const prefix = config.redisPrefix;
  const redis = createRedis(config.redisUrl, onRedisError);
  const forAdapter = adapterClient(redis, onRedisError);
  await Promise.all([redis.connect(), forAdapter.connect()]);
  return {
    instanceId,
    redis,
    presence: createPresenceStore(redis, prefix, instanceId, grace),
    typing: createTypingStore(redis, prefix),
    limiter: rateLimiters(redis, prefix),
    windows: windowGate(redis, prefix),
    socketAdapter: createAdapter(forAdapter, {
      streamName: `${prefix}:socket.io`,
      channelPrefix: `${prefix}:socket.io`,
      sessionKeyPrefix: `${prefix}:sio:session:`,
      maxLen: 100_000,
    }),
    close: async () => {
      for (const client of [forAdapter, redis]) await client.quit().catch(() => client.disconnect());
    },
  };
}
