import type { FastifyError, FastifyInstance } from 'fastify';
import { ERROR_CATALOGUE, type ErrorCode } from '../contract/errors.js';
import { AppError, causeChain, toProblem } from '../errors.js';

const BY_STATUS: Record<number, ErrorCode> = Object.fromEntries(
  Object.entries(ERROR_CATALOGUE).map(([code, { status }]) => [status, code as ErrorCode]),
);

export interface ValidationIssue {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
  parentSchema?: object & { errorMessage?: unknown };
}

/**
 * Ajv's words, except for patterns: the regular expression means nothing to a client, so a schema with a pattern
 * says what it requires in `errorMessage` (the ajv-errors keyword, here read by hand; see validation.ts).
 */
function describe(v: ValidationIssue): string {
  if (v.keyword === 'pattern') {
    const custom = v.parentSchema?.errorMessage;
    return typeof custom === 'string' ? custom : 'is not in the accepted form';
  }
  // The bounds of validation.ts's date formats, which ajv's 'must match format "date-time"' does not tell.
  const format = v.keyword === 'format' ? DATE_FORMATS[String(v.params?.['format'])] : undefined;
  return format ?? v.message ?? 'is invalid';
}

const DATE_FORMATS: Record<string, string> = {
  'date-time': 'must be an ISO 8601 date-time with its offset (2024-05-01T12:00:00Z), from 1970 to 9999',
  date: 'must be an ISO 8601 date (2024-05-01), from 1970 to 9999',
};

/**
 * Ajv's errors (verbose) as VALIDATION_FAILED, worded for a client; `where` names the part ("body", "querystring",
 * a socket payload). Paths are JSON pointers, as the services' own field errors are ("/content").
 */
export function validationFailed(issues: ValidationIssue[], where: string): AppError {
  const errors = issues.map((v) => {
    const missing = v.params?.['missingProperty'];
    return { path: `${v.instancePath ?? ''}${missing ? `/${String(missing)}` : ''}`, message: describe(v) };
  });
  return new AppError('VALIDATION_FAILED', errors.map((x) => `${where}${x.path} ${x.message}`).join('; '), { errors });
}

/** Anything thrown in a request becomes one of the catalogue's codes; unknown errors never leak internals. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as Partial<FastifyError> & { validation?: ValidationIssue[] };
  if (e.validation) return validationFailed(e.validation, e.validationContext ?? 'request');
  if (isClientAbort(err)) return new AppError('VALIDATION_FAILED', 'The client closed the connection before the request body was complete');
  if (isOutage(err)) return new AppError('UNAVAILABLE', 'A backing service is not answering; retry shortly', { retryAfter: 2 });
  const status = e.statusCode;
  if (status && status >= 400 && status < 500) {
    const code = BY_STATUS[status] ?? 'VALIDATION_FAILED';
    return new AppError(code, e.message);
  }
  return new AppError('INTERNAL', 'An unexpected error occurred');
}

const OUTAGE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006', // PostgreSQL: shutting down, cannot connect
]);

/**
 * Connection failures in the drivers' words, and a Redis Cluster in the middle of a failover: a slot without a master
 * (CLUSTERDOWN, TRYAGAIN), nodes that disagree on who owns a slot until the cluster settles (ioredis gives up after
 * its redirections), or no node answering for the slot map.
 */
const OUTAGE_MESSAGE =
  /Connection terminated|connection timeout|Connection is closed|timeout exceeded when trying to connect|^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING) |^Too many Cluster redirections|^Failed to refresh slots cache/i;

/**
 * The database or Redis is away: the request fails fast with 503 (nothing was committed, so a retry is safe)
 * instead of hanging or reporting a bug. Drizzle and ioredis wrap the driver's error, so causes are followed.
 */
export function isOutage(err: unknown): boolean {
  if (isClientAbort(err)) return false;
  return causeChain(err).some(
    (e) =>
      (typeof e.code === 'string' && OUTAGE_CODES.has(e.code)) ||
      e.name === 'MaxRetriesPerRequestError' ||
      e.name === 'ClusterAllFailedError' ||
      (typeof e.message === 'string' && OUTAGE_MESSAGE.test(e.message)),
  );
}

/**
 * The client went away mid-request: Node fails the request stream with ECONNRESET "aborted" (the same code as a
 * database connection reset, so it must be told apart before isOutage), or @fastify/multipart reports it. Anyone can
 * cause this, so it is neither a bug nor an outage alarm.
 */
function isClientAbort(err: unknown): boolean {
  return causeChain(err).some((e) => (e.code === 'ECONNRESET' && e.message === 'aborted') || e.code === 'FST_MP_PREMATURE_CLOSE');
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const appErr = toAppError(err);
    if (isClientAbort(err)) request.log.info({ code: (err as { code?: unknown }).code }, 'client aborted the request');
    else if (appErr.code === 'INTERNAL') request.log.error({ err }, 'unhandled error');
    else if (appErr.code === 'UNAVAILABLE') request.log.warn({ err }, 'backing service unavailable');
    if (appErr.retryAfter !== undefined) void reply.header('retry-after', String(appErr.retryAfter));
    // RFC 6750: a 401 names the scheme it wants, so generic HTTP clients know to send a bearer token.
    if (appErr.code === 'UNAUTHORIZED') void reply.header('www-authenticate', 'Bearer realm="chat"');
    void reply.status(appErr.status).type('application/problem+json').send(toProblem(appErr));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .type('application/problem+json')
      .send(toProblem(new AppError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)));
  });
}
