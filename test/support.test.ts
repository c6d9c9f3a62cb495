import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

// One app per file: unique user ids keep the tests from seeing each other's rooms.
let counter = 0;
const uid = (prefix: string) => `${prefix}-${++counter}`;

const user = () => t.as(uid('user'), { name: 'Customer' });
/** A support agent the service has seen (one request made), so others can add them to a support room. */
async function agent(): Promise<Client> {
  const c = await t.as(uid('agent'), { name: 'Agent', role: 'support' });
  await c.get('/rooms');
  return c;
}
const open = (c: Client, body: Record<string, unknown> = {}) => c.post('/rooms', { type: 'support', ...body });
const rolesOf = (room: any): Record<string, string> => Object.fromEntries(room.participants.map((p: any) => [p.userId, p.role]));
const get = async (c: Client, id: string) => {
  const res = await c.get(`/rooms/${id}`);
  expect(res.status).toBe(200);
  return res.body;
};
async function queue(staff: Client, query = ''): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res: Res = await staff.get(`/rooms?scope=support&limit=2${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status).toBe(200);
    ids.push(...res.body.data.map((r: any) => r.id));
    cursor = res.body.nextCursor;
  } while (cursor);
  return ids;
}

describe('opening a support room', () => {
  it('opens one room per user: 201, then 200 with the same open room', async () => {
    const u = await user();
    const first = await open(u, { name: 'Billing question' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ type: 'support', status: 'open', name: 'Billing question', businessId: null, createdBy: u.userId });
    expect(rolesOf(first.body)).toEqual({ [u.userId]: 'member' });
    const again = await open(u, { name: 'Another question' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, name: 'Billing question' });
    expect((await u.get('/rooms?type=support')).body.data.map((r: any) => r.id)).toEqual([first.body.id]);
  });

  it('gives one room to concurrent opens', async () => {
    const u = await user();
    const all = await Promise.all([open(u), open(u), open(u)]);
    expect(all.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    expect(new Set(all.map((r) => r.body.id)).size).toBe(1);
    expect((await u.get('/rooms')).body.data).toHaveLength(1);
  });

  it('opens a new room once the previous one is closed, and refuses reopening the old one (409)', async () => {
    const u = await user();
    const old = (await open(u)).body;
    const closed = await u.patch(`/rooms/${old.id}`, { status: 'closed' });
    expect(closed.status).toBe(200);
    expect(closed.body.status).toBe('closed');
    const fresh = await open(u);
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(old.id);

    expectProblem(await u.patch(`/rooms/${old.id}`, { status: 'open' }), 409, 'CONFLICT');
    expectProblem(await (await agent()).patch(`/rooms/${old.id}`, { status: 'open' }), 409, 'CONFLICT');
    expect((await get(u, old.id)).status).toBe('closed');
    expect((await get(u, fresh.body.id)).status).toBe('open');

    await u.patch(`/rooms/${fresh.body.id}`, { status: 'closed' });
    expect((await u.patch(`/rooms/${old.id}`, { status: 'open' })).body.status).toBe('open');
  });

  it('refuses other participants and a businessId (400), storing nothing', async () => {
    const u = await user();
    expectProblem(await open(u, { participantIds: [uid('agent')] }), 400, 'VALIDATION_FAILED');
    expectProblem(await open(u, { businessId: 'acme' }), 400, 'VALIDATION_FAILED');
    expect((await u.get('/rooms')).body.data).toEqual([]);
  });
});

describe('support staff', () => {
  it('read any support room without joining; a normal stranger gets 404', async () => {
    const u = await user();
    const room = (await open(u)).body;
    const admin = await t.as(uid('admin'), { role: 'admin' });
    for (const staff of [await agent(), admin]) {
      expect(await get(staff, room.id)).toMatchObject({ id: room.id, unreadCount: 0, muted: false });
      expect((await staff.get('/rooms')).body.data).toEqual([]);
    }
    expectProblem(await (await user()).get(`/rooms/${room.id}`), 404, 'NOT_FOUND');
    expect(rolesOf(await get(u, room.id))).toEqual({ [u.userId]: 'member' });
  });

  it('see the queue, latest activity first, filtered by status and paged', async () => {
    const staff = await agent();
    const before = await queue(staff);
    const [u1, u2, u3] = [await user(), await user(), await user()];
    const r1 = (await open(u1)).body.id;
    const r2 = (await open(u2)).body.id;
    const r3 = (await open(u3)).body.id;
    await u1.post(`/rooms/${r1}/messages`, { content: 'help!' });
    await u2.patch(`/rooms/${r2}`, { status: 'closed' });

    const all = await queue(staff);
    expect(all.slice(0, 3)).toEqual([r1, r3, r2]);
    expect(all.slice(3)).toEqual(before);
    const openOnes = await queue(staff, '&status=open');
    expect(openOnes.slice(0, 2)).toEqual([r1, r3]);
    expect(openOnes).not.toContain(r2);
    expect(await queue(staff, '&status=closed')).toContain(r2);
    const page = (await staff.get('/rooms?scope=support&limit=1')).body;
    expect(page.data[0]).toMatchObject({ id: r1, lastMessage: { content: 'help!' }, status: 'open' });

    expectProblem(await u1.get('/rooms?scope=support'), 403, 'FORBIDDEN');
    expect((await u1.get('/rooms?type=support&status=open')).body.data.map((r: any) => r.id)).toEqual([r1]);
    expect((await u2.get('/rooms?type=support&status=open')).body.data).toEqual([]);
  });

  it('join as agents, starting with nothing unread, and add other staff', async () => {
    const u = await user();
    const room = (await open(u)).body;
    await u.post(`/rooms/${room.id}/messages`, { content: 'hello?' });
    const staff = await agent();
    const colleague = await agent();
    const admin = await t.as(uid('admin'), { role: 'admin' });
    await admin.get('/rooms');

    const joined = await staff.post(`/rooms/${room.id}/participants`, { userId: staff.userId });
    expect(joined.status).toBe(201);
    expect(rolesOf(joined.body)).toEqual({ [u.userId]: 'member', [staff.userId]: 'agent' });
    expect(joined.body.participants.find((p: any) => p.userId === staff.userId)).toMatchObject({ name: 'Agent', lastReadSeq: 1 });
    expect((await staff.get('/rooms')).body.data[0]).toMatchObject({ id: room.id, unreadCount: 0 });

    const added = await staff.post(`/rooms/${room.id}/participants`, { userIds: [colleague.userId, admin.userId] });
    expect(added.status).toBe(201);
    expect(rolesOf(added.body)).toEqual({
      [u.userId]: 'member',
      [staff.userId]: 'agent',
      [colleague.userId]: 'agent',
      [admin.userId]: 'agent',
    });
  });

  it('refuse to add anyone whose latest token is not staff (400), and only staff may add (403)', async () => {
    const u = await user();
    const room = (await open(u)).body;
    const staff = await agent();
    const other = await user();
    const demoted = uid('former-agent');
    await (await t.as(demoted, { role: 'support' })).get('/rooms');
    await (await t.as(demoted, { role: 'user' })).get('/rooms');

    for (const userIds of [[other.userId], [uid('never-seen')], [demoted], [staff.userId, other.userId]]) {
      expectProblem(await staff.post(`/rooms/${room.id}/participants`, { userIds }), 400, 'VALIDATION_FAILED');
    }
    expectProblem(await u.post(`/rooms/${room.id}/participants`, { userId: staff.userId }), 403, 'FORBIDDEN');
    expectProblem(await u.post(`/rooms/${room.id}/participants`, { userId: u.userId }), 403, 'FORBIDDEN');
    expectProblem(await other.post(`/rooms/${room.id}/participants`, { userId: other.userId }), 404, 'NOT_FOUND');
    expect(rolesOf(await get(u, room.id))).toEqual({ [u.userId]: 'member' });
  });

  it('change the status; a stranger cannot (404) and a group room has none (400)', async () => {
    const u = await user();
    const room = (await open(u)).body;
    const staff = await agent();
    expectProblem(await (await user()).patch(`/rooms/${room.id}`, { status: 'closed' }), 404, 'NOT_FOUND');
    expectProblem(await staff.patch(`/rooms/${room.id}`, { status: 'pending' }), 400, 'VALIDATION_FAILED');
    expect((await get(u, room.id)).status).toBe('open');
    expect((await staff.patch(`/rooms/${room.id}`, { status: 'closed' })).body.status).toBe('closed');
    expect((await staff.patch(`/rooms/${room.id}`, { status: 'open' })).body.status).toBe('open');

    const group = (await staff.post('/rooms', { type: 'group' })).body;
    expectProblem(await staff.patch(`/rooms/${group.id}`, { status: 'closed' }), 400, 'VALIDATION_FAILED');
    expect((await get(staff, group.id)).status).toBeNull();
  });
});

describe('leaving and removing in a support room', () => {
  it('lets staff remove agents but not the room’s user; the user cannot remove agents', async () => {
    const u = await user();
    const room = (await open(u)).body;
    const [a1, a2] = [await agent(), await agent()];
    await a1.post(`/rooms/${room.id}/participants`, { userIds: [a1.userId, a2.userId] });
    expectProblem(await a1.patch(`/rooms/${room.id}/participants/${u.userId}/remove`), 403, 'FORBIDDEN');
    expectProblem(await u.patch(`/rooms/${room.id}/participants/${a1.userId}/remove`), 403, 'FORBIDDEN');
    const res = await a1.patch(`/rooms/${room.id}/participants/${a2.userId}/remove`);
    expect(res.status).toBe(200);
    expect(rolesOf(res.body)).toEqual({ [u.userId]: 'member', [a1.userId]: 'agent' });

    // An agent who leaves is still staff, so the room stays readable to them.
    expect((await a1.patch(`/rooms/${room.id}/participants/${a1.userId}/remove`)).status).toBe(204);
    expect(rolesOf(await get(a1, room.id))).toEqual({ [u.userId]: 'member' });
    expect((await a1.get('/rooms')).body.data).toEqual([]);
  });

  it('closes the room when its user leaves, so they can open a new one', async () => {
    const u = await user();
    const room = (await open(u)).body;
    const staff = await agent();
    await staff.post(`/rooms/${room.id}/participants`, { userId: staff.userId });
    expect((await u.patch(`/rooms/${room.id}/participants/${u.userId}/remove`)).status).toBe(204);
    expectProblem(await u.get(`/rooms/${room.id}`), 404, 'NOT_FOUND');
    expect(await get(staff, room.id)).toMatchObject({ status: 'closed' });
    expectProblem(await staff.patch(`/rooms/${room.id}`, { status: 'open' }), 409, 'CONFLICT');
    expect(await get(staff, room.id)).toMatchObject({ status: 'closed' });
    const next = await open(u);
    expect(next.status).toBe(201);
    expect(next.body.id).not.toBe(room.id);
  });
});
