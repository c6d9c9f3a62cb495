import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../http/common.schemas.js';
import { SearchPage, SearchQuery } from './search.schemas.js';
import type { SearchService } from './search.service.js';

export const searchRoutes: FastifyPluginAsyncTypebox<{ search: SearchService }> = async (app, { search }) => {
  app.get('/messages/search', {
    schema: { tags: ['search'], summary: "Full-text search over the caller's rooms", querystring: SearchQuery, response: { 200: SearchPage, ...errorResponses(400) } },
  }, async (req) => search.search(req.auth, req.query));
};
