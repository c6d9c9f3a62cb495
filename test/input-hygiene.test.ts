import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { call, connect, type ClientSocket } from './helpers/sockets.js';
import { png } from './media-fixtures.js';
import { form, leftoverFiles, mediaRows } from './media-helpers.js';

/**
 * Every user id that enters — in a body, a path, a query or a socket payload — follows the rules of a token's `sub`
 * (1–128 code points, no C0/C1 controls, no lone surrogates), every date is one a client can mean, and none of them
 * reaches the database otherwise: a NUL or a year 0 used to be a 500 with the failed SQL in the log.
 */

let t: TestApp;
let alice: Client, bob: Client;
let roomId: string;

const BAD_USER_IDS: Array<[string, string]> = [
  ['NUL', 'a\u0000b'],
  ['a trailing NUL', 'a\u0000'],
  ['\\u0001', 'a\u0001b'],
  ['a newline', 'a\nb'],
  ['DEL', 'a\u007Fb'],
  ['a C1 control', 'a\u0085b'],
  ['a lone high surrogate', 'a\uD800b'],
  ['a lone low surrogate', '\uDC00'],
  ['129 code points', 'x'.repeat(129)],
  ['an empty string', ''],
];

beforeAll(async () => {
  t = await startTestApp();
  alice = await t.as('alice', { name: 'Alice' });
  bob = await t.as('bob', { name: 'Bob' });
  await bob.get('/rooms'); // the service now knows Bob's name
  roomId = (await alice.post('/rooms', { type: 'group', name: 'hygiene', participantIds: ['bob'] })).body.id;
});
afterAll(async () => {
  await t?.close();
});

const roomIds = async (c: Client): Promise<string[]> => (await c.get('/rooms')).body.data.map((r: { id: string }) => r.id);
const participants = async (): Promise<string[]> =>
  (await alice.get(`/rooms/${roomId}`)).body.participants.map((p: { userId: string }) => p.userId).sort();
const contents = async (): Promise<string[]> =>
  (await alice.get(`/rooms/${roomId}/messages`)).body.data.map((m: { content: string }) => m.content);

describe('user ids in bodies', () => {
  it.each(BAD_USER_IDS)('POST /rooms with a participant id with %s is 400 and creates no room', async (_what, id) => {
    const before = await roomIds(alice);
    for (const type of ['group', 'direct'] as const) {
      expectProblem(
        await alice.post('/rooms', { type, name: type === 'group' ? 'g' : undefined, participantIds: [id] }),
        400,
        'VALIDATION_FAILED',
      );
    }
    expect(await roomIds(alice)).toEqual(before);
  });

  it.each(BAD_USER_IDS)('adding a participant with %s is 400 and adds no one', async (_what, id) => {
    expectProblem(await alice.post(`/rooms/${roomId}/participants`, { userId: id }), 400, 'VALIDATION_FAILED');
    expectProblem(await alice.post(`/rooms/${roomId}/participants`, { userIds: ['carol', id] }), 400, 'VALIDATION_FAILED');
    expect(await participants()).toEqual(['alice', 'bob']);
  });

  it.each(BAD_USER_IDS)('a JSON message mentioning an id with %s is 400 and stores nothing', async (_what, id) => {
    expectProblem(await alice.post(`/rooms/${roomId}/messages`, { content: 'hi', mentions: [id] }), 400, 'VALIDATION_FAILED');
    expect(await contents()).toEqual([]);
  });

  it('the refusal names the field and the rule, not a regular expression', async () => {
    const res = await alice.post(`/rooms/${roomId}/messages`, { content: 'hi', mentions: ['bob', 'a\u0000'] });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.body.errors).toEqual([{ path: '/mentions/1', message: expect.stringMatching(/control characters/) }]);
    expect(res.body.detail).not.toMatch(/\\u0000|\^\[/);
  });

  it.each([
    ['a NUL in a repeated field', ['bob', 'a\u0000b']],
    ['a NUL in a JSON array field', JSON.stringify(['a\u0000b'])],
    ['a lone surrogate in a JSON array field', '["\\ud800"]'],
    ['a control character', ['a\u0001b']],
  ])('a multipart message mentioning %s is 400 and keeps nothing', async (_what, mentions) => {
    const rows = await mediaRows(t);
    const res = await alice.raw(`/rooms/${roomId}/messages`, {
      method: 'POST',
      body: form([{ name: 'a.png', data: await png() }], { content: 'hi', mentions }),
    });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(await contents()).toEqual([]);
    expect(await mediaRows(t)).toBe(rows);
    expect(await leftoverFiles(t)).toEqual([]);
  });

  it('an id at the limits is accepted (128 code points, astral characters count once)', async () => {
    const long = '😀'.repeat(128);
    const res = await alice.post(`/rooms/${roomId}/participants`, { userIds: [long, 'x'.repeat(128)] });
    expect(res.status).toBe(201);
    expect(res.body.participants.map((p: { userId: string }) => p.userId)).toEqual(expect.arrayContaining([long, 'x'.repeat(128)]));
    expect((await alice.patch(`/rooms/${roomId}/participants/${encodeURIComponent(long)}/remove`)).status).toBe(200);
    expect((await alice.patch(`/rooms/${roomId}/participants/${'x'.repeat(128)}/remove`)).status).toBe(200);
    expect(await participants()).toEqual(['alice', 'bob']);
  });
});

