import { Type, type Static } from '@sinclair/typebox';
import { Cursor, IsoDate, Nullable, PLAIN_TEXT, PLAIN_TEXT_MESSAGE, UserIdString, PageLimit } from './common.js';

export const SuspensionReason = Type.String({
  minLength: 1,
  maxLength: 500,
  pattern: PLAIN_TEXT,
  errorMessage: PLAIN_TEXT_MESSAGE,
  description: 'Why (shown to the user in the `suspended` event): 1–500 characters, not only spaces',
});

export const SuspensionUntil = Nullable(
  Type.String({ format: 'date-time', description: 'When it ends, in the future; absent or null: until lifted' }),
);

export const SuspendBody = Type.Object(
  { until: Type.Optional(SuspensionUntil), reason: SuspensionReason },
  { additionalProperties: false },
);
export type SuspendInput = Static<typeof SuspendBody>;

export const SuspensionSchema = Type.Object({
  userId: Type.String(),
  until: Nullable(IsoDate),
  reason: Type.String(),
  createdAt: IsoDate,
  createdBy: Type.String(),
});
export type SuspensionView = Static<typeof SuspensionSchema>;

export const SuspensionParams = Type.Object({ userId: UserIdString });

export const SuspensionsQuery = Type.Object({
  limit: PageLimit,
  cursor: Type.Optional(Cursor),
});
export type SuspensionsInput = Static<typeof SuspensionsQuery>;

export const SuspensionsPage = Type.Object({
  data: Type.Array(SuspensionSchema, { description: 'Suspensions in force, latest first' }),
  nextCursor: Nullable(Type.String()),
});
export type SuspensionsPageView = Static<typeof SuspensionsPage>;

/** The socket event a suspended user's live sockets receive at once. */
export const SuspendedEvent = Type.Object({ until: Nullable(IsoDate), reason: Type.String() });
export type SuspendedEvent = Static<typeof SuspendedEvent>;
