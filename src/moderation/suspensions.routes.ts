import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Feature } from '../feature.js';
import type { FastifyRequest, RouteOptions } from 'fastify';
import { Type } from '@sinclair/typebox';
import { NoContent, errorResponses } from '../contract/common.js';
import { SuspendBody, SuspensionParams, SuspensionSchema, SuspensionsPage, SuspensionsQuery } from '../contract/suspensions.js';
import type { SuspensionsService } from './suspensions.service.js';

const tags = ['moderation'];
const ADMIN = 'Platform `admin` only (403 for anyone else, `support` included).';
const EFFECT =
  'A suspended user still reads (every GET), but every other REST call and every socket event that writes (sends, ' +
  'edits, deletes, reactions, pins, typing, read marks) is refused with 403 FORBIDDEN, whose detail says until when ' +
  '("suspended until <ISO time>" or "suspended until lifted"); their live sockets receive `suspended` at once.';

/** What counts as a write over REST: anything but reading. */
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The one REST check of suspensions, run on every request of the API scope after authentication and before the body
 * is validated or the write budget spent (a refused write costs the budget nothing).
 */
export function suspendedWrites(suspensions: SuspensionsService) {
  return async (req: FastifyRequest): Promise<void> => {
    if (!READS.has(req.method)) suspensions.assertCanWrite(req.auth.userId);
  };
}

/**
 * The OpenAPI side of that check: every write route of the API scope lists the 403 a suspended caller gets, whatever
 * else it documents (run as an onRoute hook before the routes are registered).
 */
export function documentSuspendedWrites(route: RouteOptions): void {
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const schema = route.schema;
  if (!schema?.response || methods.every((m) => READS.has(m))) return;
  const response = schema.response as Record<string, unknown>;
  if (!response['403']) response['403'] = Type.Ref('Problem');
  schema.description = `${schema.description ? `${schema.description} ` : ''}403 FORBIDDEN while the caller is suspended.`;
}

export const suspensionsRoutes: FastifyPluginAsyncTypebox<{ suspensions: SuspensionsService }> = async (app, { suspensions }) => {
  app.put(
    '/admin/suspensions/:userId',
    {
      schema: {
        operationId: 'suspendUser',
        tags,
        summary: 'Suspend a user (or replace their suspension)',
        description:
          `${ADMIN} \`until\` must be in the future (absent or null: until lifted); \`reason\` is 1–500 characters. ` +
          `An admin cannot suspend themselves (400). ${EFFECT}`,
        params: SuspensionParams,
        body: SuspendBody,
        response: { 200: SuspensionSchema, ...errorResponses(400, 403) },
      },
    },
    async (req) => suspensions.suspend(req.auth, req.params.userId, req.body),
  );

  app.delete(
    '/admin/suspensions/:userId',
    {
      schema: {
        operationId: 'liftSuspension',
        tags,
        summary: 'Lift a suspension (idempotent)',
        description: ADMIN,
        params: SuspensionParams,
        response: { 204: NoContent, ...errorResponses(400, 403) },
      },
    },
    async (req, reply) => {
      await suspensions.lift(req.auth, req.params.userId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/admin/suspensions',
    {
      schema: {
        operationId: 'listSuspensions',
        tags,
        summary: 'Suspensions in force, latest first, keyset-paged',
        description: `${ADMIN} Expired suspensions are not listed.`,
        querystring: SuspensionsQuery,
        response: { 200: SuspensionsPage, ...errorResponses(400, 403) },
      },
    },
    async (req) => suspensions.list(req.auth, req.query),
  );
};

/** The routes, and the in-memory view of suspensions: loaded before the server listens, its reloads stopped before the database closes. */
export function suspensionsFeature(suspensions: SuspensionsService): Feature {
  return {
    name: 'suspensions',
    routes: (api) => api.register(suspensionsRoutes, { suspensions }),
    start: (log) => suspensions.start(log),
    stop: () => suspensions.stop(),
  };
}
