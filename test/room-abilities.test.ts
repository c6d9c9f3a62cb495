import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dbRows, startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { connect, waitFor, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

// One app per file: unique user ids keep the tests from seeing each other's rooms.
let counter = 0;
const uid = (prefix: string) => `${prefix}-${++counter}`;

/** A client whose token role the service has stored (one request made), as staff must be to be added as agents. */
async function seen(prefix: string, opts: { role?: 'user' | 'support' | 'admin'; businessIds?: string[] } = {}): Promise<Client> {
  const c = await t.as(uid(prefix), opts);
  expect((await c.get('/rooms?limit=1')).status).toBe(200);
  return c;
}

const rows = <T>(query: ReturnType<typeof sql>) => dbRows<T>(t, query);

/** The room as stored, read past every access rule: to check what a refused call left behind. */
async function stored(roomId: string) {
  const [room] = await rows<{ name: string | null; status: string | null; last_seq: number }>(
    sql`select name, status, last_seq from chat_room where id = ${roomId}`,
  );
  const members = await rows<{ user_id: string }>(sql`select user_id from chat_participant where room_id = ${roomId}`);
  return { ...room!, lastSeq: Number(room!.last_seq), members: members.map((m) => m.user_id) };
}

type Kind = 'group' | 'business' | 'direct' | 'support' | 'support-closed' | 'support-abandoned';

interface Scene {
  room: { id: string };
  /** The clients of the scene by role name. */
  as: Record<string, Client>;
  /** Someone the most powerful actor of the room could remove (a member; an agent in support rooms). */
  removable: string;
  /** A fresh user who may be added (staff the service has seen, in support rooms). */
  newcomer(): Promise<string>;
  /** Roles that act in a room of their own instead of `room`. */
  roomOf?: Record<string, string>;
  /** Whom the add-participants probe added. */
  added?: string;
}

async function groupScene(type: 'group' | 'business'): Promise<Scene> {
  const owner = await seen('owner', { businessIds: ['acme'] });
  const [admin, member, spare] = [await seen('admin'), await seen('member'), await seen('spare')];
  const staffMember = await seen('staff-member', { role: 'support' });
  const adminMember = await seen('platform-admin-member', { role: 'admin' });
  const stranger = await seen('platform-admin-stranger', { role: 'admin' });
  const participantIds = [admin, member, spare, staffMember, adminMember].map((c) => c.userId);
  const res = await owner.post('/rooms', { type, name: 'G', participantIds, ...(type === 'business' ? { businessId: 'acme' } : {}) });
  expect(res.status).toBe(201);
  // The API has no way to make an admin (API.md names the role only), so tests set it in the database.
  await t.app.database.db.execute(
    sql`update chat_participant set role = 'admin' where room_id = ${res.body.id} and user_id = ${admin.userId}`,
  );
  return {
    room: res.body,
    as: { owner, admin, member, staffMember, adminMember, stranger },
    removable: spare.userId,
    newcomer: async () => uid('newcomer'),
  };
}

async function directScene(): Promise<Scene> {
  const [member, other, adminMember] = [await seen('alice'), await seen('bob'), await seen('platform-admin', { role: 'admin' })];
  const room = (await member.post('/rooms', { type: 'direct', participantIds: [other.userId] })).body;
  // A platform admin in a direct room of their own: a separate room, same rules.
  const adminRoom = (await adminMember.post('/rooms', { type: 'direct', participantIds: [other.userId] })).body;
  return {
    room,
    as: { member, adminMember },
    removable: other.userId,
    newcomer: async () => uid('newcomer'),
    roomOf: { adminMember: adminRoom.id },
  };
}

async function supportScene(state: 'open' | 'closed' | 'abandoned'): Promise<Scene> {
  const user = await seen('customer');
  const room = (await user.post('/rooms', { type: 'support' })).body;
  const [agent, spareAgent] = [await seen('agent', { role: 'support' }), await seen('spare-agent', { role: 'support' })];
  const [staff, admin] = [await seen('staff', { role: 'support' }), await seen('platform-admin', { role: 'admin' })];
  expect((await agent.post(`/rooms/${room.id}/participants`, { userIds: [agent.userId, spareAgent.userId] })).status).toBe(201);
  if (state === 'closed') expect((await user.patch(`/rooms/${room.id}`, { status: 'closed' })).status).toBe(200);
  if (state === 'abandoned') expect((await user.patch(`/rooms/${room.id}/participants/${user.userId}/remove`)).status).toBe(204);
  return {
    room,
    as: { user, agent, staff, admin },
    removable: spareAgent.userId,
    newcomer: async () => (await seen('new-agent', { role: 'support' })).userId,
  };
}

const scene = (kind: Kind): Promise<Scene> => {
  if (kind === 'group' || kind === 'business') return groupScene(kind);
  if (kind === 'direct') return directScene();
  return supportScene(kind === 'support' ? 'open' : kind === 'support-closed' ? 'closed' : 'abandoned');
};
/** The room a role acts on in a scene (the direct scene gives its platform admin a room of their own). */
const roomOf = (s: Scene, role: string): string => s.roomOf?.[role] ?? s.room.id;

const MANAGER = [
  'send-message',
  'update-room',
  'add-participants',
  'remove-participants',
  'leave-room',
  'pin-message',
  'delete-own-message',
  'delete-any-message',
  'set-slow-mode',
  'skip-slow-mode',
];
const MEMBER = ['send-message', 'leave-room', 'delete-own-message'];
const AGENT = [
  'send-message',
  'update-room',
  'add-participants',
  'remove-participants',
  'leave-room',
  'pin-message',
  'delete-own-message',
  'delete-any-message',
  'skip-slow-mode',
];
const STAFF_READER = ['update-room', 'add-participants', 'remove-participants', 'delete-any-message'];
const SUPPORT_USER = ['send-message', 'update-room', 'leave-room', 'pin-message', 'delete-own-message'];

/** [room kind, role, the abilities that role must see]. */
const EXPECTED: Array<[Kind, string, string[]]> = [
  ...(['group', 'business'] as const).flatMap((kind): Array<[Kind, string, string[]]> => [
    [kind, 'owner', MANAGER],
    [kind, 'admin', MANAGER],
    [kind, 'member', MEMBER],
    // Staff and platform admins are plain members of a group, but staff skip slow mode and admins delete anywhere.
    [kind, 'staffMember', [...MEMBER, 'skip-slow-mode']],
    [kind, 'adminMember', [...MEMBER, 'delete-any-message', 'skip-slow-mode']],
  ]),
  ['direct', 'member', ['send-message', 'pin-message', 'delete-own-message']],
  ['direct', 'adminMember', ['send-message', 'pin-message', 'delete-own-message', 'delete-any-message', 'skip-slow-mode']],
  ['support', 'user', [...SUPPORT_USER, 'close-room']],
  ['support', 'agent', [...AGENT, 'close-room']],
  // Staff read, change, join and moderate a support room without joining it, but neither send nor pin there.
  ['support', 'staff', [...STAFF_READER, 'close-room']],
  ['support', 'admin', [...STAFF_READER, 'close-room']],
  ['support-closed', 'user', [...SUPPORT_USER, 'reopen-room']],
  ['support-closed', 'agent', [...AGENT, 'reopen-room']],
  ['support-closed', 'staff', [...STAFF_READER, 'reopen-room']],
  // Its user left: the room stays closed (reopening it is 409), so nobody is offered to reopen it.
  ['support-abandoned', 'agent', AGENT],
  ['support-abandoned', 'staff', STAFF_READER],
];

async function abilitiesOf(c: Client, roomId: string): Promise<string[]> {
  const res = await c.get(`/rooms/${roomId}`);
  expect(res.status).toBe(200);
  return [...res.body.abilities].sort();
}

describe('abilities on the Room', () => {
  it.each(EXPECTED)('%s room: %s', async (kind, role, expected) => {
    const s = await scene(kind);
    const c = s.as[role]!;
    expect(await abilitiesOf(c, roomOf(s, role))).toEqual([...expected].sort());
    // The list in GET /rooms is the same as in GET /rooms/:id (staff who have not joined have it in neither list).
    const listed = (await c.get('/rooms?limit=100')).body.data.find((r: any) => r.id === roomOf(s, role));
    if (listed) expect([...listed.abilities].sort()).toEqual([...expected].sort());
  });

  it('shows nothing to a stranger, not even a platform admin: the room is not found', async () => {
    const s = await groupScene('group');
    expectProblem(await s.as.stranger!.get(`/rooms/${s.room.id}`), 404, 'NOT_FOUND');
  });

  it('follows a role change: a member made admin gains the managers’ abilities', async () => {
    const s = await groupScene('group');
    const member = s.as.member!;
    expect(await abilitiesOf(member, s.room.id)).toEqual([...MEMBER].sort());
    await t.app.database.db.execute(
      sql`update chat_participant set role = 'admin' where room_id = ${s.room.id} and user_id = ${member.userId}`,
    );
    expect(await abilitiesOf(member, s.room.id)).toEqual([...MANAGER].sort());
  });
});

/**
 * Each ability with an endpoint today, and the call that ability promises. Run in this order on one scene: no call
 * changes what a later one may do (leaving comes last).
 */
const PROBES: Array<{
  ability: string;
  applies: (status: string | null) => boolean;
  call: (c: Client, roomId: string, s: Scene) => Promise<Res>;
  took: (before: Awaited<ReturnType<typeof stored>>, after: Awaited<ReturnType<typeof stored>>, c: Client, s: Scene) => boolean;
}> = [
  {
    ability: 'send-message',
    applies: () => true,
    call: (c, id) => c.post(`/rooms/${id}/messages`, { content: 'probe' }),
    took: (b, a) => a.lastSeq === b.lastSeq + 1,
  },
  {
    ability: 'update-room',
    applies: () => true,
    call: (c, id) => c.patch(`/rooms/${id}`, { name: 'Probe' }),
    took: (_b, a) => a.name === 'Probe',
  },
  {
    ability: 'add-participants',
    applies: () => true,
    call: async (c, id, s) => c.post(`/rooms/${id}/participants`, { userId: (s.added = await s.newcomer()) }),
    took: (_b, a, _c, s) => a.members.includes(s.added!),
  },
  {
    ability: 'remove-participants',
    applies: () => true,
    call: (c, id, s) => c.patch(`/rooms/${id}/participants/${s.removable}/remove`),
    took: (b, a, _c, s) => b.members.includes(s.removable) && !a.members.includes(s.removable),
  },
  {
    ability: 'close-room',
    applies: (status) => status !== 'closed',
    call: (c, id) => c.patch(`/rooms/${id}`, { status: 'closed' }),
    took: (b, a) => b.status === 'open' && a.status === 'closed',
  },
  {
    ability: 'reopen-room',
    applies: (status) => status !== 'open',
    call: (c, id) => c.patch(`/rooms/${id}`, { status: 'open' }),
    took: (b, a) => b.status === 'closed' && a.status === 'open',
  },
  {
    ability: 'leave-room',
    applies: () => true,
    call: (c, id) => c.patch(`/rooms/${id}/participants/${c.userId}/remove`),
    took: (b, a, c) => b.members.includes(c.userId) && !a.members.includes(c.userId),
  },
];

describe('every ability is what its endpoint allows', () => {
  it.each(EXPECTED)('%s room: %s', async (kind, role) => {
    const s = await scene(kind);
    const c = s.as[role]!;
    const roomId = roomOf(s, role);
    const abilities = await abilitiesOf(c, roomId);
    const outcomes: string[] = [];
    // Abilities are of the room as it was read: close-room of an open room, reopen-room of a closed one.
    const { status } = await stored(roomId);
    for (const probe of PROBES) {
      if (!probe.applies(status)) continue;
      const before = await stored(roomId);
      const res = await probe.call(c, roomId, s);
      const after = await stored(roomId);
      const allowed = res.status < 300;
      outcomes.push(`${probe.ability}: ${res.status}`);
      // A refusal is a clear 4xx (never a 500) and leaves nothing behind; an allowed call did what it says.
      if (!allowed) expect([400, 403, 404, 409], `${probe.ability} answered ${res.status}`).toContain(res.status);
      expect(probe.took(before, after, c, s), `${probe.ability} (${res.status}) changed the room: ${!allowed}`).toBe(allowed);
      expect(allowed, `${kind} ${role}: ${outcomes.join(', ')}`).toBe(abilities.includes(probe.ability));
    }
  });

  it('a member without add-participants gets 403, one given it by a promotion gets 201', async () => {
    const s = await groupScene('group');
    const member = s.as.member!;
    expect(await abilitiesOf(member, s.room.id)).not.toContain('add-participants');
    expectProblem(await member.post(`/rooms/${s.room.id}/participants`, { userId: uid('x') }), 403, 'FORBIDDEN');
    await t.app.database.db.execute(
      sql`update chat_participant set role = 'admin' where room_id = ${s.room.id} and user_id = ${member.userId}`,
    );
    expect(await abilitiesOf(member, s.room.id)).toContain('add-participants');
    expect((await member.post(`/rooms/${s.room.id}/participants`, { userId: uid('x') })).status).toBe(201);
  });
});

describe('abilities in room events, per recipient', () => {
  const sockets: ClientSocket[] = [];
  const open = async (c: Client) => {
    const socket = await connect(t.baseUrl, c.token);
    sockets.push(socket);
    return socket;
  };
  afterEach(() => sockets.splice(0).forEach((socket) => socket.close()));

  it('room_created, room_updated and participant_added carry each participant’s own abilities', async () => {
    const owner = await seen('owner');
    const [member, staffMember, newcomer] = [await seen('member'), await seen('staff', { role: 'support' }), await seen('newcomer')];
    const [so, sm, ss, sn] = await Promise.all([open(owner), open(member), open(staffMember), open(newcomer)]);

    const created = Promise.all([waitFor(so, 'room_created'), waitFor(sm, 'room_created'), waitFor(ss, 'room_created')]);
    const room = (await owner.post('/rooms', { type: 'group', name: 'G', participantIds: [member.userId, staffMember.userId] })).body;
    const [co, cm, cs] = await created;
    expect([...co.abilities].sort()).toEqual([...MANAGER].sort());
    expect([...cm.abilities].sort()).toEqual([...MEMBER].sort());
    // The recipient's platform role counts too (from their latest token): staff skip slow mode.
    expect([...cs.abilities].sort()).toEqual([...MEMBER, 'skip-slow-mode'].sort());

    const mine = (r: { id: string }) => r.id === room.id;
    const updated = Promise.all([waitFor(so, 'room_updated', mine), waitFor(sm, 'room_updated', mine)]);
    await owner.patch(`/rooms/${room.id}`, { name: 'Renamed' });
    const [uo, um] = await updated;
    expect([...uo.abilities].sort()).toEqual([...MANAGER].sort());
    expect([...um.abilities].sort()).toEqual([...MEMBER].sort());

    const here = (e: { chatRoomId: string }) => e.chatRoomId === room.id;
    const added = Promise.all([
      waitFor(so, 'participant_added', here),
      waitFor(sm, 'participant_added', here),
      waitFor(sn, 'participant_added', here),
    ]);
    await owner.post(`/rooms/${room.id}/participants`, { userId: newcomer.userId });
    const [ao, am, an] = await added;
    expect([...ao.room.abilities].sort()).toEqual([...MANAGER].sort());
    expect([...am.room.abilities].sort()).toEqual([...MEMBER].sort());
    expect([...an.room.abilities].sort()).toEqual([...MEMBER].sort());
    // And each event is what the recipient's own GET answers.
    expect([...an.room.abilities].sort()).toEqual(await abilitiesOf(newcomer, room.id));
  });

  it('a support room closed by its user offers the user to reopen it, in the event as in GET', async () => {
    const user = await seen('customer');
    const room = (await user.post('/rooms', { type: 'support' })).body;
    expect([...room.abilities].sort()).toEqual([...SUPPORT_USER, 'close-room'].sort());
    const socket = await open(user);
    const updated = waitFor(socket, 'room_updated', (r) => r.id === room.id);
    const closed = await user.patch(`/rooms/${room.id}`, { status: 'closed' });
    expect([...closed.body.abilities].sort()).toEqual([...SUPPORT_USER, 'reopen-room'].sort());
    expect([...(await updated).abilities].sort()).toEqual([...SUPPORT_USER, 'reopen-room'].sort());
  });
});
