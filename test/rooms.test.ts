import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import { request, startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

// One app per file: unique user ids keep the tests from seeing each other's rooms.
let counter = 0;
const uid = (prefix: string) => `${prefix}-${++counter}`;

const roomIds = async (c: Client): Promise<string[]> => {
  const res = await c.get('/rooms?limit=100');
  expect(res.status).toBe(200);
  return res.body.data.map((r: any) => r.id);
};

/** Every page of the caller's room list, `limit` a page, following nextCursor to the end: the ids of each page. */
async function roomPages(c: Client, limit: number): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | null = null;
  do {
    const res: Res = await c.get(`/rooms?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status).toBe(200);
    pages.push(res.body.data.map((r: any) => r.id));
    cursor = res.body.nextCursor;
  } while (cursor);
  return pages;
}

const ROOM_KEYS = [
  'abilities',
  'businessId',
  'createdAt',
  'createdBy',
  'description',
  'hidePreviews',
  'id',
  'lastChangeSeq',
  'lastMessage',
  'lastSeq',
  'muted',
  'mutedUntil',
  'name',
  'participants',
  'pinnedCount',
  'slowModeS',
  'status',
  'type',
  'unreadCount',
  'updatedAt',
].sort();
const PARTICIPANT_KEYS = ['joinedAt', 'lastDeliveredSeq', 'lastReadSeq', 'name', 'picture', 'role', 'userId'];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('POST /rooms: direct', () => {
  it('creates a room with exactly the other user, ignoring the caller in participantIds', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await t.as(a, { name: 'Alice' });
    await t.as(b, { name: 'Bob' }).then((bob) => bob.get('/rooms'));
    const res = await alice.post('/rooms', { type: 'direct', participantIds: [a, b, b] });
    expect(res.status).toBe(201);
    const room = res.body;
    expect(Object.keys(room).sort()).toEqual(ROOM_KEYS);
    expect(room).toMatchObject({
      type: 'direct',
      name: null,
      description: null,
      businessId: null,
      status: null,
      createdBy: a,
      lastSeq: 0,
      lastMessage: null,
      unreadCount: 0,
      muted: false,
      mutedUntil: null,
    });
    expect(room.createdAt).toMatch(ISO);
    expect(room.updatedAt).toMatch(ISO);
    expect(room.participants).toHaveLength(2);
    for (const p of room.participants) {
      expect(Object.keys(p).sort()).toEqual(PARTICIPANT_KEYS);
      expect(p).toMatchObject({ role: 'member', lastReadSeq: 0, lastDeliveredSeq: 0 });
      expect(p.joinedAt).toMatch(ISO);
    }
    const names = Object.fromEntries(room.participants.map((p: any) => [p.userId, p.name]));
    expect(names).toEqual({ [a]: 'Alice', [b]: 'Bob' });
  });

  it('names a never-seen user null and a seen user by their latest token', async () => {
    const [a, ghost, b] = [uid('alice'), uid('ghost'), uid('bob')];
    const alice = await t.as(a, { name: 'Alice' });
    const withGhost = await alice.post('/rooms', { type: 'direct', participantIds: [ghost] });
    expect(withGhost.body.participants.find((p: any) => p.userId === ghost).name).toBeNull();

    await (await t.as(b, { name: 'Bob' })).get('/rooms');
    await (await t.as(b, { name: 'Robert' })).get('/rooms');
    const withBob = await alice.post('/rooms', { type: 'direct', participantIds: [b] });
    expect(withBob.body.participants.find((p: any) => p.userId === b).name).toBe('Robert');
  });

  it('returns the existing room of the pair with 200, whoever asks', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await t.as(a);
    const bob = await t.as(b);
    const first = await alice.post('/rooms', { type: 'direct', participantIds: [b] });
    expect(first.status).toBe(201);
    const again = await alice.post('/rooms', { type: 'direct', participantIds: [b] });
    const reverse = await bob.post('/rooms', { type: 'direct', participantIds: [a] });
    expect([again.status, reverse.status]).toEqual([200, 200]);
    expect([again.body.id, reverse.body.id]).toEqual([first.body.id, first.body.id]);
    expect(await roomIds(alice)).toEqual([first.body.id]);
  });

  it('makes one room when both sides create it at once', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await t.as(a);
    const bob = await t.as(b);
    const both = await Promise.all([
      alice.post('/rooms', { type: 'direct', participantIds: [b] }),
      bob.post('/rooms', { type: 'direct', participantIds: [a] }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 201]);
    expect(both[0].body.id).toBe(both[1].body.id);
    expect(await roomIds(alice)).toEqual([both[0].body.id]);
    expect(await roomIds(bob)).toEqual([both[0].body.id]);
  });

  it.each([
    ['no participantIds', {}],
    ['only the caller', { participantIds: ['SELF'] }],
    ['two others', { participantIds: ['x1', 'x2'] }],
    ['a name', { participantIds: ['x1'], name: 'Ours' }],
    ['a businessId', { participantIds: ['x1'], businessId: 'b1' }],
  ])('refuses a direct room with %s (400) and stores nothing', async (_label, extra: any) => {
    const a = uid('alice');
    const alice = await t.as(a, { businessIds: ['b1'] });
    const body = {
      type: 'direct',
      ...extra,
      ...(extra.participantIds ? { participantIds: extra.participantIds.map((p: string) => (p === 'SELF' ? a : p)) } : {}),
    };
    expectProblem(await alice.post('/rooms', body), 400, 'VALIDATION_FAILED');
    expect(await roomIds(alice)).toEqual([]);
  });
});

describe('POST /rooms: group and business', () => {
  it('makes the creator owner and the others members', async () => {
    const [a, b, c] = [uid('alice'), uid('bob'), uid('carol')];
    const alice = await t.as(a);
    const res = await alice.post('/rooms', { type: 'group', name: 'Team', description: 'Our team', participantIds: [b, c, a] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ type: 'group', name: 'Team', description: 'Our team', businessId: null, status: null, createdBy: a });
    const roles = Object.fromEntries(res.body.participants.map((p: any) => [p.userId, p.role]));
    expect(roles).toEqual({ [a]: 'owner', [b]: 'member', [c]: 'member' });
    expect(await roomIds(await t.as(b))).toEqual([res.body.id]);
  });

  it('creates a business room for a business of the caller, with any participants', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await t.as(a, { businessIds: ['acme', 'globex'] });
    const res = await alice.post('/rooms', { type: 'business', businessId: 'globex', name: 'Deals', participantIds: [b] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ type: 'business', businessId: 'globex', name: 'Deals', status: null });
    expect(res.body.participants.map((p: any) => [p.userId, p.role])).toEqual(
      expect.arrayContaining([
        [a, 'owner'],
        [b, 'member'],
      ]),
    );
  });

  it('refuses a business the caller does not belong to (403) and stores nothing', async () => {
    const a = uid('alice');
    const alice = await t.as(a, { businessIds: ['acme'] });
    expectProblem(await alice.post('/rooms', { type: 'business', businessId: 'globex', participantIds: ['x'] }), 403, 'FORBIDDEN');
    const noBusinesses = await t.as(uid('dave'));
    expectProblem(await noBusinesses.post('/rooms', { type: 'business', businessId: 'acme' }), 403, 'FORBIDDEN');
    expect(await roomIds(alice)).toEqual([]);
    expect(await roomIds(noBusinesses)).toEqual([]);
  });

  it.each([
    ['a business room without businessId', { type: 'business' }],
    ['a business room with an empty businessId', { type: 'business', businessId: '' }],
    ['a group with a businessId', { type: 'group', businessId: 'acme' }],
    ['an unknown type', { type: 'channel' }],
    ['no type', { name: 'x' }],
    ['a name with a control character', { type: 'group', name: 'bad\u0007name' }],
    ['a name with a newline', { type: 'group', name: 'two\nlines' }],
    ['a name with a C1 control', { type: 'group', name: 'bad\u0085' }],
    ['a blank name', { type: 'group', name: '   ' }],
    ['an empty name', { type: 'group', name: '' }],
    ['a name over 200 characters', { type: 'group', name: 'n'.repeat(201) }],
    ['a description with a control character', { type: 'group', description: 'a\u0000b' }],
    ['participantIds that are not strings', { type: 'group', participantIds: [1] }],
    ['an empty participant id', { type: 'group', participantIds: [''] }],
  ])('refuses %s (400) and stores nothing', async (_label, body) => {
    const alice = await t.as(uid('alice'), { businessIds: ['acme'] });
    expectProblem(await alice.post('/rooms', body), 400, 'VALIDATION_FAILED');
    expect(await roomIds(alice)).toEqual([]);
  });

  it('refuses malformed JSON and a missing body with 400', async () => {
    const alice = await t.as(uid('alice'));
    const json = { 'content-type': 'application/json' };
    expectProblem(await alice.raw('/rooms', { method: 'POST', headers: json, body: '{"type": "group",' }), 400, 'VALIDATION_FAILED');
    expectProblem(await alice.raw('/rooms', { method: 'POST', headers: json, body: '' }), 400, 'VALIDATION_FAILED');
    expectProblem(await alice.raw('/rooms', { method: 'POST', headers: json, body: '[]' }), 400, 'VALIDATION_FAILED');
    expect(await roomIds(alice)).toEqual([]);
  });

  it('keeps a description with line breaks as sent', async () => {
    const alice = await t.as(uid('alice'));
    const res = await alice.post('/rooms', { type: 'group', name: 'Ünïcødé 🚀', description: 'line 1\nline 2\ttab' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'Ünïcødé 🚀', description: 'line 1\nline 2\ttab' });
  });
});

describe('authentication', () => {
  it('answers 401 without a valid token, before anything is stored', async () => {
    const a = uid('alice');
    const alice = await t.as(a);
    const body = JSON.stringify({ type: 'group', name: 'x' });
    const json = { 'content-type': 'application/json' };
    const foreign = await mintToken('another-secret-another-secret-0123456789', a);
    const expired = await t.token(a, { expiresIn: Math.floor(Date.now() / 1000) - 3600 });
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: a })).toString('base64url')}.`;
    for (const headers of [
      json,
      { ...json, authorization: 'Bearer nonsense' },
      { ...json, authorization: `Bearer ${foreign}` },
      { ...json, authorization: `Bearer ${expired}` },
      { ...json, authorization: `Bearer ${unsigned}` },
      { ...json, authorization: alice.token },
    ]) {
      expectProblem(await request(t.baseUrl, '/rooms', { method: 'POST', headers, body }), 401, 'UNAUTHORIZED');
    }
    expectProblem(await request(t.baseUrl, '/rooms', {}), 401, 'UNAUTHORIZED');
    expect(await roomIds(alice)).toEqual([]);
  });
});

