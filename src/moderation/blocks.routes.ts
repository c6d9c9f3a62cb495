import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { BlockParams, BlocksPage, BlocksQuery } from '../contract/blocks.js';
import { NoContent, errorResponses } from '../contract/common.js';
import type { BlocksService } from './blocks.service.js';

const tags = ['blocks'];
const RULES =
  'A blocked user cannot open a direct room with the blocker nor write (send, edit, react) in their direct room, and ' +
  'the blocker does not write to them there either (403 FORBIDDEN, the same whichever side blocked); the blocked ' +
  'user causes the blocker no notification. Shared group rooms are unchanged. Idempotent.';

export const blocksRoutes: FastifyPluginAsyncTypebox<{ blocks: BlocksService }> = async (app, { blocks }) => {
  app.put(
    '/blocks/:userId',
    {
      schema: {
        operationId: 'blockUser',
        tags,
        summary: 'Block a user',
        description: `${RULES} Blocking yourself is 400.`,
        params: BlockParams,
        response: { 204: NoContent, ...errorResponses(400) },
      },
    },
    async (req, reply) => {
      await blocks.block(req.auth, req.params.userId);
      return reply.status(204).send(null);
    },
  );

  app.delete(
    '/blocks/:userId',
    {
      schema: {
        operationId: 'unblockUser',
        tags,
        summary: 'Unblock a user',
        description: 'Restores everything a block refused. Idempotent: unblocking someone not blocked is 204 too.',
        params: BlockParams,
        response: { 204: NoContent, ...errorResponses(400) },
      },
    },
    async (req, reply) => {
      await blocks.unblock(req.auth, req.params.userId);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/blocks',
    {
      schema: {
        operationId: 'listBlocks',
        tags,
        summary: 'Whom the caller blocks, latest block first, keyset-paged',
        querystring: BlocksQuery,
        response: { 200: BlocksPage, ...errorResponses(400) },
      },
    },
    async (req) => blocks.list(req.auth, req.query),
  );
};
