import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'drizzle-orm';
import type { AuthContext } from '../src/auth/tokens.js';
import type { Client, Res, TestApp } from './helpers/app.js';
import { buildRoom } from './helpers/factories.js';

export interface UploadFile {
  name: string;
  type?: string;
  data: Buffer | Uint8Array;
}

export function form(files: UploadFile[], fields: Record<string, string | string[]> = {}, field = 'media'): FormData {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) for (const item of Array.isArray(v) ? v : [v]) fd.append(k, item);
  for (const f of files) fd.append(field, new Blob([new Uint8Array(f.data)], f.type !== undefined ? { type: f.type } : {}), f.name);
  return fd;
}

export const upload = (client: Client, roomId: string, files: UploadFile[], fields?: Record<string, string | string[]>): Promise<Res> =>
  client.raw(`/rooms/${roomId}/media`, { method: 'POST', body: form(files, fields) });

/** The auth context a token for `userId` gives, for calling services directly. */
export const authOf = (userId: string): AuthContext => ({
  userId,
  name: null,
  picture: null,
  role: 'user',
  businessIds: [],
  exp: undefined,
});

export async function mediaRows(t: TestApp): Promise<number> {
  const res = (await t.app.database.db.execute(sql`select count(*)::int as n from chat_media`)) as unknown as {
    rows: Array<{ n: number }>;
  };
  return res.rows[0]!.n;
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** Every file under DATA_DIR/media and the upload temp dir DATA_DIR/tmp. */
export const leftoverFiles = (t: TestApp): Promise<string[]> =>
  Promise.all([walk(path.join(t.config.dataDir, 'media')), walk(path.join(t.config.dataDir, 'tmp'))]).then(([a, b]) => [...a, ...b]);

/** A group of `alice` and `others` (bob unless said), by its id. */
export async function room(alice: Client, others: string[] = ['bob']): Promise<string> {
  return (await buildRoom(alice, { name: 'media', participantIds: others })).id;
}

export async function fetchBytes(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

// ---- a stand-in for Cloudinary's upload API

export interface FakeCloudinary {
  url: string;
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  /** `<resource_type>/<type>/<public_id>` → bytes */
  assets: Map<string, Buffer>;
  requests: Array<{ method: string; path: string; params: Record<string, string> }>;
  close(): Promise<void>;
}

/** Cloudinary's request signature: sorted `k=v` pairs joined with `&` (a `&` inside a pair escaped), then the secret, SHA-1. */
function signature(params: Record<string, string>, secret: string): string {
  const toSign = Object.entries(params)
    .filter(([k, v]) => !['file', 'api_key', 'signature', 'resource_type', 'cloud_name'].includes(k) && v !== '')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`.replace(/&/g, '%26'))
    .join('&');
  return createHash('sha1')
    .update(toSign + secret)
    .digest('hex');
}

const signed = (params: Record<string, string>, secret: string, apiKey: string) => {
  const expected = Buffer.from(signature(params, secret));
  const given = Buffer.from(params['signature'] ?? '');
  return params['api_key'] === apiKey && given.length === expected.length && timingSafeEqual(given, expected);
};

async function formParams(req: IncomingMessage): Promise<{ params: Record<string, string>; file: Buffer | undefined }> {
  const request = new Request('http://fake/', {
    method: 'POST',
    headers: req.headers as Record<string, string>,
    body: Readable.toWeb(req) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  const fd = await request.formData();
  const params: Record<string, string> = {};
  let file: Buffer | undefined;
  for (const [k, v] of fd.entries()) {
    if (typeof v === 'string') params[k] = v;
    else file = Buffer.from(await v.arrayBuffer());
  }
  return { params, file };
}

/**
 * Answers upload, destroy and private download the way Cloudinary's API does, after checking the API key, the
 * request signature and (for downloads) expires_at. Stores assets in memory.
 */
export async function startFakeCloudinary(): Promise<FakeCloudinary> {
  const cloudName = 'demo-cloud';
  const apiKey = '123456789012345';
  const apiSecret = 'fake-cloudinary-secret-0123456789';
  const assets = new Map<string, Buffer>();
  const requests: FakeCloudinary['requests'] = [];
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const m = /^\/v1_1\/([^/]+)\/(image|video|raw)\/(upload|destroy|download)$/.exec(url.pathname);
      if (!m || m[1] !== cloudName) return json(res, 404, { error: { message: 'Resource not found' } });
      const [, , resourceType, action] = m;
      const { params, file } =
        req.method === 'POST' ? await formParams(req) : { params: Object.fromEntries(url.searchParams), file: undefined };
      requests.push({ method: req.method ?? '', path: url.pathname, params });
      if (!signed(params, apiSecret, apiKey)) return json(res, 401, { error: { message: 'Invalid Signature' } });
      const id = `${resourceType}/${params['type'] ?? 'upload'}/${params['public_id']}`;
      if (action === 'upload') {
        if (!file || !params['public_id'] || !params['timestamp'])
          return json(res, 400, { error: { message: 'Missing required parameter' } });
        assets.set(id, file);
        return json(res, 200, {
          asset_id: createHash('md5').update(id).digest('hex'),
          public_id: params['public_id'],
          version: 1,
          signature: 'x',
          resource_type: resourceType,
          type: params['type'],
          bytes: file.length,
          created_at: new Date().toISOString(),
          format: 'bin',
          url: `http://res.cloudinary.com/${cloudName}/${resourceType}/${params['type']}/v1/${params['public_id']}`,
          secure_url: `https://res.cloudinary.com/${cloudName}/${resourceType}/${params['type']}/v1/${params['public_id']}`,
        });
      }
      if (action === 'destroy') return json(res, 200, { result: assets.delete(id) ? 'ok' : 'not found' });
      if (Number(params['expires_at']) < Date.now() / 1000) return json(res, 403, { error: { message: 'Expired' } });
      const body = assets.get(id);
      if (!body) return json(res, 404, { error: { message: 'Resource not found' } });
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
      if (params['attachment']) headers['content-disposition'] = 'attachment';
      res.writeHead(200, headers).end(body);
    })().catch((err: unknown) => json(res, 500, { error: { message: String(err) } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cloudName,
    apiKey,
    apiSecret,
    assets,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// ---- s3rver

export interface FakeS3 {
  endpoint: string;
  bucket: string;
  close(): Promise<void>;
}

export async function startS3rver(directory: string): Promise<FakeS3> {
  const { default: S3rver } = await import('s3rver');
  const bucket = 'chat-media';
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  return { endpoint: `http://127.0.0.1:${port}`, bucket, close: () => server.close() };
}

/** Environment for startTestApp that selects each driver. */
export const s3Env = (s3: FakeS3) => ({
  MEDIA_STORAGE: 's3',
  S3_BUCKET: s3.bucket,
  S3_ENDPOINT: s3.endpoint,
  S3_REGION: 'us-east-1',
  S3_ACCESS_KEY_ID: 'S3RVER',
  S3_SECRET_ACCESS_KEY: 'S3RVER',
  S3_FORCE_PATH_STYLE: 'true',
});
export const cloudinaryEnv = (c: FakeCloudinary) => ({
  MEDIA_STORAGE: 'cloudinary',
  CLOUDINARY_URL: `cloudinary://${c.apiKey}:${c.apiSecret}@${c.cloudName}`,
  CLOUDINARY_UPLOAD_PREFIX: c.url,
});

const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Checks a presigned S3 GET URL the way S3 does (SigV4, query form): s3rver enforces expiry but does not verify V4
 * signatures, so the tests check that part here, independently of the SDK that made the URL.
 */
export function verifySigV4(url: string, secretAccessKey: string): boolean {
  const u = new URL(url);
  const q = u.searchParams;
  const [, date, region, service] = (q.get('X-Amz-Credential') ?? '').split('/');
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || q.get('X-Amz-SignedHeaders') !== 'host' || !date || !region || !service)
    return false;
  const query = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = ['GET', u.pathname, query, `host:${u.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', q.get('X-Amz-Date'), scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request');
  return createHmac('sha256', signingKey).update(toSign).digest('hex') === q.get('X-Amz-Signature');
}