describe('user ids in paths and queries', () => {
  it.each([
    ['%00', 'a%00b'],
    ['%01', 'a%01b'],
    ['%7F', 'a%7Fb'],
    ['%C2%85 (C1)', 'a%C2%85b'],
    ['129 characters', 'x'.repeat(129)],
  ])('PATCH …/participants/<id with %s>/remove is 400 and removes no one', async (_what, id) => {
    expectProblem(await alice.patch(`/rooms/${roomId}/participants/${id}/remove`), 400, 'VALIDATION_FAILED');
    expect(await participants()).toEqual(['alice', 'bob']);
  });

  it.each([
    ['a lone NUL', '%00'],
    ['a NUL in a later id', 'bob,a%00b'],
    ['a control character', 'bob,%01'],
    ['an id of 129 characters', `bob,${'x'.repeat(129)}`],
  ])('GET /presence with %s is 400', async (_what, ids) => {
    expectProblem(await alice.get(`/presence?userIds=${ids}`), 400, 'VALIDATION_FAILED');
  });

  it('GET /presence with good ids still answers', async () => {
    expect((await alice.get(`/presence?userIds=bob,${'x'.repeat(128)}`)).status).toBe(200);
  });

  it.each([
    ['q with a NUL', 'q=top%00secret'],
    ['q with a control character', 'q=top%01secret'],
    ['senderId with a NUL', 'q=hello&senderId=a%00b'],
    ['senderId with a control character', 'q=hello&senderId=%01'],
    ['senderId of 129 characters', `q=hello&senderId=${'x'.repeat(129)}`],
  ])('GET /messages/search with %s is 400', async (_what, query) => {
    expectProblem(await alice.get(`/messages/search?${query}`), 400, 'VALIDATION_FAILED');
  });
});

