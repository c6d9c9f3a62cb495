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
 * when a socket's session is kept), and ioredis itself re-sends SUBSCRIBE on the adapter's duplicates when it
 * reconnects; a rejection of one of those (Redis away, or the client closed mid-reconnect) would go unhandled and stop
 * the process. So every command of this client and of every client duplicated from it is observed at the one place
 * all commands pass, `sendCommand`; callers that await a command still see its error.
 */
export function adapterClient(redis: Redis, onError: (err: Error) => void): Redis {
  const client = observeEveryCommand(redis.duplicate());
  client.on('error', onError);
  return client;
}

function observeEveryCommand(client: Redis): Redis {
  const send = client.sendCommand.bind(client);
  const duplicate = client.duplicate.bind(client);
  client.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
    const result = send(...args);
    if (result instanceof Promise) result.catch(() => {});
    return result;
  };
  client.duplicate = (...args: Parameters<Redis['duplicate']>) => observeEveryCommand(duplicate(...args));
  return client;
}
