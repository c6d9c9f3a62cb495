import { randomUUID } from 'node:crypto';
import type { ServerOptions } from 'socket.io';
import type { Config } from './config.js';
import { redisConfigured } from './config/database.js';
import { rateLimiters, type RateLimiterFactory } from './limits/rate-limiter.js';
import { windowGate, type WindowGate } from './limits/window-gate.js';
import { createPresenceStore, type PresenceStore } from './presence/index.js';
import { createTypingStore, type TypingStore } from './realtime/index.js';
import type { RedisClient } from './redis.js';

/** What Socket.IO takes as `adapter`: a constructor of the namespace's adapter. */
type AdapterFactory = NonNullable<ServerOptions['adapter']>;

/**
 * The state instances must share to act as one: in memory for a single process, in Redis when REDIS_URL is set.
 * Everything that differs between the two modes is chosen here, once.
 */
export interface SharedState {
  instanceId: string;
  redis: RedisClient | undefined;
  presence: PresenceStore;
  typing: TypingStore;
  limiter: RateLimiterFactory;
  /** "At most once per window" keys (slow mode), held across instances. */
  windows: WindowGate;
  /** The Socket.IO adapter for several instances; undefined keeps Socket.IO's in-memory one. */
  socketAdapter: AdapterFactory | undefined;
  close(): Promise<void>;
}

export async function createSharedState(config: Config, onRedisError: (err: Error) => void): Promise<SharedState> {
  const instanceId = randomUUID();
  const grace = config.realtime.presenceGraceMs;
  if (!redisConfigured(config)) {
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
  // ioredis and the adapters load only here: a single instance never needs them.
  const { adapterClient, createRedis } = await import('./redis.js');
  const prefix = config.redisPrefix;
  const cluster = config.redisClusterNodes;
  const redis = createRedis(cluster ? { clusterNodes: cluster } : { url: config.redisUrl! }, onRedisError);
  const forAdapter = adapterClient(redis, onRedisError);
  await Promise.all([redis.connect(), forAdapter.connect()]);
  return {
    instanceId,
    redis,
    presence: createPresenceStore(redis, prefix, instanceId, grace),
    typing: createTypingStore(redis, prefix),
    limiter: rateLimiters(redis, prefix),
    windows: windowGate(redis, prefix),
    socketAdapter: cluster ? await shardedAdapter(redis, forAdapter, prefix) : await streamsAdapter(forAdapter, prefix),
    close: async () => {
      for (const client of [forAdapter, redis]) await client.quit().catch(() => client.disconnect());
    },
  };
}

/**
 * One Redis: a Redis stream carries every instance's packets, and keeps the sessions that let Socket.IO recover a
 * client's missed packets on another instance.
 */
async function streamsAdapter(client: RedisClient, prefix: string): Promise<AdapterFactory> {
  const { createAdapter } = await import('@socket.io/redis-streams-adapter');
  const { indexedStreamRecovery } = await import('./realtime/stream-recovery.js');
  // Sessions are restored from each instance's index of the stream where it can (stream-recovery.ts).
  return indexedStreamRecovery(
    createAdapter(client, {
      streamName: `${prefix}:socket.io`,
      channelPrefix: `${prefix}:socket.io`,
      sessionKeyPrefix: `${prefix}:sio:session:`,
      maxLen: 100_000,
    }) as AdapterFactory,
  );
}

/**
 * A cluster: Redis 7's sharded pub/sub (SPUBLISH/SSUBSCRIBE), whose messages stay within the shard that owns the
 * channel's slot instead of being copied to every node of the cluster as classic PUBLISH is. One channel for the whole
 * namespace (`static`): every instance hears every packet in the order it was published, as with one Redis stream,
 * which the fan-out relies on (new_message travels on a channel no socket joins, and a room's events keep their
 * order). This adapter keeps no sessions, so Socket.IO recovers no packets: a reconnecting client catches up from the
 * database (`GET /rooms/:id/messages?after=`, `/changes?after=`), as after any longer disconnect.
 */
async function shardedAdapter(pub: RedisClient, sub: RedisClient, prefix: string): Promise<AdapterFactory> {
  const { createShardedAdapter } = await import('@socket.io/redis-adapter');
  return createShardedAdapter(pub, sub, { channelPrefix: `${prefix}:sio`, subscriptionMode: 'static' }) as AdapterFactory;
}