describe('dates a client cannot mean', () => {
  const muted = async () => (await alice.get(`/rooms/${roomId}`)).body;

  it.each([
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00Z',
    '1969-12-31T23:59:59Z',
    '1970-01-01T00:30:00+01:00',
    '9999-12-31T23:59:59-01:00',
    '10000-01-01T00:00:00Z',
    '+010000-01-01T00:00:00Z',
    '2024-02-30T00:00:00Z',
    'now',
  ])('PATCH …/notifications with mutedUntil %s is 400 and changes nothing', async (date) => {
    expectProblem(await alice.patch(`/rooms/${roomId}/notifications`, { muted: true, mutedUntil: date }), 400, 'VALIDATION_FAILED');
    expect(await muted()).toMatchObject({ muted: false, mutedUntil: null });
  });

  it('the refusal says which dates are accepted', async () => {
    const res = await alice.patch(`/rooms/${roomId}/notifications`, { muted: true, mutedUntil: '0000-01-01T00:00:00Z' });
    expect(res.body.errors).toContainEqual({ path: '/mutedUntil', message: expect.stringMatching(/1970.*9999/) });
  });

  it.each(['1970-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59+01:00'])(
    'mutedUntil %s at the edges is accepted',
    async (date) => {
      const res = await alice.patch(`/rooms/${roomId}/notifications`, { muted: true, mutedUntil: date });
      expect(res.status).toBe(200);
      expect(new Date(res.body.mutedUntil).getTime()).toBe(Date.parse(date));
      expect((await alice.patch(`/rooms/${roomId}/notifications`, { muted: false })).status).toBe(200);
    },
  );

  it.each([
    ['from', '0000-01-01'],
    ['from', '0000-01-01T00:00:00Z'],
    ['from', '1969-12-31'],
    ['to', '0001-01-01T00:00:00+01:00'],
    ['to', '9999-12-31T23:59:59-01:00'],
    ['to', '10000-01-01'],
  ])('GET /messages/search with %s=%s is 400', async (bound, date) => {
    expectProblem(await alice.get(`/messages/search?q=hello&${bound}=${encodeURIComponent(date)}`), 400, 'VALIDATION_FAILED');
  });

  it.each([
    ['from', '1970-01-01'],
    ['to', '9999-12-31'],
    ['to', '9999-12-31T23:59:59Z'],
  ])('GET /messages/search with %s=%s at the edges answers 200', async (bound, date) => {
    expect((await alice.get(`/messages/search?q=hello&${bound}=${encodeURIComponent(date)}`)).status).toBe(200);
  });
});

describe('token claims', () => {
  it.each([
    ['name', 'Mal\u0000lory'],
    ['name', 'Mal\u0001lory'],
    ['name', 'Mal\nlory'],
    ['name', 'Mal\uD800lory'],
    ['picture', 'https://example.com/a\u0000.png'],
    ['picture', 'https://example.com/\u0085.png'],
  ])('a %s claim %j is refused as UNAUTHORIZED, never a 500, and is not stored', async (claim, value) => {
    const bad = await t.as('bob', { [claim]: value });
    const res = await bad.get('/rooms');
    expectProblem(res, 401, 'UNAUTHORIZED');
    expect(res.body.detail).toMatch(new RegExp(`${claim}`));
    expectProblem(await bad.post(`/rooms/${roomId}/messages`, { content: 'x' }), 401, 'UNAUTHORIZED');
    await expect(connect(t.baseUrl, bad.token)).rejects.toThrow('UNAUTHORIZED');
    const bobNow = (await alice.get(`/rooms/${roomId}`)).body.participants.find((p: { userId: string }) => p.userId === 'bob');
    expect(bobNow).toMatchObject({ name: 'Bob', picture: null });
    expect(await contents()).toEqual([]);
  });
});

describe('over the socket', () => {
  let a: ClientSocket;
  beforeAll(async () => {
    a = await connect(t.baseUrl, alice.token);
  });
  afterAll(() => {
    a?.close();
  });

  it.each(BAD_USER_IDS)('send_message mentioning an id with %s is acked VALIDATION_FAILED and stores nothing', async (_what, id) => {
    const res = await call(a, 'send_message', { chatRoomId: roomId, content: 'hi', mentions: [id] });
    expect(res).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect(await contents()).toEqual([]);
  });
});

