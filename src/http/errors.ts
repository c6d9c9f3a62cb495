import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, ERROR_CATALOGUE, toProblem, type ErrorCode } from '../errors.js';

const BY_STATUS: Record<number, ErrorCode> = Object.fromEntries(
  Object.entries(ERROR_CATALOGUE).map(([code, { status }]) => [status, code as ErrorCode]),
);

interface ValidationIssue {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
  parentSchema?: { errorMessage?: unknown };
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
  return v.message ?? 'is invalid';
}

/** Anything thrown in a request becomes one of the catalogue's codes; unknown errors never leak internals. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as Partial<FastifyError> & { validation?: ValidationIssue[] };
  if (e.validation) {
    // Paths are JSON pointers into the body or query, as the services' own field errors are ("/content").
    const errors = e.validation.map((v) => {
      const missing = v.params?.['missingProperty'];
      return { path: `${v.instancePath ?? ''}${missing ? `/${String(missing)}` : ''}`, message: describe(v) };
    });
    const where = e.validationContext ?? 'request';
    return new AppError('VALIDATION_FAILED', errors.map((x) => `${where}${x.path} ${x.message}`).join('; '), { errors });
  }
  if (isOutage(err)) return new AppError('UNAVAILABLE', 'A backing service is not answering; retry shortly', { retryAfter: 2 });
  const status = e.statusCode;
  if (status && status >= 400 && status < 500) {
    const code = BY_STATUS[status] ?? 'VALIDATION_FAILED';
    return new AppError(code, e.message);
  }
  return new AppError('INTERNAL', 'An unexpected error occurred');
}

const OUTAGE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', // PostgreSQL: shutting down, cannot connect
]);

/**
 * The database or Redis is away: the request fails fast with 503 (nothing was committed, so a retry is safe)
 * instead of hanging or reporting a bug. Drizzle and ioredis wrap the driver's error, so causes are followed.
 */
export function isOutage(err: unknown): boolean {
  for (let e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && OUTAGE_CODES.has(e.code)) return true;
    if (e.name === 'MaxRetriesPerRequestError') return true;
    if (typeof e.message === 'string' && /Connection terminated|connection timeout|Connection is closed|timeout exceeded when trying to connect/i.test(e.message)) return true;
  }
  return false;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const appErr = toAppError(err);
    if (appErr.code === 'INTERNAL') request.log.error({ err }, 'unhandled error');
    else if (appErr.code === 'UNAVAILABLE') request.log.warn({ err }, 'backing service unavailable');
    if (appErr.retryAfter !== undefined) void reply.header('retry-after', String(appErr.retryAfter));
    // RFC 6750: a 401 names the scheme it wants, so generic HTTP clients know to send a bearer token.
    if (appErr.code === 'UNAUTHORIZED') void reply.header('www-authenticate', 'Bearer realm="chat"');
    void reply.status(appErr.status).type('application/problem+json').send(toProblem(appErr));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).type('application/problem+json').send(toProblem(new AppError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)));
  });
}
