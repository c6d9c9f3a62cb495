import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { startConnectionCounter, testResolver, until } from './helpers/notify.js';

/** A public address the resolver hands out; nothing connects to it (rebinding sends hosts elsewhere first). */
const PUBLIC = '93.184.216.34';
const dns = testResolver({ 'hooks.example.com': [PUBLIC], 'rebind.example.com': [PUBLIC], 'inside.example.com': ['10.1.2.3'] });
const URL_OK = 'https://hooks.example.com/chat';
let t: TestApp;
let root: Client, alice: Client, agent: Client;

beforeAll(async () => {
  // No WEBHOOK_ALLOW_PRIVATE_URLS: the rule of push endpoints (public https hosts only).
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000', WEBHOOK_RETRY_BASE_MS: '10' }, { resolve: dns.resolve });
  [root, alice, agent] = await Promise.all([t.as('root', { role: 'admin' }), t.as('alice'), t.as('agent', { role: 'support' })]);
});
afterAll(async () => t?.close());

const query = async <T>(q: ReturnType<typeof sql>): Promise<T[]> => {
  const r = (await t.app.database.db.execute(q)) as unknown as { rows: T[] } | T[];
  return Array.isArray(r) ? r : r.rows;
};
const stored = async () => Number((await query<{ n: number }>(sql`select count(*)::int as n from webhook`))[0]!.n);
const registration = async () =>
  (await query<{ types: string[] }>(sql`select types from domain_event_consumer where name = 'webhooks'`))[0]?.types ?? null;

