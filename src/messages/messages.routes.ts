import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RoomParams, errorResponses } from '../contract/common.js';
import { HistoryPage, HistoryQuery, MessageRef as Message, SendMessageBody, type SendMessageInput } from '../contract/messages.js';
import { compileStrict } from '../http/validation.js';
import { withMultipartMessage, type MediaService } from '../media/index.js';
import type { MessagesService } from './messages.service.js';

const tags = ['messages'];
const validFields = compileStrict<SendMessageInput>(SendMessageBody);

export const messagesRoutes: FastifyPluginAsyncTypebox<{ messages: MessagesService; media: MediaService; maxFiles: number }> = async (
  app,
  { messages, media, maxFiles },
) => {
  app.post(
    '/rooms/:id/messages',
    {
      schema: {
        operationId: 'sendMessage',
        tags,
        summary: 'Send a message (201), or get the stored one back (200) when clientMessageId repeats',
        description:
          'JSON, or multipart/form-data with the same fields (mentions as a JSON array or repeated fields) and files under `media`. ' +
          'Files are checked by their bytes; a refused file refuses the whole message and nothing of it is kept.',
        params: RoomParams,
        // Only JSON bodies are validated here; the fields of a multipart body are validated against the same schema below.
        body: { content: { 'application/json': { schema: SendMessageBody } } } as unknown as typeof SendMessageBody,
        consumes: ['application/json', 'multipart/form-data'],
        response: { 201: Message, 200: Message, ...errorResponses(400, 404, 413, 415) },
      },
    },
    async (req, reply) => {
      const { message, created } = req.isMultipart()
        ? await withMultipartMessage(req, media, req.params.id, maxFiles, (fields, mediaIds) =>
            messages.send(req.auth, req.params.id, { ...validFields(fields), mediaIds }),
          )
        : await messages.send(req.auth, req.params.id, req.body);
      return reply.status(created ? 201 : 200).send(message);
    },
  );

  app.get(
    '/rooms/:id/messages',
    {
      schema: {
        operationId: 'listMessages',
        tags,
        summary: 'History, keyset-paged by seq',
        params: RoomParams,
        querystring: HistoryQuery,
        response: { 200: HistoryPage, ...errorResponses(400, 404) },
      },
    },
    async (req) => messages.history(req.auth, req.params.id, req.query),
  );
};
