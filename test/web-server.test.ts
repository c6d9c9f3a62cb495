import { generateKeyPairSync } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { startTestApp, TEST_JWT_SECRET, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { startService } from './helpers/process.js';

const INDEX = '<!doctype html><html><head><title>Chat</title></head><body><div id="root"></div></body></html>\n';
const ASSET = 'assets/index-3f9a1c.js';
const ASSET_BODY = 'console.log("chat");\n';
const IMMUTABLE = 'public, max-age=31536000, immutable';

let web: string;
let missingWeb: string;

/**
 * A fake `vite build` output: the page, a hashed asset, the service worker, the manifest and a dot-file; beside the
 * build folder, a file that must never be served.
 */
async function fakeBuild(): Promise<string> {
  const base = await mkdtemp(path.join(tmpdir(), 'chat-web-'));
  await writeFile(path.join(base, 'secret.txt'), 'outside the build\n');
  const dir = path.join(base, 'dist');
  await mkdir(path.join(dir, 'assets'), { recursive: true });
  await writeFile(path.join(dir, 'index.html'), INDEX);
  await writeFile(path.join(dir, ASSET), ASSET_BODY);
  await writeFile(path.join(dir, 'sw.js'), 'self.addEventListener("fetch", () => {});\n');
  await writeFile(path.join(dir, 'manifest.webmanifest'), '{"name":"Chat"}\n');
  await writeFile(path.join(dir, '.env'), 'SECRET=1\n');
  return dir;
}

/** A request to exactly `p` (the helpers' `request` puts unknown paths under the API prefix), its JSON body parsed. */
async function call(t: TestApp, p: string, init: RequestInit = {}): Promise<Res> {
  const res = await fetch(t.baseUrl + p, init);
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').includes('json') && text;
  return { status: res.status, headers: res.headers, body: json ? JSON.parse(text) : text };
}

/** A GET with the path exactly as written (no dot-segment resolution). */
function rawGet(t: TestApp, p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { port } = new URL(t.baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path: p, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

const html = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const get = (t: TestApp, p: string, headers: Record<string, string> = {}) => fetch(t.baseUrl + p, { headers });

function devToken(t: TestApp, body: unknown, where = '/dev/token', init: RequestInit = {}): Promise<Res> {
  return call(t, where, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

const authed = (t: TestApp, token: string, p: string) => call(t, p, { headers: { authorization: `Bearer ${token}` } });

/** The CSP as directive → its values. */
function csp(res: { headers: Headers }): Record<string, string[]> {
  const header = res.headers.get('content-security-policy');
  expect(header).toBeTruthy();
  return Object.fromEntries(
    header!.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name!, values];
    }),
  );
}

beforeAll(async () => {
  web = await fakeBuild();
  missingWeb = path.join(await mkdtemp(path.join(tmpdir(), 'chat-noweb-')), 'dist');
});
afterAll(async () => {
  await rm(path.dirname(web), { recursive: true, force: true });
  await rm(path.dirname(missingWeb), { recursive: true, force: true });
});

describe('development (NODE_ENV is not production)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { webDir: web });
  });
  afterAll(async () => t?.close());

  describe('POST /dev/token', () => {
    it.each(['/dev/token', '/api/v1/chat/dev/token'])('%s mints a 24 h token that the API accepts', async (where) => {
      const res = await devToken(t, { userId: 'ada', name: 'Ada Lovelace' }, where);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(['token']);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const { payload } = await jwtVerify(res.body.token, new TextEncoder().encode(TEST_JWT_SECRET), { algorithms: ['HS256'] });
      expect(payload.sub).toBe('ada');
      expect(payload.exp! - payload.iat!).toBe(24 * 3600);
      const rooms = await authed(t, res.body.token, '/api/v1/chat/rooms');
      expect(rooms.status).toBe(200);
      expect(rooms.body.data).toEqual([]);
      expect((await authed(t, res.body.token, '/api/v1/chat/me')).body).toMatchObject({ userId: 'ada', name: 'Ada Lovelace' });
    });

    it('puts role and businessIds in the claims, and the API honours them', async () => {
      const res = await devToken(t, { userId: 'sam', role: 'support', businessIds: ['acme', 'globex'] });
      expect(res.status).toBe(200);
      const { payload } = await jwtVerify(res.body.token, new TextEncoder().encode(TEST_JWT_SECRET));
      expect(payload).toMatchObject({ sub: 'sam', role: 'support', businessIds: ['acme', 'globex'] });
      expect(payload).not.toHaveProperty('name');
      // Only support staff may list the support queue.
      expect((await authed(t, res.body.token, '/api/v1/chat/rooms?scope=support')).status).toBe(200);
      const plain = (await devToken(t, { userId: 'pat' })).body.token;
      expect((await authed(t, plain, '/api/v1/chat/rooms?scope=support')).status).toBe(403);
      const { payload: plainClaims } = await jwtVerify(plain, new TextEncoder().encode(TEST_JWT_SECRET));
      expect(plainClaims).not.toHaveProperty('role');
      expect(plainClaims).not.toHaveProperty('businessIds');
    });

    it('takes a blank name as no name, and a user id of 128 characters (code points) with any script', async () => {
      const blank = await devToken(t, { userId: 'blank-name', name: '  ' });
      expect(blank.status).toBe(200);
      expect((await jwtVerify(blank.body.token, new TextEncoder().encode(TEST_JWT_SECRET))).payload).not.toHaveProperty('name');
      const long = '😀'.repeat(128);
      const res = await devToken(t, { userId: long, name: 'é'.repeat(200) });
      expect(res.status).toBe(200);
      expect((await authed(t, res.body.token, '/api/v1/chat/me')).body).toMatchObject({ userId: long });
    });

    const users = async () =>
      Number(
        ((await t.app.database.db.execute(sql`select count(*) as n from chat_user`)) as unknown as { rows: Array<{ n: unknown }> }).rows[0]!
          .n,
      );

    it.each([
      ['no body', undefined],
      ['an empty object', {}],
      ['an array', [{ userId: 'x' }]],
      ['an empty userId', { userId: '' }],
      ['a userId of 129 characters', { userId: 'u'.repeat(129) }],
      ['a userId with a control character', { userId: 'a\u0000b' }],
      ['a userId with a newline', { userId: 'a\nb' }],
      ['a userId with a lone surrogate', { userId: 'a\uD800' }],
      ['a numeric userId', { userId: 42 }],
      ['a name of 201 characters', { userId: 'x', name: 'n'.repeat(201) }],
      ['a name with a control character', { userId: 'x', name: 'Ada\u0007' }],
      ['a numeric name', { userId: 'x', name: 7 }],
      ['an unknown role', { userId: 'x', role: 'root' }],
      ['a role in other case', { userId: 'x', role: 'Admin' }],
      ['businessIds that is a string', { userId: 'x', businessIds: 'acme' }],
      ['51 businessIds', { userId: 'x', businessIds: Array.from({ length: 51 }, (_, i) => `b${i}`) }],
      ['an empty business id', { userId: 'x', businessIds: [''] }],
      ['a business id with a control character', { userId: 'x', businessIds: ['ac\u001Fme'] }],
      ['a numeric business id', { userId: 'x', businessIds: [1] }],
      ['an unknown field', { userId: 'x', picture: 'https://example.com/a.png' }],
    ])('refuses %s with 400 VALIDATION_FAILED and mints nothing', async (_what, body) => {
      const before = await users();
      const res = await call(t, '/dev/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(res.body).not.toHaveProperty('token');
      expect(await users()).toBe(before);
    });

    it('refuses malformed JSON with 400 and a text body with 415, on both paths', async () => {
      for (const where of ['/dev/token', '/api/v1/chat/dev/token']) {
        expectProblem(await devToken(t, '{"userId":', where), 400, 'VALIDATION_FAILED');
        expectProblem(await devToken(t, 'ada', where, { headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it('is in the OpenAPI document at /dev/token, without a bearer token, naming DEV_SIGN_IN', async () => {
      const doc = (await call(t, '/docs/json')).body;
      const op = doc.paths['/dev/token']?.post;
      expect(op).toBeDefined();
      expect(op.security).toEqual([]);
      expect(op.description).toContain('DEV_SIGN_IN');
      expect(doc.paths['/api/v1/chat/dev/token']).toBeUndefined();
    });
  });

  describe('the web app', () => {
    it('serves / as the page, revalidated on every load, under the CSP', async () => {
      const res = await get(t, '/', html);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(await res.text()).toBe(INDEX);
      const head = await fetch(`${t.baseUrl}/`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('cache-control')).toBe('no-cache');
      expect(await head.text()).toBe('');
    });

    it('serves hashed assets as immutable for a year', async () => {
      const res = await get(t, `/${ASSET}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/javascript/);
      expect(res.headers.get('cache-control')).toBe(IMMUTABLE);
      expect(await res.text()).toBe(ASSET_BODY);
      // Revalidation by ETag still works (fetch would add cache-control: no-cache to a conditional request, forcing a 200).
      const again = await get(t, `/${ASSET}`, { 'if-none-match': res.headers.get('etag')!, 'cache-control': 'max-age=0' });
      expect(again.status).toBe(304);
    });

    it.each([
      ['/sw.js', /javascript/],
      ['/manifest.webmanifest', /manifest\+json/],
      ['/index.html', /^text\/html/],
    ])('serves %s with no-cache', async (p, type) => {
      const res = await get(t, p);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(type);
      expect(res.headers.get('cache-control')).toBe('no-cache');
    });

    it.each(['/some/spa/path', '/rooms/0190a5d2-ac96-774b-bcce-b302099a8057', '/assets/'])(
      'answers the page for %s asked for as HTML (a client-side route)',
      async (p) => {
        const res = await get(t, p, html);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        expect(res.headers.get('cache-control')).toBe('no-cache');
        expect(await res.text()).toBe(INDEX);
      },
    );

    it.each(['/some/spa/path', '/assets/missing-123.js', '/favicon.ico'])(
      'answers 404 problem+json for %s not asked for as HTML',
      async (p) => {
        expectProblem(await call(t, p, { headers: { accept: '*/*' } }), 404, 'NOT_FOUND');
      },
    );

    it.each([
      '/api/v1/chat/nope',
      '/api/v1/chat/rooms/0190a5d2-ac96-774b-bcce-b302099a8057/nope',
      '/api',
      '/api/other',
      '/health/nope',
      '/metrics/nope',
      '/dev/token',
      '/dev/other',
    ])('keeps %s a service path: 404 problem+json even asked for as HTML', async (p) => {
      const res = await call(t, p, { headers: html });
      expectProblem(res, 404, 'NOT_FOUND');
      expect(res.body.detail).toBe(`No route GET ${p}`);
    });

    it('serves no dot-file and nothing outside the build', async () => {
      expectProblem(await call(t, '/.env'), 404, 'NOT_FOUND');
      expect(await (await get(t, '/.env', html)).text()).toBe(INDEX);
      // Sent as written: fetch would resolve the dot segments itself.
      for (const p of [
        '/../secret.txt',
        '/assets/../../secret.txt',
        '/..%2Fsecret.txt',
        '/assets/..%2F..%2Fsecret.txt',
        '/%2e%2e/secret.txt',
      ]) {
        expect(await rawGet(t, p, html)).toEqual({ status: 200, body: INDEX });
        expect(await rawGet(t, p)).toEqual({ status: 404, body: expect.stringContaining('"code":"NOT_FOUND"') });
      }
    });

    it('still refuses a path that does not decode with 400, and API errors stay problem+json', async () => {
      expectProblem(await call(t, '/api/v1/chat/rooms/%FF', { headers: html }), 400, 'VALIDATION_FAILED');
      expectProblem(await call(t, '/%E0%A4%A', { headers: html }), 400, 'VALIDATION_FAILED');
      expectProblem(await call(t, '/api/v1/chat/rooms', { headers: html }), 401, 'UNAUTHORIZED');
      expectProblem(await call(t, '/nope', { method: 'POST', headers: html }), 404, 'NOT_FOUND');
    });

    it('sends a CSP the app can run under, on pages and API answers alike, with the other helmet headers', async () => {
      const origin = new URL(t.config.publicUrl).origin;
      for (const res of [await get(t, '/', html), await get(t, '/api/v1/chat/rooms')]) {
        const d = csp(res);
        expect(d['default-src']).toEqual(["'self'"]);
        expect(d['script-src']).toEqual(["'self'"]);
        expect(d['style-src']).toEqual(["'self'", "'unsafe-inline'"]);
        expect(d['img-src']).toEqual(["'self'", 'blob:', 'data:', 'https:', origin]);
        expect(d['media-src']).toEqual(["'self'", 'blob:', 'data:', 'https:', origin]);
        expect(d['connect-src']).toEqual(["'self'", 'ws:', 'wss:', origin]);
        expect(d['worker-src']).toEqual(["'self'"]);
        expect(d['manifest-src']).toEqual(["'self'"]);
        expect(d['object-src']).toEqual(["'none'"]);
        // Development allows any origin (CORS_ORIGINS unset): any page may embed the app too.
        expect(d['frame-ancestors']).toEqual(["'self'", 'http:', 'https:']);
        expect(d['script-src-attr']).toEqual(["'none'"]);
        // Plain http (PUBLIC_URL is http here): upgrading would break every asset.
        expect(d).not.toHaveProperty('upgrade-insecure-requests');
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        expect(res.headers.get('strict-transport-security')).toBeTruthy();
        // Framing is said by frame-ancestors alone (X-Frame-Options cannot name the embedding platform).
        expect(res.headers.get('x-frame-options')).toBeNull();
      }
    });
  });
});

describe('production', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ NODE_ENV: 'production' }, { webDir: missingWeb });
  });
  afterAll(async () => t?.close());

  it('lets no other page frame the app unless CORS_ORIGINS names it', async () => {
    expect(csp(await get(t, '/api/v1/chat/rooms'))['frame-ancestors']).toEqual(["'self'"]);
    const allowed = await startTestApp({ NODE_ENV: 'production', CORS_ORIGINS: 'https://platform.example' }, { webDir: missingWeb });
    try {
      expect(csp(await get(allowed, '/api/v1/chat/rooms'))['frame-ancestors']).toEqual(["'self'", 'https://platform.example']);
    } finally {
      await allowed.close();
    }
  });

  it.each(['/dev/token', '/api/v1/chat/dev/token'])('has no %s: 404 exactly as an unknown route', async (where) => {
    const res = await devToken(t, { userId: 'mallory', role: 'admin' }, where);
    expectProblem(res, 404, 'NOT_FOUND');
    const unknown = await devToken(t, { userId: 'mallory' }, `${where}-nope`);
    expect(Object.keys(res.body).sort()).toEqual(Object.keys(unknown.body).sort());
    expect(res.body.detail).toBe(`No route POST ${where}`);
    expect((await call(t, '/docs/json')).body.paths['/dev/token']).toBeUndefined();
  });

  it('answers / with 503 and how to build the app when it is not built', async () => {
    const res = await get(t, '/', html);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toContain('npm run build -w web');
    expect((await get(t, '/some/spa/path', html)).status).toBe(503);
    expectProblem(await call(t, '/some/spa/path'), 404, 'NOT_FOUND');
    expectProblem(await call(t, '/api/v1/chat/nope', { headers: html }), 404, 'NOT_FOUND');
  });

  it('serves the app once it is built, without a restart', async () => {
    await mkdir(missingWeb, { recursive: true });
    await writeFile(path.join(missingWeb, 'index.html'), INDEX);
    try {
      const res = await get(t, '/', html);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(INDEX);
    } finally {
      await rm(missingWeb, { recursive: true, force: true });
    }
    expect((await get(t, '/', html)).status).toBe(503);
  });
});

describe('production with DEV_SIGN_IN=1', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ NODE_ENV: 'production', DEV_SIGN_IN: '1', PUBLIC_URL: 'https://chat.example.com' }, { webDir: web });
  });
  afterAll(async () => t?.close());

  it.each(['/dev/token', '/api/v1/chat/dev/token'])('%s mints a token the API accepts', async (where) => {
    const res = await devToken(t, { userId: 'demo', name: 'Demo', role: 'admin' }, where);
    expect(res.status).toBe(200);
    expect((await jwtVerify(res.body.token, new TextEncoder().encode(TEST_JWT_SECRET))).payload).toMatchObject({
      sub: 'demo',
      role: 'admin',
    });
    expect((await authed(t, res.body.token, '/api/v1/chat/rooms')).status).toBe(200);
  });

  it('names the https public origin in the CSP and keeps upgrade-insecure-requests', async () => {
    const d = csp(await get(t, '/', html));
    expect(d['connect-src']).toEqual(["'self'", 'ws:', 'wss:', 'https://chat.example.com']);
    expect(d['img-src']).toContain('https://chat.example.com');
    expect(d['upgrade-insecure-requests']).toEqual([]);
  });
});

describe('DEV_SIGN_IN configuration', () => {
  const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const problems = (env: Record<string, string>): string[] => {
    try {
      // MEDIA_URL_SECRET: production without JWT_SECRET needs one for local media, which is not what is tested here.
      loadConfig({ DATA_DIR: path.join(tmpdir(), 'chat-unused'), MEDIA_URL_SECRET: 'm'.repeat(32), ...env });
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('is on outside production and off in production unless asked for', () => {
    expect(loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET }).devSignIn).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET }).devSignIn).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET, DEV_SIGN_IN: '1' }).devSignIn).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, DEV_SIGN_IN: '0' }).devSignIn).toBe(false);
  });

  it('refuses DEV_SIGN_IN=1 without an HS256 secret the service verifies, and a value that is no boolean', () => {
    const refused: Array<Record<string, string>> = [
      { NODE_ENV: 'production', DEV_SIGN_IN: '1', JWT_PUBLIC_KEY: publicKey },
      { NODE_ENV: 'production', DEV_SIGN_IN: '1', JWKS_URL: 'https://id.example.com/jwks.json' },
      // A secret beside a public key signs nothing the service accepts: the key wins.
      { NODE_ENV: 'production', DEV_SIGN_IN: '1', JWT_PUBLIC_KEY: publicKey, JWT_SECRET: TEST_JWT_SECRET },
      { NODE_ENV: 'test', DEV_SIGN_IN: '1', JWT_PUBLIC_KEY: publicKey },
    ];
    for (const env of refused) {
      expect(problems(env)).toEqual([expect.stringMatching(/^DEV_SIGN_IN needs an HS256 secret.*JWT_SECRET/)]);
    }
    expect(problems({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, DEV_SIGN_IN: 'maybe' })).toEqual([
      'DEV_SIGN_IN must be true or false (got "maybe")',
    ]);
    // Not asked for: development with only a public key simply has no dev sign-in.
    expect(loadConfig({ NODE_ENV: 'test', JWT_PUBLIC_KEY: publicKey }).devSignIn).toBe(false);
  });

  it('stops the start with a message naming DEV_SIGN_IN', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'chat-devsignin-'));
    try {
      await expect(
        startService({ NODE_ENV: 'production', DEV_SIGN_IN: '1', JWT_PUBLIC_KEY: publicKey, DATA_DIR: dataDir }),
      ).rejects.toThrow(/exited with 1 before listening:[\s\S]*DEV_SIGN_IN needs an HS256 secret/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a start without a web app build', () => {
  let t: TestApp;
  let app: App | undefined;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('logs a warning saying how to build it, and starts anyway', async () => {
    const lines: Array<{ level: number; msg: string; webDir?: string }> = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: t.config.dataDir, LOG_LEVEL: 'warn', PORT: '0' });
    app = await buildApp(config, { database: { ...t.app.database, close: async () => {} }, logStream: stream, webDir: missingWeb });
    expect(lines.filter((l) => l.level === 40 && /not built/.test(l.msg))).toEqual([
      expect.objectContaining({ msg: expect.stringContaining('npm run build -w web'), webDir: missingWeb }),
    ]);
  });
});
