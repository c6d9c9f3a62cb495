import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RoomParams, errorResponses } from '../contract/common.js';
import { MessageRef as Message } from '../contract/messages.js';
import { PinParams, PinsPage, PinsQuery } from '../contract/pins.js';
import type { PinsService } from './pins.service.js';

const tags = ['pins'];
const WHO =
  'Any participant of a direct or support room; owners and admins of group and business rooms. Idempotent: a repeat changes ' +
  'nothing (no new changeSeq, no event).';

export const pinsRoutes: FastifyPluginAsyncTypebox<{ pins: PinsService }> = async (app, { pins }) => {
  app.put(
    '/rooms/:id/pins/:messageId',
    {
      schema: {
        operationId: 'pinMessage',
        tags,
        summary: 'Pin a message',
        description: `${WHO} At most 50 pinned messages a room (more: 409).`,
        params: PinParams,
        response: { 200: Message, ...errorResponses(403, 404, 409) },
      },
    },
    async (req) => pins.pin(req.auth, req.params.id, req.params.messageId, true),
  );

  app.delete(
    '/rooms/:id/pins/:messageId',
    {
      schema: {
        operationId: 'unpinMessage',
        tags,
        summary: 'Unpin a message',
        description: WHO,
        params: PinParams,
        response: { 200: Message, ...errorResponses(403, 404) },
      },
    },
    async (req) => pins.pin(req.auth, req.params.id, req.params.messageId, false),
  );

  app.get(
    '/rooms/:id/pins',
    {
      schema: {
        operationId: 'listPins',
        tags,
        summary: 'Pinned messages, latest pin first, keyset-paged',
        params: RoomParams,
        querystring: PinsQuery,
        response: { 200: PinsPage, ...errorResponses(400, 404) },
      },
    },
    async (req) => pins.list(req.auth, req.params.id, req.query),
  );
};
