import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { NoContent, RoomParams, errorResponses } from '../contract/common.js';
import {
  AddParticipantsBody,
  CreateRoomBody,
  ListRoomsQuery,
  NotificationsBody,
  ParticipantParams,
  RoomPage,
  RoomRef as Room,
  UpdateRoomBody,
} from '../contract/rooms.js';
import type { RoomsService } from './rooms.service.js';

const tags = ['rooms'];

type Api = Parameters<FastifyPluginAsyncTypebox>[0];

/** Rooms themselves, then who is in them and how each participant is notified. */
export const roomsRoutes: FastifyPluginAsyncTypebox<{ rooms: RoomsService }> = async (app, { rooms }) => {
  roomRoutes(app, rooms);
  membershipRoutes(app, rooms);
};

function roomRoutes(app: Api, rooms: RoomsService): void {
  app.post(
    '/rooms',
    {
      schema: {
        operationId: 'createRoom',
        tags,
        summary: 'Create a room (or get the existing direct room of a pair / open support room)',
        body: CreateRoomBody,
        response: { 201: Room, 200: Room, ...errorResponses(400, 403) },
      },
    },
    async (req, reply) => {
      const { room, created } = await rooms.create(req.auth, req.body);
      return reply.status(created ? 201 : 200).send(room);
    },
  );

  app.get(
    '/rooms',
    {
      schema: {
        operationId: 'listRooms',
        tags,
        summary: "The caller's rooms, latest activity first (or the support queue for staff)",
        querystring: ListRoomsQuery,
        response: { 200: RoomPage, ...errorResponses(400, 403) },
      },
    },
    async (req) => rooms.list(req.auth, req.query),
  );

  app.get(
    '/rooms/:id',
    {
      schema: { operationId: 'getRoom', tags, summary: 'One room', params: RoomParams, response: { 200: Room, ...errorResponses(404) } },
    },
    async (req) => rooms.get(req.auth, req.params.id),
  );

  app.patch(
    '/rooms/:id',
    {
      schema: {
        operationId: 'updateRoom',
        tags,
        summary: 'Rename / describe a group or business room, set its slow mode, or open/close a support room',
        description:
          '`slowModeS` (0–3600; group and business rooms, owners and admins): members then send at most one message per ' +
          'that many seconds (429 RATE_LIMITED with Retry-After); owners, admins and support staff are exempt. 0 turns it off.',
        params: RoomParams,
        body: UpdateRoomBody,
        response: { 200: Room, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (req) => rooms.update(req.auth, req.params.id, req.body),
  );
}

function membershipRoutes(app: Api, rooms: RoomsService): void {
  app.post(
    '/rooms/:id/participants',
    {
      schema: {
        operationId: 'addParticipants',
        tags,
        summary: 'Add participants',
        params: RoomParams,
        body: AddParticipantsBody,
        response: { 201: Room, ...errorResponses(400, 403, 404) },
      },
    },
    async (req, reply) => reply.status(201).send(await rooms.addParticipants(req.auth, req.params.id, req.body)),
  );

  app.patch(
    '/rooms/:id/participants/:userId/remove',
    {
      schema: {
        operationId: 'removeParticipant',
        tags,
        summary: 'Remove a participant, or leave (204) when userId is the caller',
        params: ParticipantParams,
        response: { 200: Room, 204: NoContent, ...errorResponses(400, 403, 404) },
      },
    },
    async (req, reply) => {
      const room = await rooms.removeParticipant(req.auth, req.params.id, req.params.userId);
      return room ? reply.send(room) : reply.status(204).send(null);
    },
  );

  app.patch(
    '/rooms/:id/notifications',
    {
      schema: {
        operationId: 'setRoomNotifications',
        tags,
        summary: 'Mute or unmute the room for the caller',
        params: RoomParams,
        body: NotificationsBody,
        response: { 200: Room, ...errorResponses(400, 404) },
      },
    },
    async (req) => rooms.setNotifications(req.auth, req.params.id, req.body),
  );
}
