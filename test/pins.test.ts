import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import {
  getMessage,
  getRoom,
  ISO,
  MALFORMED_ID,
  nextEvent,
  ok,
  pin,
  recordMessageEvents,
  setRole,
  stateOf,
  UNKNOWN_ID,
  unpin,
} from './helpers/changes.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';
import { connect, sleep, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client, dave: Client, stranger: Client, agent: Client, root: Client;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000' });
  [alice, bob, carol, dave, stranger, agent, root] = await Promise.all([
    t.as('alice'),
    t.as('bob'),
    t.as('carol'),
    t.as('dave'),
    t.as('stranger'),
    t.as('agent', { role: 'support' }),
    t.as('root', { role: 'admin' }),
  ]);
  await agent.get('/rooms');
});
afterAll(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await t?.close();
});

/** A group of alice (owner), bob and carol. */
const group = async () => (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
const pinsPage = (c: Client, roomId: string, query = ''): Promise<Res> => c.get(`/rooms/${roomId}/pins${query}`);

describe('pin and unpin', () => {
  it('in a direct room either participant pins and unpins: pinnedAt/pinnedBy, changeSeq, pinnedCount', async () => {
    const r = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body.id;
    const fromBob = await buildMessage(bob, r, { content: 'pin me' });
    const fromAlice = await buildMessage(alice, r, { content: 'me too' });
    const before = await getRoom(bob, r);
    expect(before.pinnedCount).toBe(0);

    const pinned = await pin(alice, r, fromBob.id);
    expect(pinned.status).toBe(200);
    expect(pinned.body).toEqual({
      ...fromBob,
      pinnedAt: expect.stringMatching(ISO),
      pinnedBy: 'alice',
      changeSeq: before.lastChangeSeq + 1,
    });
    expect(await getMessage(bob, fromBob.id)).toEqual(pinned.body);
    expect(await getRoom(bob, r)).toMatchObject({ pinnedCount: 1, lastChangeSeq: before.lastChangeSeq + 1 });

    expect(ok(await pin(bob, r, fromAlice.id))).toMatchObject({ pinnedBy: 'bob', changeSeq: before.lastChangeSeq + 2 });
    expect((await getRoom(alice, r)).pinnedCount).toBe(2);

    const unpinned = await unpin(bob, r, fromBob.id);
    expect(unpinned.status).toBe(200);
    expect(unpinned.body).toEqual({ ...fromBob, pinnedAt: null, pinnedBy: null, changeSeq: before.lastChangeSeq + 3 });
    expect(await getMessage(alice, fromBob.id)).toEqual(unpinned.body);
    expect(await getRoom(alice, r)).toMatchObject({ pinnedCount: 1, lastChangeSeq: before.lastChangeSeq + 3 });
  });

  it('is idempotent both ways: a repeat answers the same message and is not a change', async () => {
    const r = await group();
    const m = await buildMessage(bob, r, { content: 'steady' });
    const first = ok(await pin(alice, r, m.id));
    const seqAfterPin = (await getRoom(bob, r)).lastChangeSeq;
    const again = await pin(alice, r, m.id);
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: first });
    expect(await getRoom(bob, r)).toMatchObject({ lastChangeSeq: seqAfterPin, pinnedCount: 1 });

    const off = ok(await unpin(alice, r, m.id));
    expect(off.changeSeq).toBe(seqAfterPin + 1);
    const offAgain = await unpin(alice, r, m.id);
    expect({ status: offAgain.status, body: offAgain.body }).toEqual({ status: 200, body: off });
    expect(await getRoom(bob, r)).toMatchObject({ lastChangeSeq: seqAfterPin + 1, pinnedCount: 0 });

    const never = await buildMessage(bob, r, { content: 'never pinned' });
    const untouched = await unpin(alice, r, never.id);
    expect({ status: untouched.status, body: untouched.body }).toEqual({ status: 200, body: never });
    expect((await getRoom(bob, r)).lastChangeSeq).toBe(never.changeSeq);
  });
});

