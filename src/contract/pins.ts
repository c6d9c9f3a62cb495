import { Type, type Static } from '@sinclair/typebox';
import { Cursor, IdParam, Nullable, RoomId, PageLimit } from './common.js';
import { MessageRef } from './messages.js';

export const MAX_PINS_PER_ROOM = 50;

export const PinParams = Type.Object({ id: RoomId, messageId: IdParam });

export const PinsQuery = Type.Object({
  limit: PageLimit,
  cursor: Type.Optional(Cursor),
});
export type PinsInput = Static<typeof PinsQuery>;

export const PinsPage = Type.Object({
  data: Type.Array(MessageRef, { description: 'Pinned messages, latest pin first' }),
  nextCursor: Nullable(Type.String()),
});
export type PinsPageView = Static<typeof PinsPage>;
