import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { call, connect, waitFor, type ClientSocket } from './helpers/sockets.js';
import { runsClustered } from './helpers/redis.js';

let t: TestApp;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  t = await startTestApp();
});
afterEach(() => sockets.splice(0).forEach((s) => s.close()));
afterAll(async () => {
  await t?.close();
});

const open = async (app: TestApp, c: Client) => {
  const s = await connect(app.baseUrl, c.token);
  sockets.push(s);
  return s;
};
const send = (c: Client, roomId: string, content: string, clientMessageId?: string) =>
  c.post(`/rooms/${roomId}/messages`, { content, ...(clientMessageId ? { clientMessageId } : {}) });
const historyOf = async (c: Client, roomId: string) => (await c.get(`/rooms/${roomId}/messages`)).body.data.map((m: any) => m.content);
const group = async (owner: Client, name: string, members: string[]) =>
  (await owner.post('/rooms', { type: 'group', name, participantIds: members })).body;

/** A 429 of slow mode: RATE_LIMITED with Retry-After in whole seconds, at most the window. */
function expectSlowed(res: Awaited<ReturnType<typeof send>>, windowS: number): number {
  expectProblem(res, 429, 'RATE_LIMITED');
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= windowS).toBe(true);
  return retryAfter;
}

describe('PATCH /rooms/:id { slowModeS }', () => {
  it('is set by owners of group and business rooms, shown in the Room, and refused otherwise with nothing changed', async () => {
    const [alice, bob] = [await t.as('alice'), await t.as('bob')];
    const room = await group(alice, 'settings', ['bob']);
    expect(room.slowModeS).toBe(0);
    for (const slowModeS of [-1, 3601, 1.5, '10', null, true]) {
      expectProblem(await alice.patch(`/rooms/${room.id}`, { slowModeS }), 400, 'VALIDATION_FAILED');
    }
    expectProblem(await bob.patch(`/rooms/${room.id}`, { slowModeS: 30 }), 403, 'FORBIDDEN');
    const direct = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    expectProblem(await alice.patch(`/rooms/${direct.id}`, { slowModeS: 30 }), 400, 'VALIDATION_FAILED');
    const support = (await bob.post('/rooms', { type: 'support' })).body;
    expectProblem(await bob.patch(`/rooms/${support.id}`, { slowModeS: 30 }), 400, 'VALIDATION_FAILED');
    const staff = await t.as('agent', { role: 'support' });
    expectProblem(await staff.patch(`/rooms/${support.id}`, { slowModeS: 30 }), 400, 'VALIDATION_FAILED');
    expectProblem(await (await t.as('stranger')).patch(`/rooms/${room.id}`, { slowModeS: 30 }), 404, 'NOT_FOUND');
    for (const [c, r] of [
      [alice, room],
      [alice, direct],
      [bob, support],
    ] as const)
      expect((await c.get(`/rooms/${r.id}`)).body.slowModeS).toBe(0);

    const bobSocket = await open(t, bob);
    const seen = waitFor(bobSocket, 'room_updated', (r) => r.id === room.id);
    const set = await alice.patch(`/rooms/${room.id}`, { slowModeS: 3600 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ slowModeS: 3600, abilities: expect.arrayContaining(['set-slow-mode', 'skip-slow-mode']) });
    const live = await seen;
    expect(live.slowModeS).toBe(3600);
    expect(live.abilities).not.toContain('skip-slow-mode');
    expect(live.abilities).not.toContain('set-slow-mode');
    expect((await bob.get(`/rooms/${room.id}`)).body.slowModeS).toBe(3600);

    const carl = await t.as('carl', { businessIds: ['acme'] });
    const business = (await carl.post('/rooms', { type: 'business', businessId: 'acme', name: 'acme' })).body;
    expect((await carl.patch(`/rooms/${business.id}`, { slowModeS: 5 })).body.slowModeS).toBe(5);
  });
});

