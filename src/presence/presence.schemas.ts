import { Type } from '@sinclair/typebox';
import { IsoDate, Nullable } from '../http/common.schemas.js';

export const PresenceQuery = Type.Object({
  userIds: Type.String({ minLength: 1, maxLength: 20_000, description: 'Comma-separated user ids (at most 200)' }),
});

export const PresenceList = Type.Object({
  data: Type.Array(Type.Object({ userId: Type.String(), online: Type.Boolean(), lastSeenAt: Nullable(IsoDate) })),
});
