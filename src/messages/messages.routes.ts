import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IdParam, errorResponses } from '../http/common.schemas.js';
import type { MessagesService } from './messages.service.js';
import { HistoryPage, HistoryQuery, SendMessageBody } from './messages.schemas.js';

const Message = Type.Ref('Message');
const RoomParams = Type.Object({ id: IdParam });
const tags = ['messages'];

export const messagesRoutes: FastifyPluginAsyncTypebox<{ messages: MessagesService }> = async (app, { messages }) => {
  app.post('/rooms/:id/messages', {
    schema: {
      tags, summary: 'Send a message (201), or get the stored one back (200) when clientMessageId repeats',
      params: RoomParams, body: SendMessageBody, response: { 201: Message, 200: Message, ...errorResponses(400, 404, 413, 415) },
    },
  }, async (req, reply) => {
    const { message, created } = await messages.send(req.auth, req.params.id, req.body);
    return reply.status(created ? 201 : 200).send(message);
  });

  app.get('/rooms/:id/messages', {
    schema: { tags, summary: 'History, keyset-paged by seq', params: RoomParams, querystring: HistoryQuery, response: { 200: HistoryPage, ...errorResponses(400, 404) } },
  }, async (req) => messages.history(req.auth, req.params.id, req.query));
};
