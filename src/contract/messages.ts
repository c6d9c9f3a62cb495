import { Type, type Static } from '@sinclair/typebox';
import { IdParam, IsoDate, Nullable, PLAIN_TEXT, PLAIN_TEXT_MESSAGE, SeqCursor, UserIdString } from './common.js';
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
  content: Type.String({ description: 'The first 200 code points' }),
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
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
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
