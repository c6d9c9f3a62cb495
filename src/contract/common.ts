import { Type, type TSchema } from '@sinclair/typebox';

/** Ids are opaque strings; a malformed one is simply not found (404), so params accept any string. */
export const IdParam = Type.String({
  minLength: 1,
  description: 'An opaque, time-ordered id (UUIDv7); one of another shape is simply not found',
});

/**
 * The one room id, in paths, queries and socket payloads alike. Any string: one of another shape (even empty) is
 * simply not found (404, or NOT_FOUND in an ack), never a 400 (the API contract). The bound is that of a path segment
 * (http/server.ts's maxParamLength), so it only stops an oversized socket payload before any lookup.
 */
export const roomIdDescribed = (description: string) => Type.String({ maxLength: 500, description });
export const RoomId = roomIdDescribed('An opaque, time-ordered id (UUIDv7); one of another shape is simply not found');
export const RoomParams = Type.Object({ id: RoomId });

/**
 * A user id follows the rules of a token's `sub` (auth/tokens.ts reads this pattern too): 1 to 128 code points, no
 * C0/C1 control characters and no unpaired surrogates, which could not be logged safely or stored exactly.
 */
export const USER_ID_PATTERN = '^[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]+$';
export const USER_ID_MESSAGE = 'must be a user id: 1 to 128 characters, without control characters or unpaired surrogates';
export const UserIdString = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: USER_ID_PATTERN,
  errorMessage: USER_ID_MESSAGE,
  description: 'A user id: the `sub` of their token (1–128 characters, no control characters)',
});

/** Dates are validated by validation.ts's `date-time`: a real instant from 1970 to 9999, so any can be stored. */
export const IsoDate = Type.String({ format: 'date-time' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** An opaque page cursor: the `nextCursor` of the previous page, given back as it came. */
export const Cursor = Type.String({ maxLength: 500, description: 'nextCursor of the previous page' });
/** `?limit=` of every keyset-paged list: 1–100, 50 when absent. */
export const PageLimit = Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 }));
/** Seqs travel as JSON numbers: beyond 2^53 they are inexact, and beyond int8 the query would fail (a 500, not a 400). */
export const SeqCursor = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/**
 * Plain text: no C0/C1 control characters other than \n, \r and \t, and no unpaired surrogates (JSON can carry them,
 * but they cannot be stored as sent).
 */
export const PLAIN_TEXT = '^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF]*$';
/** Ajv's own words for a failed pattern would show the regex; schemas carry this instead (see http/errors.ts). */
export const PLAIN_TEXT_MESSAGE = 'must not contain control characters other than \\n, \\r and \\t, nor unpaired surrogates';

/** A response without a body (204). */
export const NoContent = Type.Null();

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({ description: 'Stable error code: UNAUTHORIZED, FORBIDDEN, NOT_FOUND, VALIDATION_FAILED, CONFLICT, …' }),
    detail: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'application/problem+json' },
);

/** The error responses every authenticated route can give, for the OpenAPI document. */
export const errorResponses = (...statuses: number[]) => Object.fromEntries([401, 429, ...statuses].map((s) => [s, Type.Ref('Problem')]));
