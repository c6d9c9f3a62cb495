import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RoomParams, errorResponses } from '../contract/common.js';
import { UploadResponse } from '../contract/media.js';
import { AppError } from '../errors.js';
import { MEDIA_FIELD, uploadFromRequest } from './media.multipart.js';
import type { MediaService } from './media.service.js';

/** POST /rooms/:id/media, in the authenticated API scope (registerMultipart must have run there). */
export const mediaRoutes: FastifyPluginAsyncTypebox<{ media: MediaService; maxFiles: number }> = async (app, { media, maxFiles }) => {
  app.post(
    '/rooms/:id/media',
    {
      schema: {
        operationId: 'uploadMedia',
        tags: ['media'],
        summary: `Upload files ahead of a socket send: multipart/form-data, files under "${MEDIA_FIELD}"; unused uploads are deleted after an hour`,
        consumes: ['multipart/form-data'],
        params: RoomParams,
        response: { 201: UploadResponse, ...errorResponses(400, 404, 413, 415) },
      },
    },
    async (req, reply) => {
      const data = await uploadFromRequest(req, media, req.params.id, maxFiles);
      if (data.length === 0)
        throw new AppError('VALIDATION_FAILED', `no files under "${MEDIA_FIELD}"`, {
          errors: [{ path: `/${MEDIA_FIELD}`, message: 'at least one file is required' }],
        });
      return reply.status(201).send({ data });
    },
  );
};
