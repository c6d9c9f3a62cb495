import { Type, type Static } from '@sinclair/typebox';
import { Cursor, Nullable, PLAIN_TEXT, PLAIN_TEXT_MESSAGE, UserIdString, roomIdDescribed } from './common.js';
import { MessageRef, MessageType } from './messages.js';

/** A calendar day (a whole day, UTC) or an instant; the service turns either into a bound. */
const DateOrDateTime = (description: string) =>
  Type.Union([Type.String({ format: 'date' }), Type.String({ format: 'date-time' })], { description });

export const SearchQuery = Type.Object({
  q: Type.String({
    minLength: 1,
    maxLength: 500,
    pattern: PLAIN_TEXT,
    errorMessage: PLAIN_TEXT_MESSAGE,
    description: 'Words, "phrases", -exclusions, partial words, any script',
  }),
  chatRoomId: Type.Optional(roomIdDescribed('Only this room (404 if the caller is not in it)')),
  type: Type.Optional(MessageType),
  senderId: Type.Optional(UserIdString),
  from: Type.Optional(DateOrDateTime('Messages at or after: YYYY-MM-DD (from the start of that day, UTC) or an ISO date-time')),
  to: Type.Optional(DateOrDateTime('Messages before: an ISO date-time (exclusive), or YYYY-MM-DD (up to the end of that day, UTC)')),
  hasMedia: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Cursor),
});
export type SearchInput = Static<typeof SearchQuery>;

const Highlight = Type.Object({
  snippet: Type.String({
    description: 'Plain text, never markup: the content, or a window of ~200 code points around the first match with "…" at a cut end',
  }),
  ranges: Type.Array(Type.Tuple([Type.Integer(), Type.Integer()]), { description: 'Code-point [start, end) of each match in the snippet' }),
});

export const SearchPage = Type.Object({
  data: Type.Array(Type.Object({ message: MessageRef, highlight: Highlight })),
  nextCursor: Nullable(Type.String()),
});
export type SearchPageView = Static<typeof SearchPage>;
export type SearchHit = SearchPageView['data'][number];
