import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../http/common.schemas.js';
import { SearchPage, SearchQuery } from './search.schemas.js';
import type { SearchService } from './search.service.js';

export const searchRoutes: FastifyPluginAsyncTypebox<{ search: SearchService }> = async (app, { search }) => {
  app.get('/messages/search', {
    schema: {
      tags: ['search'],
      summary: "Full-text search over the caller's rooms, newest first",
      description:
        'Words match whole words or their beginnings (and, from 3 characters, any part of a word); "quoted phrases" match ' +
        'words in that order; -word and -"phrase" exclude. Chinese, Japanese and Korean text matches any run of ' +
        'characters. A chatRoomId the caller is not in is 404, as for rooms that do not exist.',
      querystring: SearchQuery,
      response: { 200: SearchPage, ...errorResponses(400, 404) },
    },
  }, async (req) => search.search(req.auth, req.query));
};
