// The catalogue and the shapes of problems and acks are the public contract's; raising and shaping them is the server's.
import { ERROR_CATALOGUE, type AckError, type ErrorCode, type FieldError, type Problem } from './contract/errors.js';

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
export function toAckError(err: AppError): { ok: false; error: AckError } {
  return { ok: false, error: { code: err.code, message: err.message } };
}

/** What an error and the errors it wraps say of themselves (drivers, Drizzle and ioredis nest the real one in `cause`). */
export interface ErrorFacts {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  constraint?: unknown;
}

/** The error, then its causes, innermost last (at most five: a cycle or a deep chain says nothing more). */
export function causeChain(err: unknown): ErrorFacts[] {
  const chain: ErrorFacts[] = [];
  for (
    let e = err as (ErrorFacts & { cause?: unknown }) | undefined;
    e && typeof e === 'object' && chain.length < 5;
    e = e.cause as typeof e
  ) {
    chain.push(e);
  }
  return chain;
}