describe('slow mode', () => {
  it('lets a member send once per window over REST and the socket; refusals store nothing; retries of a stored message pass', async () => {
    const [alice, bob] = [await t.as('alice'), await t.as('bob')];
    const room = await group(alice, 'slow', ['bob']);
    expect((await alice.patch(`/rooms/${room.id}`, { slowModeS: 600 })).status).toBe(200);

    const first = await send(bob, room.id, 'first', 'slow-1');
    expect(first.status).toBe(201);
    const waited = expectSlowed(await send(bob, room.id, 'second'), 600);
    expect(first.headers.get('retry-after')).toBeNull();
    // The same clientMessageId again is the stored message, not a refusal.
    const retry = await send(bob, room.id, 'first', 'slow-1');
    expect({ status: retry.status, id: retry.body.id }).toEqual({ status: 200, id: first.body.id });
    // A refusal does not restart the window.
    expect(expectSlowed(await send(bob, room.id, 'third', 'slow-3'), 600)).toBeLessThanOrEqual(waited);

    const socket = await open(t, bob);
    const ack = await call(socket, 'send_message', { chatRoomId: room.id, content: 'over the socket', clientMessageId: 'slow-4' });
    expect(ack).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED', message: expect.stringMatching(/retry in \d+ s/) } });
    expect(await call(socket, 'send_message', { chatRoomId: room.id, content: 'first', clientMessageId: 'slow-1' })).toMatchObject({
      ok: true,
      data: { id: first.body.id },
    });
    expect(await historyOf(alice, room.id)).toEqual(['first']);
    expect((await bob.get(`/rooms/${room.id}`)).body.abilities).not.toContain('skip-slow-mode');
  });

  it('exempts the room’s owners and platform staff, and holds members of other rooms apart', async () => {
    const alice = await t.as('alice');
    const [bob, agent, admin] = [await t.as('bob'), await t.as('sam', { role: 'support' }), await t.as('ada', { role: 'admin' })];
    const room = await group(alice, 'exempt', ['bob', 'sam', 'ada']);
    const other = await group(alice, 'elsewhere', ['bob']);
    expect((await alice.patch(`/rooms/${room.id}`, { slowModeS: 600 })).status).toBe(200);
    expect((await alice.patch(`/rooms/${other.id}`, { slowModeS: 600 })).status).toBe(200);
    for (const c of [alice, agent, admin]) {
      expect((await send(c, room.id, `${c.userId} 1`)).status).toBe(201);
      expect((await send(c, room.id, `${c.userId} 2`)).status).toBe(201);
      expect((await c.get(`/rooms/${room.id}`)).body.abilities).toContain('skip-slow-mode');
    }
    expect((await send(bob, room.id, 'bob here')).status).toBe(201);
    expect((await send(bob, other.id, 'bob there')).status).toBe(201);
    expectSlowed(await send(bob, other.id, 'bob there again'), 600);
    // A stranger is not found, as ever (not slowed).
    expectProblem(await send(await t.as('stranger'), room.id, 'hi'), 404, 'NOT_FOUND');
  });

  it('is off at 0, and a new window length starts afresh', async () => {
    const [alice, bob] = [await t.as('alice'), await t.as('bob')];
    const room = await group(alice, 'toggle', ['bob']);
    expect((await alice.patch(`/rooms/${room.id}`, { slowModeS: 900 })).status).toBe(200);
    expect((await send(bob, room.id, 'one')).status).toBe(201);
    expectSlowed(await send(bob, room.id, 'two'), 900);
    expect((await alice.patch(`/rooms/${room.id}`, { slowModeS: 0 })).body.slowModeS).toBe(0);
    expect((await send(bob, room.id, 'three')).status).toBe(201);
    expect((await send(bob, room.id, 'four')).status).toBe(201);
    expect((await alice.patch(`/rooms/${room.id}`, { slowModeS: 10 })).status).toBe(200);
    expect((await send(bob, room.id, 'five')).status).toBe(201);
    expectSlowed(await send(bob, room.id, 'six'), 10);
    expect(await historyOf(bob, room.id)).toEqual(['one', 'three', 'four', 'five']);
  });
});

// Two instances of one deployment (one PostgreSQL database, one Redis): only on the PostgreSQL run with Redis.
const clustered = runsClustered();

describe.runIf(clustered)('slow mode across instances', () => {
  let peer: TestApp;
  beforeAll(async () => {
    peer = await startPeer(t);
  });
  afterAll(async () => {
    await peer?.close();
  });

  it('refuses the second send made on the other instance', async () => {
    const alice = await t.as('alice');
    const room = await group(alice, 'cluster', ['bob']);
    expect((await alice.patch(`/rooms/${room.id}`, { slowModeS: 600 })).status).toBe(200);
    const [bobA, bobB] = [await t.as('bob'), await peer.as('bob')];
    expect((await send(bobA, room.id, 'on A')).status).toBe(201);
    expectSlowed(await send(bobB, room.id, 'on B'), 600);
    const ack = await call(await open(peer, bobB), 'send_message', { chatRoomId: room.id, content: 'socket on B' });
    expect(ack).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
    expect(await historyOf(bobB, room.id)).toEqual(['on A']);
  });
});
