import { Type, type Static } from '@sinclair/typebox';
import { Nullable } from '../http/common.schemas.js';

export const SearchQuery = Type.Object({
  q: Type.String({ minLength: 1, maxLength: 500, description: 'Words, "phrases", -exclusions, partial words, any script' }),
  chatRoomId: Type.Optional(Type.String({ maxLength: 200 })),
  type: Type.Optional(Type.Union(['text', 'image', 'video', 'audio', 'document', 'system'].map((t) => Type.Literal(t)))),
  senderId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'ISO date or date-time, inclusive' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'ISO date or date-time, exclusive' })),
  hasMedia: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
});
export type SearchInput = Static<typeof SearchQuery>;

export const SearchPage = Type.Object({
  data: Type.Array(
    Type.Object({
      message: Type.Ref('Message'),
      highlight: Type.Object({
        snippet: Type.String({ description: 'Plain text, never markup' }),
        ranges: Type.Array(Type.Tuple([Type.Integer(), Type.Integer()]), { description: 'Code-point [start, end) of each match in the snippet' }),
      }),
    }),
  ),
  nextCursor: Nullable(Type.String()),
});
