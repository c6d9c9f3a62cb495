import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Database } from '../db/client.js';

/** 200 when the service can serve (its database, and Redis when configured, answer), 503 otherwise. No token needed. */
export function registerHealth(app: FastifyInstance, database: Database, redis: Redis | undefined): void {
  app.get('/health', { schema: { tags: ['health'], summary: 'Readiness', security: [] } }, async (_req, reply) => {
    const [db, cache] = await Promise.all([
      database.ping().then(
        () => true,
        () => false,
      ),
      redis
        ? redis.ping().then(
            () => true,
            () => false,
          )
        : Promise.resolve(undefined),
    ]);
    const status = {
      status: db && cache !== false ? 'ok' : 'unavailable',
      database: database.kind,
      ...(redis ? { redis: cache ? 'ok' : 'down' } : {}),
    };
    if (status.status === 'ok') return reply.send(status);
    const down = [!db && 'database', cache === false && 'redis'].filter(Boolean).join(' and ');
    return reply
      .status(503)
      .type('application/problem+json')
      .send({
        type: 'urn:chat:error:unavailable',
        title: 'Service Unavailable',
        status: 503,
        code: 'UNAVAILABLE',
        detail: `${down} not answering`,
      });
  });
}
