import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { invalid } from '../errors.js';
import { isUserId } from '../auth/tokens.js';
import { errorResponses } from '../contract/common.js';
import { PresenceList, PresenceQuery } from '../contract/presence.js';
import type { PresenceService } from './presence.service.js';

export const presenceRoutes: FastifyPluginAsyncTypebox<{ presence: PresenceService }> = async (app, { presence }) => {
  app.get(
    '/presence',
    {
      schema: {
        operationId: 'getPresence',
        tags: ['presence'],
        summary: 'Online state of users who share a room with the caller',
        querystring: PresenceQuery,
        response: { 200: PresenceList, ...errorResponses(400) },
      },
    },
    async (req) => presence.query(req.auth, userIdList(req.query.userIds)),
  );
};

/** Each id of the list as any user id is checked (blanks between commas are skipped, as before). */
function userIdList(text: string): string[] {
  const ids = text.split(',').map((u) => u.trim());
  const bad = ids.findIndex((u) => u !== '' && !isUserId(u));
  if (bad >= 0) throw invalid(`userIds: id ${bad + 1} is not a user id (1 to 128 characters, without control characters)`, '/userIds');
  return ids;
}
