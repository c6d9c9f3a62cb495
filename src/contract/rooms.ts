import { Type, type Static } from '@sinclair/typebox';
import { Cursor, IsoDate, Nullable, PLAIN_TEXT, PLAIN_TEXT_MESSAGE, RoomId, USER_ID_PATTERN, UserIdString } from './common.js';
import { MessageSchema } from './messages.js';

export const ROOM_TYPES = ['direct', 'group', 'business', 'support'] as const;
export type RoomType = (typeof ROOM_TYPES)[number];
export const PARTICIPANT_ROLES = ['owner', 'admin', 'member', 'agent'] as const;
export type ParticipantRole = (typeof PARTICIPANT_ROLES)[number];

const RoomTypeSchema = Type.Union(ROOM_TYPES.map((t) => Type.Literal(t)));
// A name is one line: no control characters at all (not even \n or \t), and not blank. Written without nested
// quantifiers so that a long body cannot make the regex backtrack quadratically.
const NAME_PATTERN = '^(?!\\s*$)[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]*$';
const Name = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: NAME_PATTERN,
  errorMessage: 'must be one line, not blank, without control characters',
});
const Description = Type.String({ maxLength: 2000, pattern: PLAIN_TEXT, errorMessage: PLAIN_TEXT_MESSAGE });

export const ParticipantSchema = Type.Object({
  userId: Type.String(),
  name: Nullable(Type.String()),
  picture: Nullable(Type.String()),
  role: Type.Union(PARTICIPANT_ROLES.map((t) => Type.Literal(t))),
  joinedAt: IsoDate,
  lastReadSeq: Type.Integer(),
  lastDeliveredSeq: Type.Integer(),
});

/** What a viewer may do in a room, named as clients show it (in the style of Stream's `own_capabilities`). */
export const ABILITIES = [
  'send-message',
  'update-room',
  'close-room',
  'reopen-room',
  'add-participants',
  'remove-participants',
  'leave-room',
  'pin-message',
  'delete-own-message',
  'delete-any-message',
  'set-slow-mode',
  'skip-slow-mode',
] as const;
export type Ability = (typeof ABILITIES)[number];

const ABILITIES_DESCRIPTION = [
  'What the caller may do in this room now, from the same rules the server enforces (clients never re-implement roles).',
  'Each room event (room_created, room_updated, participant_added) carries the abilities of the participant it is sent to.',
  '`send-message`: send, and type (participants); `update-room`: change name and description;',
  '`close-room` / `reopen-room`: set the status of a support room (its user or staff; reopening only while its user is in it);',
  '`add-participants`; `remove-participants`: remove others (admins: members only; staff in a support room: agents only);',
  '`leave-room`; `pin-message`: pin and unpin; `delete-own-message`; `delete-any-message` (owners and admins of group and',
  'business rooms, staff in support rooms, platform admins); `set-slow-mode`; `skip-slow-mode`: not held back by slow mode.',
].join(' ');

export const RoomSchema = Type.Object(
  {
    id: Type.String(),
    type: RoomTypeSchema,
    name: Nullable(Type.String()),
    description: Nullable(Type.String()),
    businessId: Nullable(Type.String()),
    status: Nullable(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
    createdBy: Type.String(),
    createdAt: IsoDate,
    updatedAt: IsoDate,
    lastSeq: Type.Integer(),
    lastChangeSeq: Type.Integer({ description: "The changeSeq of the room's latest change to its messages" }),
    pinnedCount: Type.Integer({ minimum: 0 }),
    slowModeS: Type.Integer({
      minimum: 0,
      maximum: 3600,
      description: 'Members send at most one message per this many seconds (0: off); see the `skip-slow-mode` ability',
    }),
    lastMessage: Nullable(MessageSchema),
    unreadCount: Type.Integer({ description: "Messages of others above the caller's lastReadSeq" }),
    muted: Type.Boolean(),
    mutedUntil: Nullable(IsoDate),
    hidePreviews: Type.Boolean({ description: "The caller's notifications for this room carry no message text" }),
    abilities: Type.Array(Type.Union(ABILITIES.map((a) => Type.Literal(a))), { description: ABILITIES_DESCRIPTION }),
    participants: Type.Array(ParticipantSchema),
  },
  { $id: 'Room' },
);
export type RoomView = Static<typeof RoomSchema>;
/** A Room by reference to its $id (a component of the OpenAPI document), typed as the room itself. */
export const RoomRef = Type.Unsafe<RoomView>(Type.Ref('Room'));

/** A participant of a room in a path (`/rooms/:id/participants/:userId/…`). */
export const ParticipantParams = Type.Object({ id: RoomId, userId: UserIdString });

export const CreateRoomBody = Type.Object({
  type: RoomTypeSchema,
  participantIds: Type.Optional(Type.Array(UserIdString, { maxItems: 1000 })),
  name: Type.Optional(Nullable(Name)),
  description: Type.Optional(Nullable(Description)),
  businessId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: USER_ID_PATTERN,
      errorMessage: 'must be 1 to 128 characters, without control characters',
    }),
  ),
});
export type CreateRoomInput = Static<typeof CreateRoomBody>;

export const ListRoomsQuery = Type.Object({
  type: Type.Optional(RoomTypeSchema),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 30 })),
  cursor: Type.Optional(Cursor),
  scope: Type.Optional(Type.Literal('support', { description: 'Support staff: the support queue instead of your rooms' })),
  status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
});
export type ListRoomsInput = Static<typeof ListRoomsQuery>;

export const RoomPage = Type.Object({ data: Type.Array(RoomRef), nextCursor: Nullable(Type.String()) });
export type RoomPageView = Static<typeof RoomPage>;

export const UpdateRoomBody = Type.Object(
  {
    name: Type.Optional(Nullable(Name)),
    description: Type.Optional(Nullable(Description)),
    status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
    slowModeS: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3600,
        description: 'Group and business rooms, by owners and admins: members send at most one message per this many seconds (0: off)',
      }),
    ),
  },
  // A misspelt field must not pass as a successful no-op.
  { minProperties: 1, additionalProperties: false },
);
export type UpdateRoomInput = Static<typeof UpdateRoomBody>;

// One form or the other: a body with both would leave it unclear who is meant.
export const AddParticipantsBody = Type.Union([
  Type.Object({ userId: UserIdString }, { additionalProperties: false }),
  Type.Object({ userIds: Type.Array(UserIdString, { minItems: 1, maxItems: 100 }) }, { additionalProperties: false }),
]);
export type AddParticipantsInput = Static<typeof AddParticipantsBody>;

export const NotificationsBody = Type.Object({
  muted: Type.Boolean(),
  mutedUntil: Type.Optional(Nullable(IsoDate)),
  hidePreviews: Type.Optional(
    Type.Boolean({ description: 'Notifications of this room without the message text (unchanged when omitted)' }),
  ),
});
export type NotificationsInput = Static<typeof NotificationsBody>;
