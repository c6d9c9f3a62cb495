import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, ERROR_CATALOGUE, toProblem, type ErrorCode } from '../errors.js';

const BY_STATUS: Record<number, ErrorCode> = Object.fromEntries(
  Object.entries(ERROR_CATALOGUE).map(([code, { status }]) => [status, code as ErrorCode]),
);

/** Anything thrown in a request becomes one of the catalogue's codes; unknown errors never leak internals. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as Partial<FastifyError> & { validation?: Array<{ instancePath?: string; message?: string; params?: Record<string, unknown> }> };
  if (e.validation) {
    const errors = e.validation.map((v) => {
      const missing = v.params?.['missingProperty'];
      const path = `${e.validationContext ?? ''}${v.instancePath ?? ''}${missing ? `/${String(missing)}` : ''}`;
      return { path, message: v.message ?? 'is invalid' };
    });
    return new AppError('VALIDATION_FAILED', errors.map((x) => `${x.path} ${x.message}`).join('; '), { errors });
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
    void reply.status(appErr.status).type('application/problem+json').send(toProblem(appErr));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).type('application/problem+json').send(toProblem(new AppError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)));
  });
}