describe('GET /rooms/:id', () => {
  it('shows the room to a participant and hides it from others exactly like a missing one', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await t.as(a);
    const bob = await t.as(b);
    const room = (await alice.post('/rooms', { type: 'group', name: 'Private', participantIds: [b] })).body;
    const seen = await bob.get(`/rooms/${room.id}`);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id: room.id, name: 'Private' });

    const stranger = await t.as(uid('eve'), { role: 'admin' });
    const answers = await Promise.all(
      [room.id, '018f4e9c-0000-7000-8000-000000000000', crypto.randomUUID(), 'abc', '1', `${room.id}x`, 'x'.repeat(300)].map((id) =>
        stranger.get(`/rooms/${encodeURIComponent(id)}`),
      ),
    );
    for (const res of answers) expectProblem(res, 404, 'NOT_FOUND');
    expect(new Set(answers.map((r) => JSON.stringify(r.body))).size).toBe(1);
  });

  it('finds no room under an empty id on any route that takes one (404, never 400) and stores nothing', async () => {
    const alice = await t.as(uid('alice'));
    const room = (await alice.post('/rooms', { type: 'group', name: 'Mine' })).body;
    const answers = [
      await alice.get('/rooms//messages'),
      await alice.post('/rooms//messages', { content: 'lost' }),
      await alice.patch('/rooms//read'),
      await alice.patch('/rooms//notifications', { muted: true }),
      await alice.post('/rooms//participants', { userId: uid('bob') }),
      await alice.patch(`/rooms//participants/${alice.userId}/remove`),
      await alice.patch('/rooms//', { name: 'Renamed' }),
    ];
    for (const res of answers) expectProblem(res, 404, 'NOT_FOUND');
    const after = (await alice.get(`/rooms/${room.id}`)).body;
    expect(after).toMatchObject({ name: 'Mine', lastSeq: 0, lastMessage: null, muted: false });
    expect(after.participants.map((p: { userId: string }) => p.userId)).toEqual([alice.userId]);
  });
});

