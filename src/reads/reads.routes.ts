import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RoomParams, errorResponses } from '../contract/common.js';
import { MessageParams } from '../contract/messages.js';
import { ReadStateRef as ReadState, ReceiptsSchema } from '../contract/reads.js';
import type { ReadsService } from './reads.service.js';

const tags = ['read state'];

export const readsRoutes: FastifyPluginAsyncTypebox<{ reads: ReadsService }> = async (app, { reads }) => {
  app.patch(
    '/messages/:id/read',
    {
      schema: {
        operationId: 'markMessageRead',
        tags,
        summary: 'Mark this message, and everything before it, read',
        params: MessageParams,
        response: { 200: ReadState, ...errorResponses(404) },
      },
    },
    async (req) => reads.markMessageRead(req.auth, req.params.id),
  );

  app.patch(
    '/rooms/:id/read',
    {
      schema: {
        operationId: 'markRoomRead',
        tags,
        summary: 'Mark the whole room read (constant time)',
        params: RoomParams,
        response: { 200: ReadState, ...errorResponses(404) },
      },
    },
    async (req) => reads.markRoomRead(req.auth, req.params.id),
  );

  app.get(
    '/messages/:id/receipts',
    {
      schema: {
        operationId: 'getMessageReceipts',
        tags,
        summary: 'Delivery and read state of one message for every participant',
        params: MessageParams,
        response: { 200: ReceiptsSchema, ...errorResponses(404) },
      },
    },
    async (req) => reads.receipts(req.auth, req.params.id),
  );
};
