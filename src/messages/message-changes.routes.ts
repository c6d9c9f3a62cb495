import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RoomParams, errorResponses } from '../contract/common.js';
import { ChangesPage, ChangesQuery, EditMessageBody, EditsPage, MessageParams, MessageRef as Message } from '../contract/messages.js';
import type { MessageChangesService } from './message-changes.service.js';

const tags = ['messages'];

/** One message, its edits and deletion, and the change log of a room. */
export const messageChangesRoutes: FastifyPluginAsyncTypebox<{ changes: MessageChangesService }> = async (app, { changes }) => {
  app.get(
    '/messages/:id',
    {
      schema: {
        operationId: 'getMessage',
        tags,
        summary: 'One message',
        params: MessageParams,
        response: { 200: Message, ...errorResponses(404) },
      },
    },
    async (req) => changes.get(req.auth, req.params.id),
  );

  app.patch(
    '/messages/:id',
    {
      schema: {
        operationId: 'editMessage',
        tags,
        summary: 'Edit a message (its sender only)',
        description:
          'Content rules as for sending (a media message may be emptied of text, a text message may not); omitted `mentions` ' +
          'keep the current ones, `[]` clears them. Within MESSAGE_EDIT_WINDOW_S of sending (0: always; past it 403). ' +
          'The previous version is kept (GET /messages/:id/edits); only users the edit newly mentions are notified.',
        params: MessageParams,
        body: EditMessageBody,
        response: { 200: Message, ...errorResponses(400, 403, 404) },
      },
    },
    async (req) => changes.edit(req.auth, req.params.id, req.body),
  );

  app.delete(
    '/messages/:id',
    {
      schema: {
        operationId: 'deleteMessage',
        tags,
        summary: 'Delete a message for everyone (answers its tombstone)',
        description:
          'By its sender, an owner/admin of its group or business room, staff in a support room, or a platform admin. Content, ' +
          'mentions, reactions, pin, earlier versions and files are erased; the tombstone keeps its place in history. Idempotent.',
        params: MessageParams,
        response: { 200: Message, ...errorResponses(403, 404) },
      },
    },
    async (req) => changes.delete(req.auth, req.params.id),
  );

  app.get(
    '/messages/:id/edits',
    {
      schema: {
        operationId: 'listMessageEdits',
        tags,
        summary: 'Earlier versions of a message, newest first',
        params: MessageParams,
        response: { 200: EditsPage, ...errorResponses(404) },
      },
    },
    async (req) => changes.versions(req.auth, req.params.id),
  );

  app.get(
    '/rooms/:id/changes',
    {
      schema: {
        operationId: 'listRoomChanges',
        tags,
        summary: 'The change log: the current state of every message changed after `after`',
        description:
          'Ascending changeSeq, tombstones included, from one snapshot with lastChangeSeq (data never goes past it). While ' +
          "hasMore, ask again with after = the last item's changeSeq; then your position is lastChangeSeq. Nothing is ever " +
          'compacted away: any `after` converges.',
        params: RoomParams,
        querystring: ChangesQuery,
        response: { 200: ChangesPage, ...errorResponses(400, 404) },
      },
    },
    async (req) => changes.changes(req.auth, req.params.id, req.query),
  );
};