describe('PATCH /rooms/:id', () => {
  async function group() {
    const [a, b] = [uid('owner'), uid('member')];
    const owner = await t.as(a);
    const member = await t.as(b);
    const room = (await owner.post('/rooms', { type: 'group', name: 'Before', description: 'old', participantIds: [b] })).body;
    return { owner, member, room };
  }

  it('lets the owner rename and describe the room', async () => {
    const { owner, member, room } = await group();
    const res = await owner.patch(`/rooms/${room.id}`, { name: 'After', description: 'new' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: room.id, name: 'After', description: 'new' });
    expect(Date.parse(res.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(room.updatedAt));
    expect((await member.get(`/rooms/${room.id}`)).body).toMatchObject({ name: 'After', description: 'new' });
    const cleared = await owner.patch(`/rooms/${room.id}`, { description: null });
    expect(cleared.body).toMatchObject({ name: 'After', description: null });
  });

  it('refuses members (403), strangers (404), bad bodies (400) and changes nothing', async () => {
    const { owner, member, room } = await group();
    const stranger = await t.as(uid('eve'));
    expectProblem(await member.patch(`/rooms/${room.id}`, { name: 'Hijacked' }), 403, 'FORBIDDEN');
    expectProblem(await stranger.patch(`/rooms/${room.id}`, { name: 'Hijacked' }), 404, 'NOT_FOUND');
    expectProblem(await stranger.patch(`/rooms/${crypto.randomUUID()}`, { name: 'Hijacked' }), 404, 'NOT_FOUND');
    for (const body of [
      {},
      { status: 'closed' },
      { name: '' },
      { name: 'a\u001bb' },
      { name: 5 },
      { topic: 'x' },
      { description: 'x'.repeat(2001) },
    ]) {
      expectProblem(await owner.patch(`/rooms/${room.id}`, body), 400, 'VALIDATION_FAILED');
    }
    expect((await owner.get(`/rooms/${room.id}`)).body).toMatchObject({
      name: 'Before',
      description: 'old',
      status: null,
      updatedAt: room.updatedAt,
    });
  });

  it('lets the owner of a business room rename it', async () => {
    const alice = await t.as(uid('alice'), { businessIds: ['acme'] });
    const room = (await alice.post('/rooms', { type: 'business', businessId: 'acme', name: 'Old' })).body;
    expect((await alice.patch(`/rooms/${room.id}`, { name: 'New' })).body).toMatchObject({ name: 'New', businessId: 'acme' });
  });

  it('refuses to change a direct room (400)', async () => {
    const a = uid('alice');
    const alice = await t.as(a);
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: [uid('bob')] })).body;
    expectProblem(await alice.patch(`/rooms/${room.id}`, { name: 'Us' }), 400, 'VALIDATION_FAILED');
    expect((await alice.get(`/rooms/${room.id}`)).body.name).toBeNull();
  });
});

