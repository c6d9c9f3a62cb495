import { Type, type Static } from '@sinclair/typebox';
import { IdParam, IsoDate, Nullable, PLAIN_TEXT, PLAIN_TEXT_MESSAGE, SeqCursor, UserIdString, PageLimit } from './common.js';
import { MediaSchema } from './media.js';

export const MAX_CONTENT_CODE_POINTS = 10_000;
export const REPLY_PREVIEW_CODE_POINTS = 200;

export const MESSAGE_TYPES = ['text', 'image', 'video', 'audio', 'document', 'system'] as const;
export type MessageKind = (typeof MESSAGE_TYPES)[number];
export const MessageType = Type.Union(MESSAGE_TYPES.map((t) => Type.Literal(t)));

export const ReplyPreviewSchema = Type.Object({
  id: Type.String(),
  seq: Type.Integer(),
  senderId: Type.String(),
  type: MessageType,
  content: Type.String({ description: 'The first 200 code points ("" when the message was deleted)' }),
  deletedAt: Nullable(IsoDate),
});

export const ReactionSummarySchema = Type.Object({ emoji: Type.String(), count: Type.Integer({ minimum: 1 }) });
export const MessageReactionSchema = Type.Object({
  emoji: Type.String(),
  count: Type.Integer({ minimum: 1 }),
  me: Type.Boolean({ description: 'Whether the caller reacted with it (false in broadcasts)' }),
});

export const MessageSchema = Type.Object(
  {
    id: Type.String(),
    chatRoomId: Type.String(),
    seq: Type.Integer({ description: 'Per-room sequence, dense and strictly increasing' }),
    senderId: Type.String(),
    type: MessageType,
    content: Type.String(),
    mentions: Type.Array(Type.String()),
    replyToId: Nullable(Type.String()),
    replyTo: Nullable(ReplyPreviewSchema),
    media: Type.Array(MediaSchema),
    clientMessageId: Nullable(Type.String()),
    createdAt: IsoDate,
    editedAt: Nullable(IsoDate),
    deletedAt: Nullable(IsoDate),
    deletedBy: Nullable(Type.String()),
    changeSeq: Type.Integer({ description: "The room's changeSeq of this message's latest change" }),
    pinnedAt: Nullable(IsoDate),
    pinnedBy: Nullable(Type.String()),
    reactions: Type.Array(MessageReactionSchema, { description: "In order of each emoji's first use" }),
  },
  { $id: 'Message' },
);
export type MessageView = Static<typeof MessageSchema>;
/** A Message by reference to its $id (a component of the OpenAPI document), typed as the message itself. */
export const MessageRef = Type.Unsafe<MessageView>(Type.Ref('Message'));

/** The id of a message in a path (`/messages/:id/…`). */
export const MessageParams = Type.Object({ id: IdParam });

export const Content = Type.String({
  maxLength: MAX_CONTENT_CODE_POINTS,
  pattern: PLAIN_TEXT,
  errorMessage: PLAIN_TEXT_MESSAGE,
  description: 'Plain text, never HTML; at most 10,000 code points; no control characters but \\n, \\r, \\t',
});

export const SendMessageBody = Type.Object({
  content: Content,
  replyToId: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  // Repeats are harmless (the service keeps each user once); refusing them would only fail sloppy clients.
  mentions: Type.Optional(Type.Array(UserIdString, { maxItems: 100 })),
  clientMessageId: Type.Optional(
    Nullable(Type.String({ minLength: 1, maxLength: 128, pattern: PLAIN_TEXT, errorMessage: PLAIN_TEXT_MESSAGE })),
  ),
});
/** A send as the service takes it: the body, and the ids of files uploaded ahead (socket) or with it (multipart). */
export type SendMessageInput = Static<typeof SendMessageBody> & { mediaIds?: string[] };

export const HistoryQuery = Type.Object({
  limit: PageLimit,
  before: Type.Optional(SeqCursor),
  after: Type.Optional(SeqCursor),
  around: Type.Optional(IdParam),
});
export type HistoryInput = Static<typeof HistoryQuery>;

export const HistoryPage = Type.Object({
  data: Type.Array(MessageRef),
  hasMore: Type.Boolean({ description: 'More messages in the paging direction (older for latest/before, newer for after)' }),
  hasOlder: Type.Boolean(),
  hasNewer: Type.Boolean(),
});
export type HistoryPageView = Static<typeof HistoryPage>;

export const EditMessageBody = Type.Object({
  content: Content,
  mentions: Type.Optional(
    Type.Array(UserIdString, { maxItems: 100, description: 'Omitted: the current mentions are kept; [] clears them' }),
  ),
});
export type EditMessageInput = Static<typeof EditMessageBody>;

export const MessageVersionSchema = Type.Object({
  content: Type.String(),
  mentions: Type.Array(Type.String()),
  editedAt: IsoDate,
});
export const EditsPage = Type.Object({
  data: Type.Array(MessageVersionSchema, {
    description: 'Earlier versions, newest first; editedAt is when the edit that replaced it was made',
  }),
});
export type EditsPageView = Static<typeof EditsPage>;

export const ChangesQuery = Type.Object({
  after: Type.Optional(SeqCursor),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 100 })),
});
export type ChangesInput = Static<typeof ChangesQuery>;

export const ChangesPage = Type.Object({
  data: Type.Array(MessageRef, { description: 'The current state of each message changed after `after`, ascending changeSeq' }),
  lastChangeSeq: Type.Integer({ description: "The room's lastChangeSeq in the same snapshot: data never goes past it" }),
  hasMore: Type.Boolean({
    description: "More changes: ask again with after = the last item's changeSeq; else your position is lastChangeSeq",
  }),
});
export type ChangesPageView = Static<typeof ChangesPage>;
