import { Redis } from 'ioredis';

/**
 * One Redis connection for commands. Commands fail fast while Redis is away (so a request answers 503 instead of
 * hanging) and the client reconnects by itself when it is back.
 */
export function createRedis(url: string, onError: (err: Error) => void): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    lazyConnect: true,
  });
  // Connection errors are expected during an outage; /health reports them, and ioredis reconnects.
  redis.on('error', onError);
  return redis;
}

/**
 * The client handed to the Socket.IO adapter. The adapter fires some commands without awaiting them (PUBLISH, and SET
 * when a socket's session is kept), so during an outage their rejections would go unhandled and stop the process.
 * Every promise this client returns is observed here; callers that await it still see the error.
 */
export function adapterClient(redis: Redis, onError: (err: Error) => void): Redis {
  const client = redis.duplicate();
  client.on('error', onError);
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || prop === 'duplicate' || prop === 'on' || prop === 'once') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) result.catch(() => {});
        return result;
      };
    },
  });
}
