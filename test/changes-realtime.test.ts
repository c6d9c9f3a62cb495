import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { deleteMessage as remove, pin as pinOn, react as reactOn, unpin, unreact } from './helpers/changes.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';
import { call, connect, sleep, type ClientSocket } from './helpers/sockets.js';
import { runsClustered } from './helpers/redis.js';

const CHANGE_EVENTS = new Set(['new_message', 'message_updated', 'message_deleted', 'reaction_updated']);
const ENV = { RATE_LIMIT_WRITES_PER_MINUTE: '1000000', PRESENCE_GRACE_MS: '2000' };

interface Heard {
  event: string;
  changeSeq: number;
  payload: any;
}

let t: TestApp;
let alice: Client, bob: Client, carol: Client;
const sockets: ClientSocket[] = [];

async function open(app: TestApp, c: Client, opts: { ready?: boolean } = {}): Promise<ClientSocket> {
  const s = await connect(app.baseUrl, c.token, opts);
  sockets.push(s);
  return s;
}

/** The change events of one room a socket receives from now on (acking new_message, as a client does). */
function heard(socket: ClientSocket, roomId: string): Heard[] {
  const seen: Heard[] = [];
  socket.onAny((event: string, payload: any, ack?: unknown) => {
    if (typeof ack === 'function') ack();
    if (CHANGE_EVENTS.has(event) && payload?.chatRoomId === roomId) seen.push({ event, changeSeq: payload.changeSeq, payload });
  });
  return seen;
}

async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !done(); await sleep(20)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const lastChangeSeq = async (c: Client, roomId: string) => (await c.get(`/rooms/${roomId}`)).body.lastChangeSeq as number;
const edit = (c: Client, id: string, content: string) => c.patch(`/messages/${id}`, { content });
const react = (c: Client, id: string, emoji: string, on = true) => (on ? reactOn : unreact)(c, id, emoji);
const pin = (c: Client, roomId: string, id: string, on = true) => (on ? pinOn : unpin)(c, roomId, id);

