import type { FastifyInstance } from 'fastify';
import type { Database } from '../db/client.js';

/** 200 when the service can serve (its database answers), 503 otherwise. No token needed. */
export function registerHealth(app: FastifyInstance, database: Database): void {
  app.get('/health', { schema: { tags: ['health'], summary: 'Readiness', security: [] } }, async (_req, reply) => {
    try {
      await database.ping();
      return reply.send({ status: 'ok', database: database.kind });
    } catch {
      return reply.status(503).type('application/problem+json').send({
        type: 'urn:chat:error:unavailable', title: 'Service Unavailable', status: 503, code: 'UNAVAILABLE', detail: 'database is not answering',
      });
    }
  });
}
