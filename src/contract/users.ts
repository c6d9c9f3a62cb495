import { Type, type Static } from '@sinclair/typebox';
import { Nullable } from './common.js';

export const OwnProfileSchema = Type.Object({
  userId: Type.String(),
  name: Nullable(Type.String({ description: 'From the latest token seen' })),
  picture: Nullable(Type.String({ description: 'From the latest token seen' })),
  showPresence: Type.Boolean({
    description: 'false: the caller always appears offline to others, with lastSeenAt null, and causes no user_online/user_offline',
  }),
});
export type OwnProfile = Static<typeof OwnProfileSchema>;

// Name and picture come from the token, so the only settable field is the setting; anything else is refused.
export const UpdateMeBody = Type.Object({ showPresence: Type.Boolean() }, { additionalProperties: false });
export type UpdateMeInput = Static<typeof UpdateMeBody>;
