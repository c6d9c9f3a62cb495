import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

// One app per file: unique user ids keep the tests from seeing each other's rooms.
let counter = 0;
const uid = (prefix: string) => `${prefix}-${++counter}`;

const rolesOf = (room: any): Record<string, string> => Object.fromEntries(room.participants.map((p: any) => [p.userId, p.role]));
const roles = async (c: Client, roomId: string) => rolesOf((await c.get(`/rooms/${roomId}`)).body);

/** The API has no way to make an admin (API.md names the role only), so tests set it in the database. */
async function makeAdmin(roomId: string, userId: string): Promise<void> {
  await t.app.database.db.execute(sql`update chat_participant set role = 'admin' where room_id = ${roomId} and user_id = ${userId}`);
}

/** A group of an owner and some members; each joins in a request of their own, so joinedAt follows the list. */
async function group(...members: string[]) {
  const owner = await t.as(uid('owner'));
  const room = (await owner.post('/rooms', { type: 'group', name: 'G' })).body;
  for (const m of members) expect((await owner.post(`/rooms/${room.id}/participants`, { userId: m })).status).toBe(201);
  return { owner, room };
}

describe('POST /rooms/:id/participants', () => {
  it('adds one user or several as members, whose history before joining is not unread', async () => {
    const [b, c, d] = [uid('bob'), uid('carol'), uid('dave')];
    const { owner, room } = await group();
    await owner.post(`/rooms/${room.id}/messages`, { content: 'before anyone' });
    await owner.post(`/rooms/${room.id}/messages`, { content: 'still before' });

    const one = await owner.post(`/rooms/${room.id}/participants`, { userId: b });
    expect(one.status).toBe(201);
    expect(rolesOf(one.body)).toEqual({ [owner.userId]: 'owner', [b]: 'member' });
    const many = await owner.post(`/rooms/${room.id}/participants`, { userIds: [c, d, c] });
    expect(many.status).toBe(201);
    expect(rolesOf(many.body)).toEqual({ [owner.userId]: 'owner', [b]: 'member', [c]: 'member', [d]: 'member' });
    const newcomer = many.body.participants.find((p: any) => p.userId === c);
    expect(newcomer).toMatchObject({ lastReadSeq: 2, lastDeliveredSeq: 2, name: null });

    const carol = await t.as(c);
    expect((await carol.get(`/rooms/${room.id}`)).body).toMatchObject({ lastSeq: 2, unreadCount: 0 });
    expect((await carol.get(`/rooms/${room.id}/messages`)).status).toBe(200);
    await owner.post(`/rooms/${room.id}/messages`, { content: 'after' });
    expect((await carol.get('/rooms')).body.data[0]).toMatchObject({ id: room.id, unreadCount: 1 });
  });

  it('lets an admin add, and leaves present participants and their roles as they are', async () => {
    const a = uid('admin');
    const { owner, room } = await group(a);
    await makeAdmin(room.id, a);
    const admin = await t.as(a);
    const e = uid('erin');
    expect((await admin.post(`/rooms/${room.id}/participants`, { userIds: [e, owner.userId] })).status).toBe(201);
    expect(await roles(owner, room.id)).toEqual({ [owner.userId]: 'owner', [a]: 'admin', [e]: 'member' });
    // Admins manage the room's name and description too.
    expect((await admin.patch(`/rooms/${room.id}`, { name: 'Renamed', description: 'by an admin' })).body).toMatchObject({
      name: 'Renamed',
      description: 'by an admin',
    });
  });

  it('refuses members (403), strangers as if the room did not exist (404) and bad bodies (400)', async () => {
    const m = uid('member');
    const { owner, room } = await group(m);
    const member = await t.as(m);
    const stranger = await t.as(uid('eve'), { role: 'admin' });
    const x = uid('x');
    expectProblem(await member.post(`/rooms/${room.id}/participants`, { userId: x }), 403, 'FORBIDDEN');
    const hidden = await stranger.post(`/rooms/${room.id}/participants`, { userId: x });
    const missing = await stranger.post(`/rooms/${crypto.randomUUID()}/participants`, { userId: x });
    const malformed = await stranger.post('/rooms/abc/participants', { userId: x });
    for (const res of [hidden, missing, malformed]) expectProblem(res, 404, 'NOT_FOUND');
    expect(hidden.body).toEqual(missing.body);
    expect(malformed.body).toEqual(missing.body);
    for (const body of [{}, { userIds: [] }, { userId: '' }, { userId: 5 }, { userId: x, userIds: [x] }, { userIds: 'x' }, { user: x }]) {
      expectProblem(await owner.post(`/rooms/${room.id}/participants`, body), 400, 'VALIDATION_FAILED');
    }
    expect(await roles(owner, room.id)).toEqual({ [owner.userId]: 'owner', [m]: 'member' });
  });

  it('never adds to a direct room (400)', async () => {
    const alice = await t.as(uid('alice'));
    const b = uid('bob');
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: [b] })).body;
    expectProblem(await alice.post(`/rooms/${room.id}/participants`, { userId: uid('carol') }), 400, 'VALIDATION_FAILED');
    expect(Object.keys(await roles(alice, room.id)).sort()).toEqual([alice.userId, b].sort());
  });
});

