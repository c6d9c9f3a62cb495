import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../contract/common.js';
import type { RateLimiter } from '../limits/rate-limiter.js';
import { MAX_INFIX_TERMS, MAX_TERMS } from './query.js';
import { SearchLimits, type SearchLimitsOptions } from './search.limits.js';
import { SearchPage, SearchQuery } from '../contract/search.js';
import type { SearchService } from './search.service.js';

type SearchRoutesOptions = SearchLimitsOptions & { search: SearchService; limiter: RateLimiter };

export const searchRoutes: FastifyPluginAsyncTypebox<SearchRoutesOptions> = async (app, { search, limiter, ...opts }) => {
  const limits = new SearchLimits(limiter, opts);
  app.get(
    '/messages/search',
    {
      schema: {
        operationId: 'searchMessages',
        tags: ['search'],
        summary: "Full-text search over the caller's rooms, newest first",
        description:
          'Words match whole words or their beginnings (and, from 3 characters, any part of a word); "quoted phrases" match ' +
          'words in that order; -word and -"phrase" exclude. Chinese, Japanese and Korean text matches any run of ' +
          'characters. A chatRoomId the caller is not in is 404, as for rooms that do not exist. ' +
          `Limits: at most ${MAX_TERMS} terms, of which at most ${MAX_INFIX_TERMS} partial words (unquoted words of 3 or more ` +
          'characters, single CJK characters), else 400; RATE_LIMIT_SEARCHES_PER_MINUTE searches per user per minute (60 by ' +
          'default) and one at a time per user, else 429 RATE_LIMITED with Retry-After; a search running longer than ' +
          'SEARCH_TIMEOUT_MS (3 s by default), or finding the service busy with others, is 503 UNAVAILABLE with Retry-After.',
        querystring: SearchQuery,
        response: { 200: SearchPage, ...errorResponses(400, 404, 503) },
      },
    },
    async (req) => search.search(req.auth, req.query, limits),
  );
};
