import { Type, type Static } from '@sinclair/typebox';
import { Nullable, PLAIN_TEXT, PLAIN_TEXT_MESSAGE, UserIdString } from '../http/common.schemas.js';
import type { MessageView } from '../messages/messages.schemas.js';

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
  chatRoomId: Type.Optional(Type.String({ maxLength: 200, description: 'Only this room (404 if the caller is not in it)' })),
  type: Type.Optional(Type.Union(['text', 'image', 'video', 'audio', 'document', 'system'].map((t) => Type.Literal(t)))),
  senderId: Type.Optional(UserIdString),
  from: Type.Optional(DateOrDateTime('Messages at or after: YYYY-MM-DD (from the start of that day, UTC) or an ISO date-time')),
  to: Type.Optional(DateOrDateTime('Messages before: an ISO date-time (exclusive), or YYYY-MM-DD (up to the end of that day, UTC)')),
  hasMedia: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 500, description: 'nextCursor of the previous page' })),
});
export type SearchInput = Static<typeof SearchQuery>;

const Highlight = Type.Object({
  snippet: Type.String({
    description: 'Plain text, never markup: the content, or a window of ~200 code points around the first match with "…" at a cut end',
  }),
  ranges: Type.Array(Type.Tuple([Type.Integer(), Type.Integer()]), { description: 'Code-point [start, end) of each match in the snippet' }),
});

export const SearchPage = Type.Object({
  data: Type.Array(Type.Object({ message: Type.Ref('Message'), highlight: Highlight })),
  nextCursor: Nullable(Type.String()),
});

export interface SearchHit {
  message: MessageView;
  highlight: Static<typeof Highlight>;
}
export interface SearchPageView {
  data: SearchHit[];
  nextCursor: string | null;
}