describe('PATCH /rooms/:id/participants/:userId/remove', () => {
  const remove = (c: Client, roomId: string, userId: string) =>
    c.patch(`/rooms/${roomId}/participants/${encodeURIComponent(userId)}/remove`);

  it('lets the owner remove others; the removed user no longer finds the room', async () => {
    const [m, n] = [uid('member'), uid('member')];
    const { owner, room } = await group(m, n);
    const res = await remove(owner, room.id, m);
    expect(res.status).toBe(200);
    expect(rolesOf(res.body)).toEqual({ [owner.userId]: 'owner', [n]: 'member' });
    const gone = await t.as(m);
    expectProblem(await gone.get(`/rooms/${room.id}`), 404, 'NOT_FOUND');
    expect((await gone.get('/rooms')).body.data).toEqual([]);
  });

  it('lets an admin remove members but not owners or other admins', async () => {
    const [a1, a2, m] = [uid('admin'), uid('admin'), uid('member')];
    const { owner, room } = await group(a1, a2, m);
    await makeAdmin(room.id, a1);
    await makeAdmin(room.id, a2);
    const admin = await t.as(a1);
    expectProblem(await remove(admin, room.id, owner.userId), 403, 'FORBIDDEN');
    expectProblem(await remove(admin, room.id, a2), 403, 'FORBIDDEN');
    expect(await roles(owner, room.id)).toEqual({ [owner.userId]: 'owner', [a1]: 'admin', [a2]: 'admin', [m]: 'member' });
    expect((await remove(admin, room.id, m)).status).toBe(200);
    expect((await remove(owner, room.id, a2)).status).toBe(200);
    expect(await roles(owner, room.id)).toEqual({ [owner.userId]: 'owner', [a1]: 'admin' });
  });

  it('refuses a member removing someone else (403), strangers and non-participants (404)', async () => {
    const [m, n] = [uid('member'), uid('member')];
    const { owner, room } = await group(m, n);
    const member = await t.as(m);
    const stranger = await t.as(uid('eve'));
    expectProblem(await remove(member, room.id, n), 403, 'FORBIDDEN');
    expectProblem(await remove(member, room.id, owner.userId), 403, 'FORBIDDEN');
    expectProblem(await remove(stranger, room.id, m), 404, 'NOT_FOUND');
    expectProblem(await remove(stranger, room.id, stranger.userId), 404, 'NOT_FOUND');
    expectProblem(await remove(owner, room.id, uid('nobody')), 404, 'NOT_FOUND');
    expectProblem(await remove(owner, crypto.randomUUID(), m), 404, 'NOT_FOUND');
    expectProblem(await remove(owner, 'abc', m), 404, 'NOT_FOUND');
    expect(await roles(owner, room.id)).toEqual({ [owner.userId]: 'owner', [m]: 'member', [n]: 'member' });
  });

  it('lets anyone leave with 204, after which the room is not found for them', async () => {
    const m = uid('member');
    const { owner, room } = await group(m);
    const member = await t.as(m);
    const left = await remove(member, room.id, m);
    expect(left.status).toBe(204);
    expect(left.body).toBe('');
    expectProblem(await member.get(`/rooms/${room.id}`), 404, 'NOT_FOUND');
    expectProblem(await remove(member, room.id, m), 404, 'NOT_FOUND');
    expect(await roles(owner, room.id)).toEqual({ [owner.userId]: 'owner' });

    // Back in later: history from the time away is not unread either.
    await owner.post(`/rooms/${room.id}/messages`, { content: 'while away' });
    await owner.post(`/rooms/${room.id}/participants`, { userId: m });
    expect((await member.get(`/rooms/${room.id}`)).body).toMatchObject({ lastSeq: 1, unreadCount: 0 });
  });

  it('hands ownership to the longest-standing admin when the last owner leaves', async () => {
    // Member "a" joined first; admins "z" (earlier) and "y" (later): "z" wins over both id order and membership age.
    const [a, z, y] = [uid('a-member'), uid('z-admin'), uid('y-admin')];
    const { owner, room } = await group(a, z, y);
    await makeAdmin(room.id, z);
    await makeAdmin(room.id, y);
    expect((await remove(owner, room.id, owner.userId)).status).toBe(204);
    expect(await roles(await t.as(a), room.id)).toEqual({ [a]: 'member', [z]: 'owner', [y]: 'admin' });
  });

  it('hands ownership to the longest-standing member when there is no admin', async () => {
    const [z, a] = [uid('z-member'), uid('a-member')];
    const { owner, room } = await group(z, a);
    expect((await remove(owner, room.id, owner.userId)).status).toBe(204);
    const zed = await t.as(z);
    expect(await roles(zed, room.id)).toEqual({ [z]: 'owner', [a]: 'member' });
    // The new owner can manage the room.
    expect((await remove(zed, room.id, a)).status).toBe(200);
    expect((await zed.patch(`/rooms/${room.id}`, { name: 'Mine now' })).body.name).toBe('Mine now');
  });

  it('does not promote anyone while an owner remains', async () => {
    const [m, n] = [uid('member'), uid('member')];
    const { owner, room } = await group(m, n);
    expect((await remove(await t.as(m), room.id, m)).status).toBe(204);
    expect(await roles(owner, room.id)).toEqual({ [owner.userId]: 'owner', [n]: 'member' });
  });

  it('never removes anyone from a direct room (400), not even the caller', async () => {
    const alice = await t.as(uid('alice'));
    const b = uid('bob');
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: [b] })).body;
    expectProblem(await remove(alice, room.id, b), 400, 'VALIDATION_FAILED');
    expectProblem(await remove(alice, room.id, alice.userId), 400, 'VALIDATION_FAILED');
    expect(Object.keys(await roles(alice, room.id)).sort()).toEqual([alice.userId, b].sort());
  });
});

describe('profiles from tokens', () => {
  it('keeps the name and picture of every user of a burst of first requests, and a later change', async () => {
    const ids = Array.from({ length: 12 }, () => uid('burst'));
    const clients = await Promise.all(ids.map((id) => t.as(id, { name: `Name of ${id}`, picture: `https://img.example/${id}.png` })));
    expect((await Promise.all(clients.map((c) => c.get('/rooms')))).map((r) => r.status)).toEqual(ids.map(() => 200));
    const owner = clients[0]!;
    const room = (await owner.post('/rooms', { type: 'group', name: 'burst', participantIds: ids.slice(1) })).body;
    const names = Object.fromEntries(room.participants.map((p: any) => [p.userId, [p.name, p.picture]]));
    expect(names).toEqual(Object.fromEntries(ids.map((id) => [id, [`Name of ${id}`, `https://img.example/${id}.png`]])));
    const renamed = await t.as(ids[1]!, { name: 'Renamed' });
    expect((await renamed.get('/rooms')).status).toBe(200);
    const after = (await owner.get(`/rooms/${room.id}`)).body.participants.find((p: any) => p.userId === ids[1]);
    expect([after.name, after.picture]).toEqual(['Renamed', null]);
  });
});
