import { STATUS_CODES } from 'node:http';
import swagger, { type SwaggerTransformObject } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { Config } from '../config.js';

/**
 * The tags operations are grouped under, in the order the UI lists them. Every tag a route uses is declared here
 * (test/openapi.test.ts checks it), so generated documentation has a sentence for each group.
 */
const TAGS = [
  { name: 'rooms', description: 'Direct, group, business and support rooms, their participants and notification settings' },
  { name: 'messages', description: 'Sending, history, edits, deletion and the change log of a room' },
  { name: 'reactions', description: 'Emoji reactions to a message' },
  { name: 'pins', description: 'Messages pinned in a room' },
  { name: 'read state', description: 'Read positions, and delivery and read receipts' },
  { name: 'search', description: "Full-text search over the caller's rooms" },
  { name: 'media', description: 'Uploads ahead of a send, and the files the local storage driver serves' },
  { name: 'me', description: "The caller's profile and settings" },
  { name: 'presence', description: 'Who is online' },
  { name: 'notifications', description: 'Web Push subscriptions' },
  { name: 'blocks', description: 'Users the caller blocks' },
  { name: 'moderation', description: 'Message reports and user suspensions' },
  { name: 'admin', description: 'Platform administration: purges, exports, erasure jobs' },
  { name: 'webhooks', description: 'Outgoing webhooks (platform admins)' },
  { name: 'health', description: 'Readiness, for load balancers and orchestrators' },
  { name: 'development', description: 'Development sign-in (never enabled where real users sign in)' },
];

const Problem = Type.Ref('Problem');
const BYTES = { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } };

/**
 * What the document says of a few routes beyond their own schemas, merged in for the document only (Fastify never
 * sees these): the upload's multipart body; and for the routes registered outside the `*.routes.ts` files, their
 * operationId and answers, with the media files under a named parameter, because Fastify's wildcard would be
 * published as a parameter called `*`, which no client generator can name.
 */
const DOCUMENTED_HERE: Record<string, { url?: string; schema: FastifySchema }> = {
  'GET /health': {
    schema: {
      operationId: 'getHealth',
      response: {
        200: Type.Object({
          status: Type.Literal('ok'),
          database: Type.String({ description: 'The engine: pglite or postgres' }),
          redis: Type.Optional(Type.Literal('ok')),
        }),
        400: Problem,
        503: Problem,
      },
    },
  },
  // Fastify validates no multipart body (media.multipart.ts reads it); a generated client still needs its shape.
  'POST /api/v1/chat/rooms/:id/media': {
    schema: {
      body: Type.Object({
        media: Type.Array(Type.String({ contentMediaType: 'application/octet-stream' }), {
          minItems: 1,
          description: 'The files, each a part named `media` (at most MEDIA_MAX_FILES, 10 by default)',
        }),
      }),
    },
  },
  'GET /media/*': {
    url: '/media/:key',
    schema: {
      operationId: 'getMediaFile',
      description:
        'Fetch it by the URL the message carries, as it is: the key may contain `/`. Served only with MEDIA_STORAGE=local; ' +
        'answers a `Range` of bytes with 206.',
      params: Type.Object({
        key: Type.String({ description: "The file's storage key, as it appears in the signed URL (it may contain `/`)" }),
      }),
      response: {
        200: { description: 'The file, under its stored content type', content: BYTES },
        206: { description: 'The requested byte range of the file', content: BYTES },
        403: Problem,
        404: Problem,
        416: Type.Null({ description: 'The range is outside the file (Content-Range names its size)' }),
      },
    },
  },
};

/** The OpenAPI document at /docs/json and its UI at /docs. */
export async function registerOpenApi(app: FastifyInstance, config: Config): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Chat service',
        version: '0.1.0',
        description: 'REST under /api/v1/chat; live events over Socket.IO on the /chat namespace. Errors are application/problem+json.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [serverOf(config.publicUrl)],
      tags: TAGS,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
    transform: ({ schema, url, route }) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const extra = methods.map((m) => DOCUMENTED_HERE[`${m} ${url}`]).find(Boolean);
      return extra ? { url: extra.url ?? url, schema: { ...schema, ...extra.schema } } : { schema, url };
    },
    // Only an OpenAPI (not Swagger 2) document is ever built here.
    transformObject: (doc) =>
      publishable('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject) as ReturnType<SwaggerTransformObject>,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
}

/**
 * The public URL, or "/" (the origin the document was fetched from) while it is the loopback default: a document
 * naming localhost is wrong for every reader but the one on this machine.
 */
function serverOf(publicUrl: string): { url: string; description: string } {
  const host = new URL(publicUrl).hostname;
  const loopback = host === 'localhost' || host === '[::1]' || host.startsWith('127.');
  return loopback ? { url: '/', description: 'This server' } : { url: publicUrl, description: 'The public URL (PUBLIC_URL)' };
}

type Json = unknown;

/** Keys whose value maps names to schemas or objects: a member called, say, `errorMessage` there is a name, kept. */
const NAME_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'schemas', 'paths', 'responses', 'content']);

/**
 * The document as published, rebuilt (the route schemas it came from are the validators' own, never mutated):
 * - `errorMessage` (the words a failed pattern reports, read by http/errors.ts) is no JSON Schema keyword: dropped;
 * - TypeBox writes a tuple draft-07 style (`items: [..]`, `additionalItems`); OpenAPI 3.1 is JSON Schema 2020-12,
 *   where that is `prefixItems` and `items: false`;
 * - error answers are application/problem+json, as they are sent, and every answer is described by its status.
 */
function publishable(doc: Json): Json {
  const out = rewrite(doc, '') as { paths?: Record<string, Record<string, { responses?: Record<string, unknown> }>> };
  for (const item of Object.values(out.paths ?? {}))
    for (const op of Object.values(item)) for (const [status, res] of Object.entries(op.responses ?? {})) describe(status, res);
  return out;
}

function rewrite(node: Json, key: string): Json {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, ''));
  if (node === null || typeof node !== 'object') return node;
  const names = NAME_MAPS.has(key);
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(node)) {
    if (!names && k === 'errorMessage') continue;
    if (!names && k === 'additionalItems') continue;
    if (!names && k === 'items' && Array.isArray(v)) {
      out['prefixItems'] = rewrite(v, '');
      const rest = (node as Record<string, Json>)['additionalItems'];
      if (rest !== undefined && rest !== true) out['items'] = rewrite(rest, 'items');
      continue;
    }
    out[k] = rewrite(v, names ? '' : k);
  }
  return out;
}

function describe(status: string, response: unknown): void {
  const res = response as { description?: string; content?: Record<string, unknown> };
  const code = Number(status);
  if (res.description === 'Default Response' || res.description === 'application/problem+json')
    res.description = STATUS_CODES[code] ?? status;
  if (code >= 400 && res.content?.['application/json'] && !res.content['application/problem+json'])
    res.content = { 'application/problem+json': res.content['application/json'] };
}