describe('PATCH /rooms/:id/notifications', () => {
  it('mutes the room for the caller only, until a time if given', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await t.as(a);
    const bob = await t.as(b);
    const room = (await alice.post('/rooms', { type: 'group', participantIds: [b] })).body;
    const muted = await alice.patch(`/rooms/${room.id}/notifications`, { muted: true });
    expect(muted.status).toBe(200);
    expect(muted.body).toMatchObject({ id: room.id, muted: true, mutedUntil: null });
    expect((await bob.get(`/rooms/${room.id}`)).body.muted).toBe(false);
    expect((await alice.get('/rooms')).body.data[0]).toMatchObject({ id: room.id, muted: true });

    const until = new Date(Date.now() + 3_600_000).toISOString();
    expect((await alice.patch(`/rooms/${room.id}/notifications`, { muted: true, mutedUntil: until })).body).toMatchObject({
      muted: true,
      mutedUntil: until,
    });
    const past = new Date(Date.now() - 60_000).toISOString();
    expect((await alice.patch(`/rooms/${room.id}/notifications`, { muted: true, mutedUntil: past })).body).toMatchObject({
      muted: false,
      mutedUntil: null,
    });
    await alice.patch(`/rooms/${room.id}/notifications`, { muted: true });
    expect((await alice.patch(`/rooms/${room.id}/notifications`, { muted: false })).body.muted).toBe(false);
  });

  it('refuses strangers (404) and bad bodies (400) without changing anything', async () => {
    const a = uid('alice');
    const alice = await t.as(a);
    const room = (await alice.post('/rooms', { type: 'group' })).body;
    const stranger = await t.as(uid('eve'));
    expectProblem(await stranger.patch(`/rooms/${room.id}/notifications`, { muted: true }), 404, 'NOT_FOUND');
    expectProblem(await alice.patch('/rooms/abc/notifications', { muted: true }), 404, 'NOT_FOUND');
    for (const body of [{}, { muted: 'yes' }, { muted: true, mutedUntil: 'tomorrow' }]) {
      expectProblem(await alice.patch(`/rooms/${room.id}/notifications`, body), 400, 'VALIDATION_FAILED');
    }
    expect((await alice.get(`/rooms/${room.id}`)).body.muted).toBe(false);
  });
});

