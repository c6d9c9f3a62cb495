import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, toProblem } from '../errors.js';
import type { Log } from '../log.js';

/**
 * Query parameters whose values are credentials: bearer tokens a client put in the URL (refused, but still logged
 * with the request), the signature of a local media URL (a working URL for an hour), and those of S3 presigned URLs.
 */
const SECRET_PARAMS = new Set([
  'token',
  'access_token',
  'id_token',
  'refresh_token',
  'sig',
  'signature',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
]);

function paramName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

/** The URL with the values of SECRET_PARAMS (matched however the name is cased or percent-encoded) replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return SECRET_PARAMS.has(paramName(name)) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${query.join('&')}`;
}

/** Fastify's own request serializer, with the URL redacted. */
export function serializeRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/**
 * Errors the router raises before any route runs (they skip the error handler): a path that does not decode is a
 * bad request; a path segment longer than any id is a resource that does not exist, as any id of the wrong shape.
 */
export function onFrameworkError(err: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply): void {
  const appErr =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new AppError('NOT_FOUND', 'No such resource: a path segment is longer than any id')
      : new AppError(
          'VALIDATION_FAILED',
          err.code === 'FST_ERR_BAD_URL' ? 'The URL path is not valid percent-encoded UTF-8' : 'The request could not be routed',
        );
  request.log.info({ code: err.code }, 'request refused by the router');
  void reply.status(appErr.status).type('application/problem+json').send(toProblem(appErr));
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (a request line or headers over the size limit, broken
 * HTTP, a slow request): answered as problem+json with a catalogue code, where Fastify would answer its own JSON.
 */
export function onClientError(log: Pick<Log, 'debug'>) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    log.debug({ code: err.code }, 'malformed HTTP request refused');
    const appErr =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new AppError('PAYLOAD_TOO_LARGE', 'The request line and headers are larger than the server accepts')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new AppError('VALIDATION_FAILED', 'The request did not arrive in time')
          : new AppError('VALIDATION_FAILED', 'The request is not valid HTTP');
    const problem = toProblem(appErr);
    const body = JSON.stringify(problem);
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: application/problem+json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(err);
  };
}

/** An `Expect` other than 100-continue, which Node would refuse with an empty 417 of its own. */
export function onUnmetExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify(toProblem(new AppError('VALIDATION_FAILED', 'The only Expect this server meets is 100-continue')));
  res.writeHead(400, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

/**
 * HTTP/1.1 requires a Host header; Node would refuse a request without one with an empty 400 of its own, so the check
 * is made here instead (Node's is turned off in server.ts), with a problem body.
 */
export async function requireHost(request: FastifyRequest): Promise<void> {
  if (request.raw.httpVersion !== '1.0' && !request.headers.host)
    throw new AppError('VALIDATION_FAILED', 'HTTP/1.1 requests need a Host header');
}
