import { Type, type Static } from '@sinclair/typebox';
import { Cursor, IsoDate, Nullable, UserIdString, PageLimit } from './common.js';

/** The user to block or unblock: the same user-id rule as everywhere (a token's `sub`). */
export const BlockParams = Type.Object({ userId: UserIdString });

export const BlocksQuery = Type.Object({
  limit: PageLimit,
  cursor: Type.Optional(Cursor),
});
export type BlocksInput = Static<typeof BlocksQuery>;

export const BlockSchema = Type.Object({
  userId: Type.String({ description: 'The blocked user' }),
  createdAt: IsoDate,
});
export type BlockView = Static<typeof BlockSchema>;

export const BlocksPage = Type.Object({
  data: Type.Array(BlockSchema, { description: 'Whom the caller blocks, latest block first' }),
  nextCursor: Nullable(Type.String()),
});
export type BlocksPageView = Static<typeof BlocksPage>;
