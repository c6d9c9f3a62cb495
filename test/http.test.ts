import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';

/** Also: nothing beyond the problem fields (no `errors` outside validation failures). */
function expectExactProblem(res: Res, status: number, code: string): void {
  expectProblem(res, status, code);
  expect(Object.keys(res.body).sort()).toEqual(['code', 'detail', 'status', 'title', 'type']);
}

describe('service endpoints', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  it('GET /health answers 200 without a token', async () => {
    const res = await request(t.baseUrl, '/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok' });
  });

  it('/docs serves the OpenAPI UI and /docs/json the document, with the chat paths and their errors', async () => {
    const ui = await request(t.baseUrl, '/docs');
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/text\/html/);
    expect(ui.body).toMatch(/swagger/i);
    const doc = await request(t.baseUrl, '/docs/json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    const paths = doc.body.paths;
    for (const p of [
      '/api/v1/chat/rooms',
      '/api/v1/chat/rooms/{id}/messages',
      '/api/v1/chat/messages/{id}/read',
      '/api/v1/chat/rooms/{id}/read',
      '/api/v1/chat/messages/{id}/receipts',
      '/api/v1/chat/messages/{id}',
      '/api/v1/chat/messages/{id}/edits',
      '/api/v1/chat/messages/{id}/reactions',
      '/api/v1/chat/messages/{id}/reactions/{emoji}',
      '/api/v1/chat/rooms/{id}/pins',
      '/api/v1/chat/rooms/{id}/pins/{messageId}',
      '/api/v1/chat/rooms/{id}/changes',
    ]) {
      expect(paths, p).toHaveProperty([p]);
    }
    expect(Object.keys(paths['/api/v1/chat/messages/{id}'])).toEqual(expect.arrayContaining(['get', 'patch', 'delete']));
    expect(Object.keys(paths['/api/v1/chat/messages/{id}/reactions/{emoji}'].put.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '404', '409', '429']),
    );
    expect(doc.body.components.schemas.Message.properties).toHaveProperty('changeSeq');
    expect(Object.keys(paths['/api/v1/chat/rooms/{id}/messages'].post.responses)).toEqual(
      expect.arrayContaining(['200', '201', '400', '401', '404', '413', '429']),
    );
    expect(doc.body.components.schemas).toHaveProperty('Message');
    // Every write lists the 403 a suspended caller gets, reads do not need it.
    for (const [path, item] of Object.entries<Record<string, any>>(paths)) {
      if (!path.startsWith('/api/v1/chat/')) continue;
      for (const [method, op] of Object.entries<any>(item)) {
        if (['post', 'put', 'patch', 'delete'].includes(method)) expect(op.responses, `${method} ${path}`).toHaveProperty(['403']);
      }
    }
    expect(paths['/api/v1/chat/rooms/{id}/messages'].post.description).toMatch(/suspended/);
  });

  it('/metrics answers Prometheus text that counts requests and messages', async () => {
    const alice = await t.as('alice');
    const room = (await alice.post('/rooms', { type: 'group', name: 'm' })).body.id;
    await alice.post(`/rooms/${room}/messages`, { content: 'counted' });
    const res = await request(t.baseUrl, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/^# HELP /m);
    expect(res.body).toMatch(/^chat_messages_sent_total 1$/m);
    expect(res.body).toMatch(/^chat_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/chat\/rooms\/:id\/messages"[^}]*\} 1$/m);
  });

  it('an unknown route is 404 NOT_FOUND problem+json, with or without a token', async () => {
    const alice = await t.as('alice');
    expectExactProblem(await request(t.baseUrl, '/nope'), 404, 'NOT_FOUND');
    expectExactProblem(await request(t.baseUrl, '/api/v1/chat/nope'), 404, 'NOT_FOUND');
    expectExactProblem(await alice.get('/nope'), 404, 'NOT_FOUND');
    expectExactProblem(await alice.raw('/rooms', { method: 'PUT' }), 404, 'NOT_FOUND');
  });

  it('answers a CORS preflight without a token', async () => {
    const res = await request(t.baseUrl, '/api/v1/chat/rooms', {
      method: 'OPTIONS',
      headers: {
        origin: 'http://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://app.example');
    // Every method the API uses, PUT (reactions, pins) included.
    const allowed = (res.headers.get('access-control-allow-methods') ?? '').split(',').map((m) => m.trim());
    expect(allowed).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']));
  });

  it('echoes a well-formed X-Request-Id and makes one up otherwise', async () => {
    const given = await request(t.baseUrl, '/health', { headers: { 'x-request-id': 'trace-123' } });
    expect(given.headers.get('x-request-id')).toBe('trace-123');
    const made = await request(t.baseUrl, '/health', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('validation problems name the offending field', async () => {
    const alice = await t.as('alice');
    const room = (await alice.post('/rooms', { type: 'group', name: 'v' })).body.id;
    const problems = async (path: string, body?: unknown) => {
      const res = await (body === undefined ? alice.get(path) : alice.post(path, body));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      return { detail: res.body.detail, errors: res.body.errors };
    };
    // JSON pointers, as the services' own field errors are; the detail says which part of the request.
    expect(await problems(`/rooms/${room}/messages`, { content: 42 })).toEqual({
      detail: 'body/content must be string',
      errors: [{ path: '/content', message: 'must be string' }],
    });
    expect((await problems(`/rooms/${room}/messages`, {})).errors).toEqual([{ path: '/content', message: expect.any(String) }]);
    expect((await problems(`/rooms/${room}/messages`, { content: 'x', mentions: ['bob', 7] })).errors).toEqual([
      { path: '/mentions/1', message: 'must be string' },
    ]);
    expect((await problems(`/rooms/${room}/messages?limit=500`)).errors).toEqual([
      { path: '/limit', message: expect.stringContaining('100') },
    ]);
    expect((await problems(`/rooms/${room}/messages`, { content: 'bell\u0007' })).errors).toEqual([
      { path: '/content', message: expect.stringMatching(/^must not contain control characters/) },
    ]);
  });

  it('takes JSON only, and refuses prototype-polluting keys; nothing is stored', async () => {
    const alice = await t.as('alice');
    const room = (await alice.post('/rooms', { type: 'group', name: 'json' })).body.id;
    const plain = await alice.raw(`/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(plain.status).toBe(415);
    expect(plain.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const proto = await alice.raw(`/rooms/${room}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"content":"x","__proto__":{"admin":true}}',
    });
    expect(proto.status).toBe(400);
    expect(proto.body.code).toBe('VALIDATION_FAILED');
    expect((await alice.get(`/rooms/${room}/messages`)).body.data).toEqual([]);
  });
});

describe('rate limit', () => {
  let t: TestApp;
  let alice: Client;
  let bob: Client;
  let room: string;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '5' });
    [alice, bob] = await Promise.all([t.as('alice'), t.as('bob')]);
  });
  afterAll(async () => t?.close());

  it('the 6th write in a minute is 429 RATE_LIMITED with Retry-After, and stores nothing', async () => {
    const created = await alice.post('/rooms', { type: 'group', name: 'busy', participantIds: ['bob'] });
    expect(created.status).toBe(201);
    room = created.body.id;
    for (let i = 1; i <= 4; i++) expect((await alice.post(`/rooms/${room}/messages`, { content: `m${i}` })).status).toBe(201);

    const limited = await alice.post(`/rooms/${room}/messages`, { content: 'one too many' });
    expect({ status: limited.status, code: limited.body.code }).toEqual({ status: 429, code: 'RATE_LIMITED' });
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    // PATCH is a write too.
    expect((await alice.patch(`/rooms/${room}/read`)).status).toBe(429);

    const hist = await alice.get(`/rooms/${room}/messages`);
    expect(hist.body.data.map((m: any) => m.content)).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('reads are not limited and other users are unaffected', async () => {
    for (let i = 0; i < 10; i++) expect((await alice.get(`/rooms/${room}`)).status).toBe(200);
    expect((await alice.get('/rooms')).status).toBe(200);
    const fromBob = await bob.post(`/rooms/${room}/messages`, { content: 'bob is fine' });
    expect(fromBob.status).toBe(201);
    expect(fromBob.body.seq).toBe(5);
    expect((await bob.patch(`/rooms/${room}/read`)).status).toBe(200);
  });
});
