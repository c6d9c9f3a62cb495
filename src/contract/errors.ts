import type { Static } from '@sinclair/typebox';
import type { ProblemSchema } from './common.js';

/**
 * The one error catalogue. HTTP answers an error as problem+json, the socket layer as a `{ ok: false, error }` ack;
 * both read the status and title from here.
 */
export const ERROR_CATALOGUE = {
  UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  NOT_FOUND: { status: 404, title: 'Not Found' },
  VALIDATION_FAILED: { status: 400, title: 'Validation Failed' },
  CONFLICT: { status: 409, title: 'Conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload Too Large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported Media Type' },
  RATE_LIMITED: { status: 429, title: 'Too Many Requests' },
  INTERNAL: { status: 500, title: 'Internal Server Error' },
  UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** One failed field of a request or payload: a JSON pointer and what is wrong with it. */
export type FieldError = NonNullable<Static<typeof ProblemSchema>['errors']>[number];

/** An application/problem+json body; its code is always one of the catalogue's. */
export type Problem = Static<typeof ProblemSchema> & { code: ErrorCode };

/** The error of a failed socket acknowledgement. */
export interface AckError {
  code: ErrorCode;
  message: string;
}
