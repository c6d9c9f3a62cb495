import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { NoContent, errorResponses } from '../contract/common.js';
import {
  DeleteSubscriptionBody,
  SubscriptionBody,
  SubscriptionList,
  SubscriptionParams,
  SubscriptionSchema,
  VapidPublicKey,
} from '../contract/notifications.js';
import type { PushSubscriptionsService } from './notifications.service.js';

const tags = ['notifications'];

type Api = Parameters<FastifyPluginAsyncTypebox>[0];

/** Web Push: the key browsers subscribe with, then the caller's subscriptions. */
export const notificationsRoutes: FastifyPluginAsyncTypebox<{ subscriptions: PushSubscriptionsService }> = async (
  app,
  { subscriptions },
) => {
  registrationRoutes(app, subscriptions);
  subscriptionListRoutes(app, subscriptions);
};

function registrationRoutes(app: Api, subscriptions: PushSubscriptionsService): void {
  app.get(
    '/push/vapid-public-key',
    {
      schema: {
        operationId: 'getVapidPublicKey',
        tags,
        summary: 'The applicationServerKey for pushManager.subscribe() (404 when Web Push is off)',
        response: { 200: VapidPublicKey, ...errorResponses(404) },
      },
    },
    async () => subscriptions.vapidPublicKey(),
  );

  app.post(
    '/push/subscriptions',
    {
      schema: {
        operationId: 'createPushSubscription',
        tags,
        summary:
          "Register this browser's PushSubscription for the caller (200 when already registered; an endpoint registered by another user moves to the caller)",
        description:
          'The service POSTs to the endpoint whenever the caller is notified, so it must be an `https` URL whose host resolves to ' +
          'public addresses only: loopback, private, link-local and reserved destinations (by address or by what the host name ' +
          'resolves to) are refused with 400 `VALIDATION_FAILED` on `/endpoint`, as are unresolvable hosts, credentials in the URL ' +
          'and control characters. The check is repeated at every send, and a subscription whose host has come to resolve to a ' +
          'refused address is removed. An operator running a push service inside their network sets `PUSH_ALLOW_PRIVATE_ENDPOINTS=1` ' +
          '(then `http` and loopback, private and link-local hosts are accepted).',
        body: SubscriptionBody,
        response: { 200: SubscriptionSchema, 201: SubscriptionSchema, ...errorResponses(400, 404) },
      },
    },
    async (req, reply) => {
      const { subscription, created } = await subscriptions.register(req.auth, req.body);
      return reply.status(created ? 201 : 200).send(subscription);
    },
  );
}

function subscriptionListRoutes(app: Api, subscriptions: PushSubscriptionsService): void {
  app.get(
    '/push/subscriptions',
    {
      schema: {
        operationId: 'listPushSubscriptions',
        tags,
        summary: "The caller's push subscriptions",
        response: { 200: SubscriptionList, ...errorResponses() },
      },
    },
    async (req) => subscriptions.list(req.auth),
  );

  app.delete(
    '/push/subscriptions',
    {
      schema: {
        operationId: 'deletePushSubscriptionByEndpoint',
        tags,
        summary: "Unregister one of the caller's subscriptions by endpoint",
        body: DeleteSubscriptionBody,
        response: { 204: NoContent, ...errorResponses(400, 404) },
      },
    },
    async (req, reply) => {
      await subscriptions.remove(req.auth, { endpoint: req.body.endpoint });
      return reply.status(204).send(null);
    },
  );

  app.delete(
    '/push/subscriptions/:id',
    {
      schema: {
        operationId: 'deletePushSubscription',
        tags,
        summary: "Unregister one of the caller's subscriptions by id",
        params: SubscriptionParams,
        response: { 204: NoContent, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      await subscriptions.remove(req.auth, { id: req.params.id });
      return reply.status(204).send(null);
    },
  );
}
