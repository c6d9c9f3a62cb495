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
  const status = e.statusCode;
  if (status && status >= 400 && status < 500) {
    const code = BY_STATUS[status] ?? 'VALIDATION_FAILED';
    return new AppError(code, e.message);
  }
  return new AppError('INTERNAL', 'An unexpected error occurred');
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const appErr = toAppError(err);
    if (appErr.code === 'INTERNAL') request.log.error({ err }, 'unhandled error');
    if (appErr.retryAfter !== undefined) void reply.header('retry-after', String(appErr.retryAfter));
    // RFC 6750: a 401 names the scheme it wants, so generic HTTP clients know to send a bearer token.
    if (appErr.code === 'UNAUTHORIZED') void reply.header('www-authenticate', 'Bearer realm="chat"');
    void reply.status(appErr.status).type('application/problem+json').send(toProblem(appErr));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).type('application/problem+json').send(toProblem(new AppError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)));
  });
}