async function ok(res: Promise<Res>): Promise<any> {
  const r = await res;
  if (r.status !== 200 && r.status !== 201) throw new Error(`expected success, got ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** What a broadcast Message is: the REST answer with nobody's `me`. */
const broadcast = (m: any) => ({ ...m, reactions: m.reactions.map((r: any) => ({ ...r, me: false })) });

/** Many writes of every kind at once on `app`, by alice (owner), bob and carol; writes racing a delete may be 404. */
async function burst(app: TestApp, roomId: string, seed: any[], n: number): Promise<void> {
  const [a, b, c] = await Promise.all([app.as('alice'), app.as('bob'), app.as('carol')]);
  const by: Record<string, Client> = { alice: a, bob: b, carol: c };
  const doomed = new Set(seed.filter((_, i) => i % 7 === 3).map((m) => m.id));
  const ops = Array.from({ length: n }, (_, i) => {
    const m = seed[(i * 5) % seed.length];
    const u = [a, b, c][i % 3]!;
    switch (i % 6) {
      case 0:
        return u.post(`/rooms/${roomId}/messages`, { content: `burst ${i}` });
      case 1:
        return edit(by[m.senderId]!, m.id, `edit ${i}`);
      case 2:
        return doomed.has(m.id) ? remove(a, m.id) : react(u, m.id, '🔥', i % 4 !== 0);
      case 3:
        return pin(a, roomId, m.id, i % 4 === 1);
      default:
        return react(u, m.id, ['👍', '🎉'][i % 2]!);
    }
  });
  for (const [i, res] of (await Promise.all(ops)).entries()) {
    const target = seed[(i * 5) % seed.length];
    if (res.status >= 300 && !(res.status === 404 && doomed.has(target.id)))
      throw new Error(`op ${i}: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

/** Every change of the room, each once, in strictly increasing changeSeq: N+1 … lastChangeSeq with no gap. */
async function expectEveryChangeInOrder(seen: Heard[], roomId: string, from: number, reader: Client): Promise<void> {
  const last = await lastChangeSeq(reader, roomId);
  await until(`changeSeq ${last}`, () => seen.length >= last - from);
  await sleep(100); // nothing more (no duplicates) arrives after
  expect(seen.map((e) => e.changeSeq)).toEqual(range(from + 1, last));
}

beforeAll(async () => {
  t = await startTestApp(ENV);
  [alice, bob, carol] = await Promise.all([t.as('alice'), t.as('bob'), t.as('carol')]);
});
afterEach(() => sockets.splice(0).forEach((s) => s.close()));
afterAll(async () => t?.close());

describe('change events on one instance', () => {
  it('new_message carries the changeSeq of the send, over REST and over the socket', async () => {
    const room = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    const seen = heard(await open(t, bob), room);
    const rest = await buildMessage(alice, room, { content: 'rest' });
    const ack = await call(await open(t, alice), 'send_message', { chatRoomId: room, content: 'socket' });
    expect(ack.ok).toBe(true);
    await until('two messages', () => seen.length === 2);
    expect(seen.map((e) => [e.event, e.changeSeq])).toEqual([
      ['new_message', 1],
      ['new_message', 2],
    ]);
    expect(seen[0]!.payload).toEqual(rest);
    expect(seen[1]!.payload).toEqual(ack.ok && ack.data);
    expect(rest.changeSeq).toBe(1);
  });

  it('announces every REST change to the room, the writer’s own sockets included, each with its changeSeq', async () => {
    const room = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const [m1, m2] = await buildMessages(alice, room, 2);
    const n = await lastChangeSeq(alice, room);
    const toBob = heard(await open(t, bob), room);
    const toAlice = heard(await open(t, alice), room);

    const r1 = await ok(react(carol, m1!.id, '👍'));
    const r2 = await ok(react(alice, m1!.id, '🎉'));
    const edited = await ok(edit(alice, m1!.id, 'edited'));
    const pinned = await ok(pin(alice, room, m1!.id));
    const unpinned = await ok(pin(alice, room, m1!.id, false));
    const r3 = await ok(react(carol, m1!.id, '👍', false));
    await ok(pin(alice, room, m2!.id));
    await ok(react(bob, m2!.id, '👀'));
    // A delete that also unpins and drops reactions is one change, announced by message_deleted alone.
    const tomb = await ok(remove(alice, m2!.id));
    await expectEveryChangeInOrder(toBob, room, n, alice);

    expect(toBob.map((e) => e.event)).toEqual([
      'reaction_updated',
      'reaction_updated',
      'message_updated',
      'message_updated',
      'message_updated',
      'reaction_updated',
      'message_updated',
      'reaction_updated',
      'message_deleted',
    ]);
    expect(toBob[0]!.payload).toMatchObject({ messageId: m1!.id, changeSeq: r1.changeSeq, userId: 'carol', added: true, count: 1 });
    expect(toBob[1]!.payload).toMatchObject({ changeSeq: r2.changeSeq, emoji: '🎉', userId: 'alice' });
    expect(toBob[2]!.payload).toEqual(broadcast(edited));
    expect(toBob[2]!.payload.reactions).toEqual([
      { emoji: '👍', count: 1, me: false },
      { emoji: '🎉', count: 1, me: false },
    ]);
    expect(toBob[3]!.payload).toEqual(broadcast(pinned));
    expect(toBob[3]!.payload.pinnedBy).toBe('alice');
    expect(toBob[4]!.payload).toEqual(broadcast(unpinned));
    expect(toBob[4]!.payload.pinnedAt).toBeNull();
    expect(toBob[5]!.payload).toMatchObject({ changeSeq: r3.changeSeq, added: false, count: 0, reactions: [{ emoji: '🎉', count: 1 }] });
    expect(toBob[8]!.payload).toEqual({
      chatRoomId: room,
      id: m2!.id,
      seq: m2!.seq,
      changeSeq: tomb.changeSeq,
      deletedAt: tomb.deletedAt,
      deletedBy: 'alice',
    });
    await until('alice’s own copy', () => toAlice.length === toBob.length);
    expect(toAlice).toEqual(toBob);
  });

  it('emits the events of a room in strictly increasing changeSeq, none missing, under concurrent writes', async () => {
    const room = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const seed = [...(await buildMessages(bob, room, 8)), ...(await buildMessages(carol, room, 8))];
    const n = await lastChangeSeq(alice, room);
    const seen = heard(await open(t, bob), room);
    await burst(t, room, seed, 150);
    await expectEveryChangeInOrder(seen, room, n, alice);
  }, 30_000);
});

describe('session recovery', () => {
  it('hands a socket back the edits, deletes, reactions and pins made while it was away', async () => {
    const room = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const [m1, m2, m3] = await buildMessages(alice, room, 3);
    const live = heard(await open(t, carol), room);
    const b = await open(t, bob, { ready: true }); // 'ready' gives the client its recovery offset
    const seen = heard(b, room);
    const n = await lastChangeSeq(alice, room);
    await ok(react(alice, m1!.id, '👍'));
    await until('the first change', () => seen.length === 1);
    await sleep(100);

    // The transport drops (the server sees "transport close") and stays down until every write below is made.
    b.io.engine.close();
    await until('the drop', () => !b.connected);
    await ok(edit(alice, m1!.id, 'edited while away'));
    await ok(react(carol, m1!.id, '🎉'));
    await ok(pin(alice, room, m2!.id));
    await ok(remove(alice, m3!.id));
    await buildMessage(carol, room, { content: 'sent while away' });
    await ok(react(alice, m1!.id, '👍', false));
    expect(seen).toHaveLength(1);
    const back = new Promise<void>((resolve) => b.once('connect', () => resolve()));
    b.connect();
    await back;
    expect(b.recovered).toBe(true);

    const last = await lastChangeSeq(alice, room);
    await until('every missed change', () => seen.length >= last - n);
    await sleep(200);
    const bySeq = (xs: Heard[]) => [...xs].sort((x, y) => x.changeSeq - y.changeSeq);
    expect(bySeq(seen).map((e) => e.changeSeq)).toEqual(range(n + 1, last));
    expect(bySeq(seen).map((e) => e.event)).toEqual([
      'reaction_updated',
      'message_updated',
      'reaction_updated',
      'message_updated',
      'message_deleted',
      'new_message',
      'reaction_updated',
    ]);
    // The same events a socket that never left received.
    await until('the live copy', () => live.length === seen.length);
    expect(bySeq(seen)).toEqual(live);
  });
});

// Two instances of one deployment (one PostgreSQL database, one Redis): only on the PostgreSQL run with Redis.
const clustered = runsClustered();

describe.runIf(clustered)('change events across instances', () => {
  let b: TestApp;
  beforeAll(async () => {
    b = await startPeer(t);
  });
  afterAll(async () => b?.close());

  it('delivers each change written on instance A to a socket on instance B, in order, equal to A’s own', async () => {
    const room = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const [m1, m2] = await buildMessages(alice, room, 2);
    const n = await lastChangeSeq(alice, room);
    const onB = heard(await open(b, await b.as('bob')), room);
    const onA = heard(await open(t, carol), room);
    await buildMessage(alice, room, { content: 'from A' });
    await ok(edit(alice, m1!.id, 'edited on A'));
    await ok(react(carol, m1!.id, '👍'));
    await ok(pin(alice, room, m1!.id));
    await ok(pin(alice, room, m1!.id, false));
    await ok(react(carol, m1!.id, '👍', false));
    await ok(remove(alice, m2!.id));
    await expectEveryChangeInOrder(onB, room, n, alice);
    expect(onB.map((e) => e.event)).toEqual([
      'new_message',
      'message_updated',
      'reaction_updated',
      'message_updated',
      'message_updated',
      'reaction_updated',
      'message_deleted',
    ]);
    await until('the copy on A', () => onA.length === onB.length);
    expect(onB).toEqual(onA);
  });

  it('delivers concurrent bursts written on A to B: every change, strictly increasing changeSeq', async () => {
    const room = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const seed = [...(await buildMessages(bob, room, 8)), ...(await buildMessages(carol, room, 8))];
    const n = await lastChangeSeq(alice, room);
    const onB = heard(await open(b, await b.as('bob')), room);
    for (let round = 0; round < 3; round++) await burst(t, room, seed, 120);
    await expectEveryChangeInOrder(onB, room, n, alice);
  }, 60_000);
});

describe.runIf(!clustered)('change events across instances', () => {
  it('need PostgreSQL and Redis (TEST_DATABASE_URL and TEST_REDIS_URL); on this run the suite is skipped', () => {
    expect(clustered).toBe(false);
  });
});
