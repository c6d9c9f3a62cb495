import { Type, type Static } from '@sinclair/typebox';
import { IdParam, IsoDate, Nullable, PLAIN_TEXT, PLAIN_TEXT_MESSAGE, UserIdString } from '../http/common.schemas.js';
import { MediaSchema } from '../media/media.schemas.js';

export const MAX_CONTENT_CODE_POINTS = 10_000;
export const REPLY_PREVIEW_CODE_POINTS = 200;

/** Seqs travel as JSON numbers: beyond 2^53 they are inexact, and beyond int8 the query would fail (a 500, not a 400). */
const SeqCursor = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const MessageType = Type.Union(['text', 'image', 'video', 'audio', 'document', 'system'].map((t) => Type.Literal(t)));

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
export type SendMessageInput = Static<typeof SendMessageBody> & { mediaIds?: string[] };

export const HistoryQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
  before: Type.Optional(SeqCursor),
  after: Type.Optional(SeqCursor),
  around: Type.Optional(IdParam),
});
export type HistoryInput = Static<typeof HistoryQuery>;

export const HistoryPage = Type.Object({
  data: Type.Array(Type.Ref('Message')),
  hasMore: Type.Boolean({ description: 'More messages in the paging direction (older for latest/before, newer for after)' }),
  hasOlder: Type.Boolean(),
  hasNewer: Type.Boolean(),
});