describe('who may pin', () => {
  it('in a group: the owner and admins; a member is 403 both ways', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob', 'carol', 'dave'] })).id;
    await setRole(t, r, 'dave', 'admin');
    const [m1, m2] = [await buildMessage(carol, r, { content: 'one' }), await buildMessage(carol, r, { content: 'two' })];
    const before = await stateOf(bob, r, m1.id);
    expectProblem(await pin(carol, r, m1.id), 403, 'FORBIDDEN');
    expect(await stateOf(bob, r, m1.id)).toEqual(before);
    expect(ok(await pin(alice, r, m1.id)).pinnedBy).toBe('alice');
    expect(ok(await pin(dave, r, m2.id)).pinnedBy).toBe('dave');
    const pinned = await stateOf(bob, r, m1.id);
    expectProblem(await unpin(carol, r, m1.id), 403, 'FORBIDDEN');
    expect(await stateOf(bob, r, m1.id)).toEqual(pinned);
    expect(ok(await unpin(dave, r, m1.id)).pinnedAt).toBeNull();
  });

  it('in a business room: the owner yes, a member 403', async () => {
    const owner = await t.as('biz-owner', { businessIds: ['acme'] });
    const r = (await buildRoom(owner, { type: 'business', businessId: 'acme', participantIds: ['bob'] })).id;
    const m = await buildMessage(bob, r, { content: 'biz' });
    const before = await stateOf(bob, r, m.id);
    expectProblem(await pin(bob, r, m.id), 403, 'FORBIDDEN');
    expect(await stateOf(bob, r, m.id)).toEqual(before);
    expect(ok(await pin(owner, r, m.id)).pinnedBy).toBe('biz-owner');
  });

  it('in a support room: its participants; staff who have not joined 403; others 404', async () => {
    const customer = await t.as('customer-1');
    const r = (await customer.post('/rooms', { type: 'support' })).body.id;
    const joined = await t.as('agent-joined', { role: 'support' });
    expect((await joined.post(`/rooms/${r}/participants`, { userId: 'agent-joined' })).status).toBe(201);
    const [m1, m2] = [await buildMessage(customer, r, { content: 'help' }), await buildMessage(joined, r, { content: 'hello' })];
    const before = await stateOf(customer, r, m1.id);
    expectProblem(await pin(agent, r, m1.id), 403, 'FORBIDDEN');
    expectProblem(await pin(root, r, m1.id), 403, 'FORBIDDEN');
    expectProblem(await pin(stranger, r, m1.id), 404, 'NOT_FOUND');
    expect(await stateOf(customer, r, m1.id)).toEqual(before);
    expect(ok(await pin(customer, r, m1.id)).pinnedBy).toBe('customer-1');
    expect(ok(await pin(joined, r, m2.id)).pinnedBy).toBe('agent-joined');
    expect(ok(await unpin(joined, r, m1.id)).pinnedAt).toBeNull();
  });

  it('hides the room from non-participants (404), and a message not of that room is not found either', async () => {
    const r = await group();
    const elsewhere = await group();
    const m = await buildMessage(bob, r, { content: 'here' });
    const other = await buildMessage(bob, elsewhere, { content: 'there' });
    ok(await pin(alice, r, m.id));
    const before = await stateOf(bob, r, m.id);
    for (const who of [stranger, agent]) {
      expectProblem(await pin(who, r, m.id), 404, 'NOT_FOUND');
      expectProblem(await unpin(who, r, m.id), 404, 'NOT_FOUND');
      expectProblem(await pinsPage(who, r), 404, 'NOT_FOUND');
    }
    for (const id of [other.id, UNKNOWN_ID, MALFORMED_ID]) {
      expectProblem(await pin(alice, r, id), 404, 'NOT_FOUND');
      expectProblem(await unpin(alice, r, id), 404, 'NOT_FOUND');
    }
    for (const roomId of [UNKNOWN_ID, MALFORMED_ID]) {
      expectProblem(await pin(alice, roomId, m.id), 404, 'NOT_FOUND');
      expectProblem(await pinsPage(alice, roomId), 404, 'NOT_FOUND');
    }
    expect(await stateOf(bob, r, m.id)).toEqual(before);
    expect((await getMessage(bob, other.id)).pinnedAt).toBeNull();
  });
});

