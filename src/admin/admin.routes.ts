import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../contract/common.js';
import { AdminJob, AdminUserParams, EraseAccepted, JobParams, PurgeBody, PurgeParams, PurgeResult, UserExport } from '../contract/admin.js';
import type { AdminService } from './admin.service.js';

const tags = ['admin'];
const ADMIN = 'Platform `admin` only (403 for anyone else, `support` included).';

export const adminRoutes: FastifyPluginAsyncTypebox<{ admin: AdminService }> = async (app, { admin }) => {
  app.post(
    '/admin/rooms/:id/purge',
    {
      schema: {
        operationId: 'purgeUserMessages',
        tags,
        summary: 'Delete every message of one user in a room, in one batch',
        description:
          `${ADMIN} Every live message of \`userId\` in the room (with \`seq >= sinceSeq\` when given) becomes a tombstone ` +
          'deleted by the admin, in one transaction: their changeSeqs are one contiguous range ending at `lastChangeSeq`, ' +
          'and live clients get `message_deleted` for each, as for a single delete. Nothing left to delete: ' +
          '`{ deleted: 0, lastChangeSeq: <the room’s current> }`. Unknown room: 404.',
        params: PurgeParams,
        body: PurgeBody,
        response: { 200: PurgeResult, ...errorResponses(400, 403, 404) },
      },
    },
    async (req) => admin.purge(req.auth, req.params.id, req.body),
  );

  app.get(
    '/admin/users/:userId/export',
    {
      schema: {
        operationId: 'exportUser',
        tags,
        summary: 'Everything stored about a user, as one JSON document (a download)',
        description:
          `${ADMIN} Streamed as it is read (application/json, content-disposition attachment): profile, memberships, ` +
          'messages sent (with earlier versions and files), reactions, read and delivery actions, reports filed, blocks, ' +
          'push subscriptions, suspension. A user the service has never seen: 404.',
        params: AdminUserParams,
        response: { 200: UserExport, ...errorResponses(400, 403, 404) },
      },
    },
    async (req, reply) => {
      const chunks = await admin.exportUser(req.auth, req.params.userId);
      const file = `user-${encodeURIComponent(req.params.userId)}.json`;
      return (
        reply
          .header('content-type', 'application/json; charset=utf-8')
          .header('content-disposition', `attachment; filename="export.json"; filename*=UTF-8''${file}`)
          .header('cache-control', 'no-store')
          // A stream is sent as it is; the response schema documents the document it makes.
          .send(Readable.from(chunks) as never)
      );
    },
  );

  app.delete(
    '/admin/users/:userId',
    {
      schema: {
        operationId: 'eraseUser',
        tags,
        summary: 'Erase a user (a background job)',
        description:
          `${ADMIN} Queues the erase and answers at once; \`GET /admin/jobs/:id\` follows it. Their messages become ` +
          'tombstones (`deletedBy: "system"`), their reactions, receipts, push subscriptions, notifications, blocks, ' +
          'reports, suspension and uploads go, they leave every room (owners handed over) and the profile is ' +
          'anonymised (`name: null`) for good. While an erase of the user is queued or running, the same job is ' +
          'answered. A user the service has never seen: 404.',
        params: AdminUserParams,
        response: { 202: EraseAccepted, ...errorResponses(400, 403, 404) },
      },
    },
    async (req, reply) => reply.code(202).send(await admin.erase(req.auth, req.params.userId)),
  );

  app.get(
    '/admin/jobs/:id',
    {
      schema: {
        operationId: 'getAdminJob',
        tags,
        summary: 'An admin job and its progress',
        description: `${ADMIN} \`progress\` counts what is done so far; it is committed with each batch.`,
        params: JobParams,
        response: { 200: AdminJob, ...errorResponses(403, 404) },
      },
    },
    async (req) => admin.job(req.auth, req.params.id),
  );
};
