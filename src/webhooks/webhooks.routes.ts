import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { NoContent, errorResponses } from '../contract/common.js';
import { CreatedWebhook, CreateWebhookBody, DeliveriesPage, DeliveriesQuery, WebhookList, WebhookParams } from '../contract/webhooks.js';
import type { WebhooksService } from './webhooks.service.js';

const tags = ['webhooks'];
const ADMIN = 'Platform `admin` role only (403 for anyone else, `support` included).';

export const webhooksRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhooksService }> = async (app, { webhooks }) => {
  app.post(
    '/admin/webhooks',
    {
      schema: {
        operationId: 'createWebhook',
        tags,
        summary: 'Add an outgoing webhook',
        description:
          `${ADMIN} Every event of \`events\` (or all, \`["*"]\`) is POSTed to \`url\` at least once, in commit order per room, ` +
          'signed with `secret` (X-Chat-Signature). The secret is generated when absent and shown in this answer only. See docs/webhooks.md.',
        body: CreateWebhookBody,
        response: { 201: CreatedWebhook, ...errorResponses(400, 403) },
      },
    },
    async (req, reply) => reply.code(201).send(await webhooks.create(req.auth, req.body)),
  );

  app.get(
    '/admin/webhooks',
    {
      schema: {
        operationId: 'listWebhooks',
        tags,
        summary: 'The outgoing webhooks (without their secrets)',
        description: ADMIN,
        response: { 200: WebhookList, ...errorResponses(403) },
      },
    },
    async (req) => webhooks.list(req.auth),
  );

  app.delete(
    '/admin/webhooks/:id',
    {
      schema: {
        operationId: 'deleteWebhook',
        tags,
        summary: 'Remove an outgoing webhook',
        description: `${ADMIN} Its pending deliveries are dropped.`,
        params: WebhookParams,
        response: { 204: NoContent, ...errorResponses(403, 404) },
      },
    },
    async (req, reply) => {
      await webhooks.delete(req.auth, req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/admin/webhooks/:id/deliveries',
    {
      schema: {
        operationId: 'listWebhookDeliveries',
        tags,
        summary: "A webhook's recent deliveries, newest first, keyset-paged",
        description: `${ADMIN} Kept 7 days after they are delivered or given up.`,
        params: WebhookParams,
        querystring: DeliveriesQuery,
        response: { 200: DeliveriesPage, ...errorResponses(400, 403, 404) },
      },
    },
    async (req) => webhooks.deliveries(req.auth, req.params.id, req.query),
  );
};
