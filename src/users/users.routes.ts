import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../contract/common.js';
import { OwnProfileSchema, UpdateMeBody } from '../contract/users.js';
import type { UsersService } from './users.service.js';

const tags = ['me'];

export const usersRoutes: FastifyPluginAsyncTypebox<{ users: UsersService }> = async (app, { users }) => {
  app.get(
    '/me',
    {
      schema: {
        operationId: 'getMe',
        tags,
        summary: "The caller's profile (name and picture from the latest token) and settings",
        response: { 200: OwnProfileSchema, ...errorResponses() },
      },
    },
    async (req) => users.me(req.auth),
  );

  app.patch(
    '/me',
    {
      schema: {
        operationId: 'updateMe',
        tags,
        summary: "Change the caller's settings: showPresence false hides their presence from everyone else (no event announces the change)",
        body: UpdateMeBody,
        response: { 200: OwnProfileSchema, ...errorResponses(400) },
      },
    },
    async (req) => users.update(req.auth, req.body),
  );
};