describe('GET /rooms', () => {
  const send = (c: Client, roomId: string, content: string) => c.post(`/rooms/${roomId}/messages`, { content });

  it('lists the latest activity first, with lastMessage and unreadCount for the caller', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await t.as(a);
    const bob = await t.as(b);
    const ids: string[] = [];
    for (const name of ['one', 'two', 'three'])
      ids.push((await alice.post('/rooms', { type: 'group', name, participantIds: [b] })).body.id);
    expect(await roomIds(alice)).toEqual([...ids].reverse());

    await send(bob, ids[0]!, 'first');
    await send(bob, ids[0]!, 'second');
    await send(alice, ids[1]!, 'mine');
    const list = (await alice.get('/rooms')).body;
    expect(list.nextCursor).toBeNull();
    expect(list.data.map((r: any) => r.id)).toEqual([ids[1], ids[0], ids[2]]);
    expect(list.data.map((r: any) => [r.unreadCount, r.lastSeq, r.lastMessage?.content ?? null])).toEqual([
      [0, 1, 'mine'],
      [2, 2, 'second'],
      [0, 0, null],
    ]);
    expect(list.data[1].lastMessage).toMatchObject({ chatRoomId: ids[0], seq: 2, senderId: b });
    expect((await bob.get('/rooms')).body.data.map((r: any) => r.unreadCount)).toEqual([1, 0, 0]);
  });

  it('filters by type', async () => {
    const a = uid('alice');
    const alice = await t.as(a, { businessIds: ['acme'] });
    const group = (await alice.post('/rooms', { type: 'group' })).body.id;
    const direct = (await alice.post('/rooms', { type: 'direct', participantIds: [uid('bob')] })).body.id;
    const business = (await alice.post('/rooms', { type: 'business', businessId: 'acme' })).body.id;
    const ofType = async (type: string) => (await alice.get(`/rooms?type=${type}`)).body.data.map((r: any) => r.id);
    expect([await ofType('group'), await ofType('direct'), await ofType('business'), await ofType('support')]).toEqual([
      [group],
      [direct],
      [business],
      [],
    ]);
    expectProblem(await alice.get('/rooms?type=channel'), 400, 'VALIDATION_FAILED');
  });

  it('pages with a cursor without duplicates or gaps, 30 rooms by default', async () => {
    const alice = await t.as(uid('alice'));
    for (let i = 0; i < 31; i++) await alice.post('/rooms', { type: 'group', name: `r${i}` });
    const all = await roomIds(alice);
    expect(all).toHaveLength(31);
    const pages = await roomPages(alice, 10);
    expect(pages.map((p) => p.length)).toEqual([10, 10, 10, 1]);
    expect(pages.flat()).toEqual(all);

    const byDefault = (await alice.get('/rooms')).body;
    expect(byDefault.data.map((r: any) => r.id)).toEqual(all.slice(0, 30));
    const rest = (await alice.get(`/rooms?cursor=${encodeURIComponent(byDefault.nextCursor)}`)).body;
    expect([rest.data.map((r: any) => r.id), rest.nextCursor]).toEqual([all.slice(30), null]);
  });

  it('pages rooms of the same last activity by id, without duplicates or gaps', async () => {
    const alice = await t.as(uid('alice'));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await alice.post('/rooms', { type: 'group', name: `tie${i}` })).body.id);
    // Rooms made in the same millisecond tie on the first key; the cursor's second key (the id) must break the tie.
    await t.app.database.db.execute(
      sql`update chat_room set last_activity_at = '2026-01-01T00:00:00Z' where id = any(${`{${ids.join(',')}}`}::uuid[])`,
    );
    const pages = await roomPages(alice, 2);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual([...ids].sort().reverse());
  });

  it.each([
    ['limit=101'],
    ['limit=0'],
    ['limit=abc'],
    ['cursor=abc'],
    ['cursor=' + Buffer.from('{"t":1}').toString('base64url')],
    ['cursor=' + Buffer.from('{"t":1,"id":"not-an-id"}').toString('base64url')],
    ['cursor=' + Buffer.from(`{"t":1e20,"id":"${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}"}`).toString('base64url')],
    ['status=open'],
    ['scope=everything'],
  ])('refuses ?%s with 400', async (query) => {
    const alice = await t.as(uid('alice'));
    await alice.post('/rooms', { type: 'group' });
    expectProblem(await alice.get(`/rooms?${query}`), 400, 'VALIDATION_FAILED');
  });

  it('gives the support queue to staff only (403 for others)', async () => {
    const alice = await t.as(uid('alice'));
    expectProblem(await alice.get('/rooms?scope=support'), 403, 'FORBIDDEN');
    expectProblem(await alice.get('/rooms?scope=support&status=open'), 403, 'FORBIDDEN');
  });
});
