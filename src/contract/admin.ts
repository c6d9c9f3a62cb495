import { Type, type Static } from '@sinclair/typebox';
import { IdParam, IsoDate, Nullable, RoomId, SeqCursor, UserIdString } from './common.js';

export const PurgeParams = Type.Object({ id: RoomId });

export const PurgeBody = Type.Object(
  {
    userId: UserIdString,
    sinceSeq: Type.Optional(
      Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Only messages with seq >= sinceSeq (default: all)' }),
    ),
  },
  { additionalProperties: false },
);
export type PurgeInput = Static<typeof PurgeBody>;

export const PurgeResult = Type.Object({
  deleted: Type.Integer({ minimum: 0, description: 'Messages turned into tombstones by this purge' }),
  lastChangeSeq: SeqCursor,
});
export type PurgeResultView = Static<typeof PurgeResult>;

export const AdminUserParams = Type.Object({ userId: UserIdString });
export const JobParams = Type.Object({ id: IdParam });

export const EraseAccepted = Type.Object({ jobId: Type.String({ description: 'GET /admin/jobs/:id follows it' }) });
export type EraseAcceptedView = Static<typeof EraseAccepted>;

export const JobStatus = Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]);

export const AdminJob = Type.Object({
  id: Type.String(),
  type: Type.Literal('erase_user'),
  userId: Type.String(),
  status: JobStatus,
  /** Counts of what was done so far, committed with each batch. */
  progress: Type.Record(Type.String(), Type.Integer(), {
    description: 'What has been done so far, committed with each batch: messages, reactions, rooms, receipts, pushSubscriptions, files, …',
  }),
  createdAt: IsoDate,
  finishedAt: Nullable(IsoDate),
  error: Type.Optional(Type.String()),
});
export type AdminJobView = Static<typeof AdminJob>;

const Rows = (description: string) => Type.Array(Type.Record(Type.String(), Type.Unknown()), { description });

/**
 * GET /admin/users/:userId/export: streamed, so only its outline is a schema. Dates are ISO strings; every list is
 * complete (no paging).
 */
export const UserExport = Type.Object(
  {
    exportedAt: IsoDate,
    user: Type.Object({
      id: Type.String(),
      name: Nullable(Type.String()),
      picture: Nullable(Type.String()),
      role: Type.String(),
      showPresence: Type.Boolean(),
      lastSeenAt: Nullable(IsoDate),
      erasedAt: Nullable(IsoDate),
    }),
    rooms: Rows('Memberships: room id, type, name, role, joinedAt, read and delivery positions, notification settings'),
    messages: Rows('Messages they sent (tombstones included, without content), each with its earlier versions (edits) and files'),
    reactions: Rows('Their reactions: messageId, roomId, emoji, createdAt'),
    reads: Rows('Their read and delivery actions: roomId, kind, upToSeq, at'),
    reports: Rows('Reports they filed'),
    blocks: Rows('Whom they block'),
    pushSubscriptions: Rows('Their Web Push subscriptions (endpoint, created/updated; no keys)'),
    suspension: Nullable(Type.Record(Type.String(), Type.Unknown())),
  },
  { description: 'Everything stored about the user, as one JSON document (application/json, attachment)' },
);
