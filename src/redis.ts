import { Cluster, Redis } from 'ioredis';

/** One Redis server, or a Redis Cluster: every command the service sends works on both. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: a URL, or the seed nodes of a cluster (the client finds the rest). */
export type RedisTarget = { url: string } | { clusterNodes: Array<{ host: string; port: number }> };

/**
 * One Redis connection for commands (on a cluster, one per master, as the slots say). Commands fail fast while Redis
 * is away (so a request answers 503 instead of hanging) and the client reconnects by itself when it is back.
 */
export function createRedis(target: { url: string }, onError: (err: Error) => void): Redis;
export function createRedis(target: RedisTarget, onError: (err: Error) => void): RedisClient;
export function createRedis(target: RedisTarget, onError: (err: Error) => void): RedisClient {
  const options = { maxRetriesPerRequest: 1, connectTimeout: 5000, lazyConnect: true };
  const redis =
    'url' in target
      ? new Redis(target.url, { ...options, retryStrategy: (times) => Math.min(times * 100, 2000) })
      : new Cluster(target.clusterNodes, {
          redisOptions: options,
          lazyConnect: true,
          clusterRetryStrategy: (times) => Math.min(times * 100, 2000),
          // Socket.IO's sharded adapter subscribes with SSUBSCRIBE: each channel on the master that owns its slot.
          shardedSubscribers: true,
          // A failover moves slots: the client asks the cluster again rather than failing the command.
          retryDelayOnFailover: 200,
          retryDelayOnClusterDown: 300,
          // While a failover settles, nodes disagree on a slot's owner and bounce a command between them; with no
          // pause ioredis spends its redirections in milliseconds. 40 × 50 ms rides out the disagreement.
          retryDelayOnMoved: 50,
          maxRedirections: 40,
        });
  // Connection errors are expected during an outage; /health reports them, and ioredis reconnects.
  redis.on('error', onError);
  return redis;
}

/**
 * The client handed to the Socket.IO adapter. The adapter fires some commands without awaiting them (PUBLISH, and SET
 * when a socket's session is kept), and ioredis itself re-sends SUBSCRIBE on the adapter's duplicates when it
 * reconnects; a rejection of one of those (Redis away, or the client closed mid-reconnect) would go unhandled and stop
 * the process. So every command of this client and of every client duplicated from it is observed at the one place
 * all commands pass, `sendCommand`; callers that await a command still see its error.
 */
export function adapterClient<C extends RedisClient>(redis: C, onError: (err: Error) => void): C {
  const client = observeEveryCommand((redis as { duplicate(): RedisClient }).duplicate() as C);
  client.on('error', onError);
  return client;
}

function observeEveryCommand<C extends RedisClient>(client: C): C {
  const target = client as unknown as {
    sendCommand: (...args: unknown[]) => unknown;
    duplicate: (...args: unknown[]) => C;
  };
  const send = target.sendCommand.bind(client);
  const duplicate = target.duplicate.bind(client);
  target.sendCommand = (...args) => {
    const result = send(...args);
    if (result instanceof Promise) result.catch(() => {});
    return result;
  };
  target.duplicate = (...args) => observeEveryCommand(duplicate(...args));
  return client;
}
