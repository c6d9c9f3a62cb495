import { Type, type Static } from '@sinclair/typebox';
import { IsoDate, Nullable, USER_ID_MESSAGE } from './common.js';

// User ids (no control characters, no unpaired surrogates) joined by commas; each id's length is checked by the route.
const USER_ID_LIST = '^[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]*$';

export const PresenceQuery = Type.Object({
  userIds: Type.String({
    minLength: 1,
    maxLength: 20_000,
    pattern: USER_ID_LIST,
    errorMessage: `must be comma-separated user ids, each of which ${USER_ID_MESSAGE}`,
    description: 'Comma-separated user ids (at most 200)',
  }),
});

export const PresenceList = Type.Object({
  data: Type.Array(Type.Object({ userId: Type.String(), online: Type.Boolean(), lastSeenAt: Nullable(IsoDate) })),
});
export type PresenceView = Static<typeof PresenceList>['data'][number];
