import type { FastifyInstance } from 'fastify';
import type { RedisClient } from '../redis.js';
import type { Database } from '../db/client.js';
import { AppError, toProblem } from '../errors.js';

/**
 * 200 when the service can serve (its database, and Redis when configured, answer), 503 otherwise. No token needed.
 * Probes ask every few seconds per instance: their requests are logged only from `warn` up (a failing one still is).
 */
export function registerHealth(app: FastifyInstance, database: Database, redis: RedisClient | undefined): void {
  app.get('/health', { logLevel: 'warn', schema: { tags: ['health'], summary: 'Readiness', security: [] } }, async (_req, reply) => {
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
    if (db && cache !== false) return reply.send({ status: 'ok', database: database.kind, ...(redis ? { redis: 'ok' } : {}) });
    const down = [!db && 'database', cache === false && 'redis'].filter(Boolean).join(' and ');
    // Answered here, not thrown: the error handler would log a warning for every probe during an outage.
    return reply
      .status(503)
      .type('application/problem+json')
      .send(toProblem(new AppError('UNAVAILABLE', `${down} not answering`)));
  });
}