describe('outgoing webhooks: the admin API', () => {
  it('creates a webhook, shows its secret once, lists it without, and removes it', async () => {
    const created = await root.post('/admin/webhooks', { url: URL_OK, events: ['message.created', 'room.updated'] });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      url: URL_OK,
      events: ['message.created', 'room.updated'],
      secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      createdAt: expect.any(String),
    });
    expect(Buffer.from(created.body.secret, 'base64url')).toHaveLength(32);
    const given = await root.post('/admin/webhooks', { url: `${URL_OK}?b=1`, events: ['*'], secret: 'a-secret-of-my-own-choosing' });
    expect(given.status).toBe(201);
    expect(given.body.secret).toBe('a-secret-of-my-own-choosing');

    const listed = await root.get('/admin/webhooks');
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([
      { id: created.body.id, url: URL_OK, events: ['message.created', 'room.updated'], createdAt: created.body.createdAt },
      { id: given.body.id, url: `${URL_OK}?b=1`, events: ['*'], createdAt: given.body.createdAt },
    ]);
    expect(JSON.stringify(listed.body)).not.toContain('secret');

    expect(await root.get(`/admin/webhooks/${created.body.id}/deliveries`)).toMatchObject({
      status: 200,
      body: { data: [], nextCursor: null },
    });
    expectProblem(await root.get(`/admin/webhooks/${created.body.id}/deliveries?cursor=nope`), 400, 'VALIDATION_FAILED');
    expectProblem(await root.get(`/admin/webhooks/${created.body.id}/deliveries?limit=0`), 400, 'VALIDATION_FAILED');

    expect((await root.delete(`/admin/webhooks/${created.body.id}`)).status).toBe(204);
    expectProblem(await root.delete(`/admin/webhooks/${created.body.id}`), 404, 'NOT_FOUND');
    expectProblem(await root.get(`/admin/webhooks/${created.body.id}/deliveries`), 404, 'NOT_FOUND');
    expectProblem(await root.delete('/admin/webhooks/not-an-id'), 404, 'NOT_FOUND');
    expectProblem(await root.delete('/admin/webhooks/0190a4b2-0000-7000-8000-000000000000'), 404, 'NOT_FOUND');
    expect((await root.delete(`/admin/webhooks/${given.body.id}`)).status).toBe(204);
    expect(await stored()).toBe(0);
  });

  it.each([
    ['ftp:', { url: 'ftp://hooks.example.com/x', events: ['*'] }],
    ['javascript:', { url: 'javascript:alert(1)', events: ['*'] }],
    ['a relative URL', { url: '/hooks', events: ['*'] }],
    ['plain http (private URLs not allowed)', { url: 'http://hooks.example.com/x', events: ['*'] }],
    ['a URL over 2048 characters', { url: `${URL_OK}?${'a'.repeat(2048)}`, events: ['*'] }],
    ['credentials in the URL', { url: 'https://u:p@hooks.example.com/x', events: ['*'] }],
    ['loopback', { url: 'https://127.0.0.1/hooks', events: ['*'] }],
    ['a name resolving to a private address', { url: 'https://inside.example.com/hooks', events: ['*'] }],
    ['a name that does not resolve', { url: 'https://nowhere.example.com/hooks', events: ['*'] }],
    ['an unknown event', { url: URL_OK, events: ['message.created', 'message.exploded'] }],
    ['no events', { url: URL_OK, events: [] }],
    ['"*" with others', { url: URL_OK, events: ['*', 'message.created'] }],
    ['the same event twice', { url: URL_OK, events: ['message.created', 'message.created'] }],
    ['a short secret', { url: URL_OK, events: ['*'], secret: 'short' }],
    ['a secret with spaces', { url: URL_OK, events: ['*'], secret: 'a secret with some spaces' }],
    ['no url', { events: ['*'] }],
    ['an unknown field', { url: URL_OK, events: ['*'], active: true }],
  ])('refuses %s with 400 and stores nothing', async (_what, body) => {
    expectProblem(await root.post('/admin/webhooks', body), 400, 'VALIDATION_FAILED');
    expect(await stored()).toBe(0);
    expect(await registration()).toBeNull();
  });

  it('is for platform admins only: 403 for users and support staff, and nothing is stored', async () => {
    const { body: hook } = await root.post('/admin/webhooks', { url: URL_OK, events: ['room.created'] });
    for (const who of [alice, agent]) {
      expectProblem(await who.post('/admin/webhooks', { url: URL_OK, events: ['*'] }), 403, 'FORBIDDEN');
      expectProblem(await who.get('/admin/webhooks'), 403, 'FORBIDDEN');
      expectProblem(await who.delete(`/admin/webhooks/${hook.id}`), 403, 'FORBIDDEN');
      expectProblem(await who.get(`/admin/webhooks/${hook.id}/deliveries`), 403, 'FORBIDDEN');
    }
    expect(await stored()).toBe(1);
    expect((await root.delete(`/admin/webhooks/${hook.id}`)).status).toBe(204);
  });

  it('has the log keep events for webhooks only while one exists, and only the types they need', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'quiet' })).body;
    await alice.post(`/rooms/${room.id}/messages`, { content: 'nobody listens' });
    expect(await registration()).toBeNull();
    const pending = async () =>
      Number((await query<{ n: number }>(sql`select count(*)::int as n from domain_event_pending where consumer = 'webhooks'`))[0]!.n);
    expect(await pending()).toBe(0);

    const a = (await root.post('/admin/webhooks', { url: URL_OK, events: ['message.updated'] })).body;
    expect(await registration()).toEqual(['message.edited', 'message.pinned', 'message.revised', 'message.unpinned']);
    const b = (await root.post('/admin/webhooks', { url: URL_OK, events: ['*'] })).body;
    expect((await registration())!.length).toBe(13);
    expect((await root.delete(`/admin/webhooks/${b.id}`)).status).toBe(204);
    expect(await registration()).toEqual(['message.edited', 'message.pinned', 'message.revised', 'message.unpinned']);
    expect((await root.delete(`/admin/webhooks/${a.id}`)).status).toBe(204);
    expect(await registration()).toBeNull();
    await alice.post(`/rooms/${room.id}/messages`, { content: 'nobody listens again' });
    expect(await pending()).toBe(0);
  });

  it('checks the destination again at each delivery: a host that comes to resolve to loopback is not connected to', async () => {
    const target = await startConnectionCounter();
    try {
      const hook = (
        await root.post('/admin/webhooks', { url: `https://rebind.example.com:${target.port}/hooks`, events: ['room.created'] })
      ).body;
      expect(hook.id).toEqual(expect.any(String));
      dns.answers.set('rebind.example.com', ['127.0.0.1']);
      await alice.post('/rooms', { type: 'group', name: 'rebound' });
      const refused = await until(async () => {
        const [d] = (await root.get(`/admin/webhooks/${hook.id}/deliveries`)).body.data;
        return d?.attempts >= 2 && d;
      }, 'attempts refused');
      expect(refused).toMatchObject({ type: 'room.created', status: 'pending', statusCode: null });
      expect(refused.lastError).toMatch(/^destination refused/);
      expect(target.connections()).toBe(0);
      expect((await root.delete(`/admin/webhooks/${hook.id}`)).status).toBe(204);
    } finally {
      await target.close();
    }
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await t.as('x')).get('/docs/json');
    const paths = Object.keys((await doc).body.paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v1/chat/admin/webhooks',
        '/api/v1/chat/admin/webhooks/{id}',
        '/api/v1/chat/admin/webhooks/{id}/deliveries',
      ]),
    );
  });
});
