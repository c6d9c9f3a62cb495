import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../contract/common.js';
import { MessageParams, MessageRef as Message } from '../contract/messages.js';
import { ReactionParams, ReactionsPage, ReactionsQuery } from '../contract/reactions.js';
import { invalid } from '../errors.js';
import type { ReactionsService } from './reactions.service.js';

const tags = ['reactions'];
const EMOJI_RULE =
  '`:emoji` (URL-encoded) is one emoji grapheme (ZWJ sequences, skin tones and flags included) or a shortcode `:name:` of 1–32 ' +
  '`[a-z0-9_+-]`, compared exactly as sent. Idempotent; a repeat changes nothing (no new changeSeq, no event).';

export const reactionsRoutes: FastifyPluginAsyncTypebox<{ reactions: ReactionsService }> = async (app, { reactions }) => {
  app.put(
    '/messages/:id/reactions/:emoji',
    {
      schema: {
        operationId: 'addReaction',
        tags,
        summary: "Add the caller's reaction",
        description: `${EMOJI_RULE} At most 50 different emoji on a message (more: 409); an emoji already on it may always be added.`,
        params: ReactionParams,
        response: { 200: Message, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (req) => reactions.add(req.auth, req.params.id, req.params.emoji),
  );

  app.delete(
    '/messages/:id/reactions/:emoji',
    {
      schema: {
        operationId: 'removeReaction',
        tags,
        summary: "Remove the caller's reaction",
        description: EMOJI_RULE,
        params: ReactionParams,
        response: { 200: Message, ...errorResponses(400, 403, 404) },
      },
    },
    async (req) => reactions.remove(req.auth, req.params.id, req.params.emoji),
  );

  // `…/reactions/` with nothing after it names no emoji: a malformed request (400), not an unknown route.
  for (const method of ['PUT', 'DELETE'] as const) {
    app.route({
      method,
      url: '/messages/:id/reactions/',
      schema: { hide: true, params: MessageParams },
      handler: async () => {
        throw invalid('emoji must be one emoji or a :shortcode: of 1–32 [a-z0-9_+-]', '/emoji');
      },
    });
  }

  app.get(
    '/messages/:id/reactions',
    {
      schema: {
        operationId: 'listReactions',
        tags,
        summary: 'Who reacted, first reactions first, keyset-paged',
        params: MessageParams,
        querystring: ReactionsQuery,
        response: { 200: ReactionsPage, ...errorResponses(400, 404) },
      },
    },
    async (req) => reactions.list(req.auth, req.params.id, req.query),
  );
};
