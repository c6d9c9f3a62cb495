import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../http/common.schemas.js';
import { PresenceList, PresenceQuery } from './presence.schemas.js';
import type { PresenceService } from './presence.service.js';

export const presenceRoutes: FastifyPluginAsyncTypebox<{ presence: PresenceService }> = async (app, { presence }) => {
  app.get('/presence', {
    schema: { tags: ['presence'], summary: 'Online state of users who share a room with the caller', querystring: PresenceQuery, response: { 200: PresenceList, ...errorResponses(400) } },
  }, async (req) => presence.query(req.auth, req.query.userIds.split(',')));
};