describe('GET /rooms/:id/pins', () => {
  it('lists pinned messages latest pin first, keyset paged', async () => {
    const r = await group();
    const ms = await buildMessages(bob, r, 5);
    for (const i of [2, 0, 4, 1, 3]) {
      ok(await pin(alice, r, ms[i]!.id));
      await sleep(3);
    }
    const expected = [3, 1, 4, 0, 2].map((i) => ms[i]!.id);
    const seen: any[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const res: Res = await pinsPage(carol, r, `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.data);
      pages.push(res.body.data.length);
      cursor = res.body.nextCursor;
    } while (cursor && pages.length < 10);
    expect(pages).toEqual([2, 2, 1]);
    expect(seen.map((m) => m.id)).toEqual(expected);
    for (const m of seen) expect(m).toEqual(await getMessage(carol, m.id));

    const all = await pinsPage(carol, r);
    expect(all.status).toBe(200);
    expect({ ids: all.body.data.map((m: any) => m.id), nextCursor: all.body.nextCursor }).toEqual({ ids: expected, nextCursor: null });

    // Unpinned leaves the list; pinned again comes first.
    ok(await unpin(alice, r, ms[4]!.id));
    ok(await unpin(alice, r, ms[2]!.id));
    await sleep(3);
    ok(await pin(alice, r, ms[2]!.id));
    expect((await pinsPage(carol, r)).body.data.map((m: any) => m.id)).toEqual([2, 3, 1, 0].map((i) => ms[i]!.id));
    expect((await getRoom(carol, r)).pinnedCount).toBe(4);
  });

  it('refuses a limit outside 1..100 with 400', async () => {
    const r = await group();
    for (const limit of ['0', '101', 'x']) expectProblem(await pinsPage(alice, r, `?limit=${limit}`), 400, 'VALIDATION_FAILED');
  });
});

describe('at most 50 pins a room', () => {
  it('refuses the 51st with 409 and changes nothing; a pinned one may be pinned again; a free slot takes it', async () => {
    const r = await group();
    const ms = await buildMessages(bob, r, 53);
    for (const m of ms.slice(0, 50)) ok(await pin(alice, r, m.id));
    expect((await getRoom(bob, r)).pinnedCount).toBe(50);
    const before = await stateOf(bob, r, ms[50]!.id);
    const refused = await pin(alice, r, ms[50]!.id);
    expectProblem(refused, 409, 'CONFLICT');
    expect(await stateOf(bob, r, ms[50]!.id)).toEqual(before);
    expect(ok(await pin(alice, r, ms[0]!.id)).id).toBe(ms[0]!.id);
    expect(await stateOf(bob, r, ms[50]!.id)).toEqual(before);

    // Two slots free, three pins at once: the count is kept under the room's lock, so exactly two win.
    ok(await unpin(alice, r, ms[0]!.id));
    ok(await unpin(alice, r, ms[1]!.id));
    const race = await Promise.all(ms.slice(50, 53).map((m) => pin(alice, r, m.id)));
    expect(race.map((res) => res.status).sort()).toEqual([200, 200, 409]);
    race.filter((res) => res.status === 409).forEach((res) => expectProblem(res, 409, 'CONFLICT'));
    expect((await getRoom(bob, r)).pinnedCount).toBe(50);
    let total = 0;
    for (let cursor: string | null = '', guard = 0; cursor !== null && guard < 10; guard++) {
      const res: Res = await pinsPage(bob, r, `?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      total += res.body.data.length;
      cursor = res.body.nextCursor;
    }
    expect(total).toBe(50);
  });
});

describe('message_updated on pin and unpin', () => {
  it('reaches the room as the REST answer; a repeat sends nothing; strangers hear nothing', async () => {
    const r = await group();
    const m = await buildMessage(bob, r, { content: 'announce me' });
    const [b, c, s] = [await open(bob), await open(carol), await open(stranger)];
    const heard = { bob: recordMessageEvents(b), stranger: recordMessageEvents(s) };
    const pinnedEvent = nextEvent(c, 'message_updated', (e) => e.id === m.id && e.pinnedAt !== null);
    const pinned = ok(await pin(alice, r, m.id));
    expect(await pinnedEvent).toEqual(pinned);
    ok(await pin(alice, r, m.id));
    const unpinnedEvent = nextEvent(c, 'message_updated', (e) => e.id === m.id && e.pinnedAt === null);
    const unpinned = ok(await unpin(alice, r, m.id));
    expect(await unpinnedEvent).toEqual(unpinned);
    expect(unpinned.changeSeq).toBe(pinned.changeSeq + 1);
    ok(await unpin(alice, r, m.id));
    await sleep(300);
    expect(heard.bob).toEqual([
      { event: 'message_updated', payload: pinned },
      { event: 'message_updated', payload: unpinned },
    ]);
    expect(heard.stranger).toEqual([]);
  });
});

async function open(c: Client): Promise<ClientSocket> {
  const s = await connect(t.baseUrl, c.token);
  sockets.push(s);
  return s;
}
