/**
 * The one error catalogue. HTTP turns an AppError into problem+json, the socket layer into a
 * `{ ok: false, error }` ack; both read the status and title from here.
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

export interface FieldError {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors?: FieldError[];
  /** Seconds a client should wait; sent as Retry-After with RATE_LIMITED. */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, detail?: string, extra: { errors?: FieldError[]; retryAfter?: number } = {}) {
    super(detail ?? ERROR_CATALOGUE[code].title);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    if (extra.errors) this.errors = extra.errors;
    if (extra.retryAfter !== undefined) this.retryAfter = extra.retryAfter;
  }
}

export const notFound = (what = 'Resource'): AppError => new AppError('NOT_FOUND', `${what} not found`);
export const forbidden = (detail: string): AppError => new AppError('FORBIDDEN', detail);
export const invalid = (detail: string, path?: string): AppError =>
  new AppError('VALIDATION_FAILED', detail, path ? { errors: [{ path, message: detail }] } : {});

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  errors?: FieldError[];
}

export function toProblem(err: AppError): Problem {
  const problem: Problem = {
    type: `urn:chat:error:${err.code.toLowerCase()}`,
    title: ERROR_CATALOGUE[err.code].title,
    status: err.status,
    code: err.code,
    detail: err.message,
  };
  if (err.errors) problem.errors = err.errors;
  return problem;
}

/** The shape of a failed socket acknowledgement. */
export function toAckError(err: AppError): { ok: false; error: { code: ErrorCode; message: string } } {
  return { ok: false, error: { code: err.code, message: err.message } };
}
