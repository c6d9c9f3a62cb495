import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { sharedSerializers } from './serializers.js';
import sjson from 'secure-json-parse';
import type { Config } from '../config.js';
import { SHARED_SCHEMAS } from '../contract/components.js';
import { onClientError, onFrameworkError, onUnmetExpectation, requireHost, serializeRequest } from './edges.js';
import { registerErrorHandling } from './errors.js';
import { registerOpenApi } from './openapi.js';
import type { ValidatorCompilers } from './validation.js';

export type HttpServer = FastifyInstance;

export interface HttpServerOptions {
  /** Where the log goes instead of stdout (tests read it). */
  logStream?: DestinationStream;
}

/** Fastify with the cross-cutting pieces: logging, validation, problem+json errors, security headers, CORS, OpenAPI. */
export async function createHttpServer(
  config: Config,
  validators: ValidatorCompilers,
  options: HttpServerOptions = {},
): Promise<HttpServer> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: ['req.headers.authorization'],
      // Request URLs are logged with tokens and media signatures blanked (edges.ts).
      serializers: { req: serializeRequest },
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    bodyLimit: config.bodyLimitBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
    },
    // Ids go through schemas and the error handler; a trailing slash is the same route. A longer segment is no id
    // (404) and a path that does not decode is a 400, both answered as problem+json by onFrameworkError.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500 },
    frameworkErrors: onFrameworkError,
    // Node would answer a missing Host with an empty 400 of its own; requireHost answers it as problem+json.
    http: { requireHostHeader: false },
    schemaController: { compilersFactory: { buildSerializer: sharedSerializers(validators.deferred) } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.removeAllListeners('clientError');
  app.server.on('clientError', onClientError(app.log));
  app.server.on('checkExpectation', onUnmetExpectation);
  app.addHook('onRequest', requireHost);

  app.setValidatorCompiler(validators.compiler);
  // Once listening, not once ready: between the two the parts start (app.ts), and each of their database round trips
  // let one compile of 5-20 ms run first; on the benchmark's core that held the start back by 0.3-0.7 s.
  app.addHook('onListen', async () => validators.deferred.warm(app.log));
  app.addHook('onClose', async () => validators.deferred.stop());
  for (const s of SHARED_SCHEMAS) app.addSchema(s);
  registerErrorHandling(app);
  app.addHook('onSend', async (req, reply) => {
    void reply.header('x-request-id', req.id);
  });
  parseJsonBodies(app);

  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: { directives: webAppDirectives(config.publicUrl, config.corsOrigins) },
    // frame-ancestors says who may frame the app (X-Frame-Options cannot name other origins, and browsers prefer CSP).
    frameguard: false,
  });
  await app.register(cors, {
    origin: config.corsOrigins === '*' ? true : config.corsOrigins,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    exposedHeaders: ['retry-after', 'x-request-id'],
  });
  await registerOpenApi(app, config);
  return app as unknown as HttpServer;
}

/**
 * Helmet's policy, opened just enough for the web app at `/`: its own scripts only; inline styles (a virtualised list
 * positions rows with them); images and media also from blob:/data: (previews before upload) and any https: host
 * (signed S3 / Cloudinary URLs); sockets on any ws:/wss:; the service's public origin where it differs from the page's.
 * Upgrading insecure requests is kept only for an https deployment: on a plain-http one it would break every asset.
 * The platforms allowed to call the API from a browser (CORS_ORIGINS) may also embed the app in an iframe.
 */
function webAppDirectives(publicUrl: string, corsOrigins: string[] | '*' | false): Record<string, string[] | null> {
  const origin = new URL(publicUrl).origin;
  return {
    'frame-ancestors': corsOrigins === '*' ? ["'self'", 'http:', 'https:'] : ["'self'", ...(corsOrigins || [])],
    'script-src': ["'self'"],
    'style-src': ["'self'", "'unsafe-inline'"],
    'img-src': ["'self'", 'blob:', 'data:', 'https:', origin],
    'media-src': ["'self'", 'blob:', 'data:', 'https:', origin],
    'connect-src': ["'self'", 'ws:', 'wss:', origin],
    'worker-src': ["'self'"],
    'manifest-src': ["'self'"],
    'upgrade-insecure-requests': publicUrl.startsWith('https:') ? [] : null,
  };
}

/** How request bodies are read: JSON only (multipart is registered in the scope that takes uploads). */
function parseJsonBodies(app: FastifyInstance): void {
  // JSON only: a text/plain body to a JSON route is 415, not a confusing "body must be object".
  app.removeContentTypeParser('text/plain');
  // An empty JSON body (PATCH …/read from clients that always send the header) is no body, not malformed JSON.
  // secure-json-parse, as Fastify's own parser does: __proto__ / constructor.prototype keys are refused.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, sjson.parse(text, { protoAction: 'error', constructorAction: 'error' }));
    } catch {
      const err = Object.assign(new Error('Body is not valid JSON'), { statusCode: 400 });
      done(err, undefined);
    }
  });
}
