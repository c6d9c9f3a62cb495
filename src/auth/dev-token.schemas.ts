import { Type, type Static } from '@sinclair/typebox';
import { UserIdString } from '../contract/common.js';

/** What a token's name claim may be (auth/tokens.ts refuses anything else): no control characters, no lone surrogates. */
const CLAIM_TEXT_PATTERN = '^[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]*$';

export const DevTokenBody = Type.Object(
  {
    userId: UserIdString,
    name: Type.Optional(
      Type.String({
        maxLength: 200,
        pattern: CLAIM_TEXT_PATTERN,
        errorMessage: 'must be at most 200 characters, without control characters or unpaired surrogates',
        description: 'Shown to others; blank or absent: the app shows the user id',
      }),
    ),
    role: Type.Optional(
      Type.Union([Type.Literal('user'), Type.Literal('support'), Type.Literal('admin')], { description: 'Default user' }),
    ),
    businessIds: Type.Optional(Type.Array(UserIdString, { maxItems: 50, description: 'The businesses whose team the user is on' })),
  },
  { additionalProperties: false },
);
export type DevTokenBody = Static<typeof DevTokenBody>;

export const DevTokenAnswer = Type.Object({ token: Type.String({ description: 'An HS256 JWT, valid for 24 h' }) });