describe('push endpoints', () => {
  const keys = {
    p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
    auth: 'tBHItJI5svbpez7KI4CCXg',
  };
  const subscriptions = async () => (await alice.get('/push/subscriptions')).body.data;

  it.each(['https://push.example.com/send/a\u0000b', 'https://push.example.com/send/a\u0001b', 'https://push.example.com/send/\uD800'])(
    'registering the endpoint %j is 400 and stores nothing',
    async (endpoint) => {
      expectProblem(await alice.post('/push/subscriptions', { endpoint, keys }), 400, 'VALIDATION_FAILED');
      expect(await subscriptions()).toEqual([]);
    },
  );

  it('unregistering by an endpoint with a NUL is 400', async () => {
    const res = await alice.raw('/push/subscriptions', {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: 'https://push.example.com/a\u0000b' }),
    });
    expectProblem(res, 400, 'VALIDATION_FAILED');
  });

  it('unregistering by an id with a NUL is simply not found', async () => {
    expectProblem(await alice.raw('/push/subscriptions/a%00b', { method: 'DELETE' }), 404, 'NOT_FOUND');
  });
});

describe('opaque ids with a NUL', () => {
  it.each([
    ['GET', '/rooms/a%00b'],
    ['GET', '/rooms/a%00b/messages'],
    ['PATCH', '/rooms/a%00b/notifications'],
    ['GET', '/messages/search?q=hello&chatRoomId=a%00b'],
  ])('%s %s is simply not found', async (method, path) => {
    const res = method === 'GET' ? await alice.get(path) : await alice.patch(path, { muted: true });
    expectProblem(res, 404, 'NOT_FOUND');
  });

  it('a history around=<id with a NUL> is 400 or 404, never 500', async () => {
    const res = await alice.get(`/rooms/${roomId}/messages?around=a%00b`);
    expect([400, 404]).toContain(res.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('a replyToId or clientMessageId with a NUL stores nothing', async () => {
    for (const body of [
      { content: 'x', replyToId: 'a\u0000b' },
      { content: 'x', clientMessageId: 'a\u0000b' },
    ]) {
      const res = await alice.post(`/rooms/${roomId}/messages`, body);
      expect([400, 404]).toContain(res.status);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect(await contents()).toEqual([]);
  });
});

describe('other ids with a NUL', () => {
  it.each([
    ['PATCH', '/messages/a%00b/read'],
    ['GET', '/messages/a%00b/receipts'],
  ])('%s %s is simply not found', async (method, path) => {
    expectProblem(method === 'GET' ? await alice.get(path) : await alice.patch(path), 404, 'NOT_FOUND');
  });

  it('a business id with a NUL, in the body or the token, is refused and creates no room', async () => {
    const before = await roomIds(alice);
    const boss = await t.as('alice', { businessIds: ['acme\u0000'] });
    expectProblem(await boss.get('/rooms'), 401, 'UNAUTHORIZED');
    expectProblem(await alice.post('/rooms', { type: 'business', name: 'b', businessId: 'acme\u0000' }), 400, 'VALIDATION_FAILED');
    expect(await roomIds(alice)).toEqual(before);
  });
});

describe('other socket payloads with a NUL', () => {
  let a: ClientSocket;
  beforeAll(async () => {
    a = await connect(t.baseUrl, alice.token);
  });
  afterAll(() => {
    a?.close();
  });

  it.each([
    ['send_message', { chatRoomId: 'a\u0000b', content: 'x' }],
    ['send_message', { chatRoomId: 'ROOM', content: 'x', mediaIds: ['a\u0000b'] }],
    ['send_message', { chatRoomId: 'ROOM', content: 'x', replyToId: 'a\u0000b' }],
    ['mark_as_read', { chatRoomId: 'ROOM', messageId: 'a\u0000b' }],
    ['join_chat', { chatRoomId: 'a\u0000b' }],
    ['typing_start', { chatRoomId: 'a\u0000b' }],
  ])("%s %j is refused as the client's error, never INTERNAL, and stores nothing", async (event, payload) => {
    const withRoom = JSON.parse(JSON.stringify(payload).replace('"ROOM"', JSON.stringify(roomId))) as unknown;
    const res = await call(a, event as never, withRoom);
    expect(res).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^(VALIDATION_FAILED|NOT_FOUND)$/) } });
    expect(await contents()).toEqual([]);
  });
});
