import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { deleteMessage, getMessage, MALFORMED_ID, react, UNKNOWN_ID, unreact } from './helpers/changes.js';
import { buildMessage, buildRoom } from './helpers/factories.js';
import { connect, record, recordAll, sleep, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client, stranger: Client;
/** alice (owner), bob, carol */
let room: string;
const sockets: ClientSocket[] = [];

const key = (emoji: string) => encodeURIComponent(emoji);
const lastChangeSeq = async (roomId: string) => (await alice.get(`/rooms/${roomId}`)).body.lastChangeSeq as number;

/** Every reactor of a message, paged to the end with `query`. */
async function reactors(c: Client, id: string, query = ''): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const res: Res = await c.get(`/messages/${id}/reactions?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status).toBe(200);
    out.push(...res.body.data);
    cursor = res.body.nextCursor;
  } while (cursor);
  return out;
}

async function open(c: Client): Promise<ClientSocket> {
  const s = await connect(t.baseUrl, c.token);
  sockets.push(s);
  return s;
}

/** A message and what a refused reaction must leave untouched. */
async function fresh(): Promise<{ id: string; before: any; roomSeq: number }> {
  const m = await buildMessage(alice, room);
  return { id: m.id, before: await getMessage(alice, m.id), roomSeq: await lastChangeSeq(room) };
}
async function expectUntouched(f: { id: string; before: any; roomSeq: number }): Promise<void> {
  expect(await getMessage(alice, f.id)).toEqual(f.before);
  expect(await reactors(alice, f.id)).toEqual([]);
  expect(await lastChangeSeq(room)).toBe(f.roomSeq);
}

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '1000000' });
  [alice, bob, carol, stranger] = await Promise.all([t.as('alice'), t.as('bob'), t.as('carol'), t.as('stranger')]);
  room = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
});
afterEach(() => sockets.splice(0).forEach((s) => s.close()));
afterAll(async () => t?.close());

describe('PUT and DELETE /messages/:id/reactions/:emoji', () => {
  it('adds a reaction: counts, me for the caller, order of first use, one new changeSeq per change', async () => {
    const m = await buildMessage(alice, room);
    const first = await react(bob, m.id, '👍');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: m.id, seq: m.seq, content: 'hello', reactions: [{ emoji: '👍', count: 1, me: true }] });
    expect(first.body.changeSeq).toBe(m.changeSeq + 1);
    expect(await lastChangeSeq(room)).toBe(first.body.changeSeq);
    expect((await getMessage(alice, m.id)).reactions).toEqual([{ emoji: '👍', count: 1, me: false }]);

    expect((await react(carol, m.id, '🎉')).body.reactions).toEqual([
      { emoji: '👍', count: 1, me: false },
      { emoji: '🎉', count: 1, me: true },
    ]);
    const third = await react(alice, m.id, '🎉');
    expect(third.body.reactions).toEqual([
      { emoji: '👍', count: 1, me: false },
      { emoji: '🎉', count: 2, me: true },
    ]);
    expect(third.body.changeSeq).toBe(m.changeSeq + 3);
  });

  it('a repeated reaction is no change: the same answer, no new changeSeq, no event, one row', async () => {
    const m = await buildMessage(alice, room);
    const socket = await open(alice);
    const events = record(socket, 'reaction_updated');
    const first = await react(bob, m.id, '👍');
    expect(first.status).toBe(200);
    await sleep(200);
    expect(events).toHaveLength(1);
    const again = await react(bob, m.id, '👍');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await lastChangeSeq(room)).toBe(first.body.changeSeq);
    await sleep(200);
    expect(events).toHaveLength(1);
    expect((await reactors(alice, m.id)).map((r) => r.userId)).toEqual(['bob']);
  });

  it('removes a reaction, idempotently; an emoji nobody holds any more leaves the list', async () => {
    const m = await buildMessage(alice, room);
    await react(bob, m.id, '👍');
    const both = await react(carol, m.id, '👍');
    const removed = await unreact(bob, m.id, '👍');
    expect(removed.status).toBe(200);
    expect(removed.body.reactions).toEqual([{ emoji: '👍', count: 1, me: false }]);
    expect(removed.body.changeSeq).toBe(both.body.changeSeq + 1);
    const again = await unreact(bob, m.id, '👍');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(removed.body);
    const never = await unreact(bob, m.id, '🎉');
    expect(never.status).toBe(200);
    expect(never.body).toEqual(removed.body);
    expect(await lastChangeSeq(room)).toBe(removed.body.changeSeq);
    const last = await unreact(carol, m.id, '👍');
    expect(last.body.reactions).toEqual([]);
    expect(await reactors(alice, m.id)).toEqual([]);
  });
});

describe('reaction keys', () => {
  it.each([
    ['\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', 'a ZWJ family'],
    ['\u{1F44D}\u{1F3FD}', 'a skin tone'],
    ['\u{1F1EB}\u{1F1F7}', 'a flag'],
    ['1\uFE0F\u20E3', 'a keycap'],
    [':thumbsup:', 'a shortcode'],
    [':+1:', 'a shortcode with +'],
  ])('accepts %s (%s), URL-encoded, and stores it exactly as sent', async (emoji) => {
    const m = await buildMessage(alice, room);
    const res = await react(bob, m.id, emoji);
    expect(res.status).toBe(200);
    expect(res.body.reactions).toEqual([{ emoji, count: 1, me: true }]);
    expect((await reactors(alice, m.id, `emoji=${key(emoji)}`)).map((r) => [r.emoji, r.userId])).toEqual([[emoji, 'bob']]);
    expect((await unreact(bob, m.id, emoji)).body.reactions).toEqual([]);
  });

  it('keeps ❤ and ❤️ (with VS16) as two keys', async () => {
    const m = await buildMessage(alice, room);
    await react(bob, m.id, '\u2764');
    const res = await react(bob, m.id, '\u2764\uFE0F');
    expect(res.body.reactions).toEqual([
      { emoji: '\u2764', count: 1, me: true },
      { emoji: '\u2764\uFE0F', count: 1, me: true },
    ]);
    expect((await reactors(alice, m.id, `emoji=${key('\u2764')}`)).map((r) => r.emoji)).toEqual(['\u2764']);
  });

  it.each([
    ['😀😀', 'two emoji'],
    ['abc', 'plain text'],
    [':UPPER:', 'capitals in a shortcode'],
    [`:${'a'.repeat(33)}:`, 'a 33-character shortcode'],
    ['::', 'an empty shortcode'],
    ['<b>x</b>', 'markup'],
    ['', 'nothing'],
  ])('refuses %j (%s) with 400 VALIDATION_FAILED and stores nothing', async (emoji) => {
    const f = await fresh();
    expectProblem(await react(bob, f.id, emoji), 400, 'VALIDATION_FAILED');
    await expectUntouched(f);
  });
});

describe('limits and races', () => {
  it('takes 50 distinct emoji, refuses the 51st with 409 CONFLICT, and still takes one already there', async () => {
    const f = await fresh();
    for (let i = 0; i < 50; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => react(alice, f.id, `:e${i + j}:`)));
    const full = await getMessage(alice, f.id);
    expect(full.reactions).toHaveLength(50);
    expectProblem(await react(bob, f.id, ':e50:'), 409, 'CONFLICT');
    expect(await getMessage(alice, f.id)).toEqual(full);
    expect(await lastChangeSeq(room)).toBe(full.changeSeq);
    const existing = await react(bob, f.id, ':e7:');
    expect(existing.status).toBe(200);
    expect(existing.body.reactions).toHaveLength(50);
    expect(existing.body.reactions.find((r: any) => r.emoji === ':e7:')).toEqual({ emoji: ':e7:', count: 2, me: true });
  });

  it('holds the cap under 60 concurrent distinct emoji: exactly 50 taken, 10 refused', async () => {
    const m = await buildMessage(alice, room);
    const all = await Promise.all(Array.from({ length: 60 }, (_, i) => react(i % 2 ? bob : carol, m.id, `:c${i}:`)));
    expect(all.filter((r) => r.status === 200)).toHaveLength(50);
    expect(all.filter((r) => r.status === 409 && r.body.code === 'CONFLICT')).toHaveLength(10);
    const taken = all.flatMap((r, i) => (r.status === 200 ? [`:c${i}:`] : []));
    expect(new Set((await getMessage(alice, m.id)).reactions.map((r: any) => r.emoji))).toEqual(new Set(taken));
    expect(await lastChangeSeq(room)).toBe(m.changeSeq + 50);
  });

  it('counts 20 concurrent identical reactions of one user once', async () => {
    const m = await buildMessage(alice, room);
    const all = await Promise.all(Array.from({ length: 20 }, () => react(bob, m.id, '👍')));
    expect(all.map((r) => r.status)).toEqual(Array(20).fill(200));
    for (const r of all) expect(r.body.reactions).toEqual([{ emoji: '👍', count: 1, me: true }]);
    expect(await reactors(alice, m.id)).toHaveLength(1);
    expect(await lastChangeSeq(room)).toBe(m.changeSeq + 1);
  });

  it('counts concurrent reactions of 20 users exactly; the events count 1 to 20 in changeSeq order', async () => {
    const users = Array.from({ length: 20 }, (_, i) => `fan${i}`);
    const r = (await buildRoom(alice, { participantIds: users })).id;
    const fans = await Promise.all(users.map((u) => t.as(u)));
    const m = await buildMessage(alice, r);
    const events = record(await open(alice), 'reaction_updated');
    const all = await Promise.all(fans.map((c) => react(c, m.id, '🔥')));
    expect(all.map((x) => x.status)).toEqual(Array(20).fill(200));
    expect((await getMessage(alice, m.id)).reactions).toEqual([{ emoji: '🔥', count: 20, me: false }]);
    expect(await lastChangeSeq(r)).toBe(m.changeSeq + 20);
    for (let i = 0; i < 50 && events.length < 20; i++) await sleep(50);
    expect(events.map((e) => e.changeSeq)).toEqual(Array.from({ length: 20 }, (_, i) => m.changeSeq + 1 + i));
    expect(events.map((e) => e.count)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.userId))).toEqual(new Set(users));
  });
});

describe('GET /messages/:id/reactions', () => {
  it('lists who reacted in the order of reacting, filters by emoji, and pages by cursor to the end', async () => {
    const m = await buildMessage(alice, room);
    const order: Array<[string, string]> = [
      ['bob', '👍'],
      ['carol', '🎉'],
      ['alice', '👍'],
      ['carol', '👍'],
      ['bob', '🎉'],
    ];
    const by: Record<string, Client> = { alice, bob, carol };
    for (const [u, e] of order) {
      await react(by[u]!, m.id, e);
      await sleep(5); // distinct createdAt: the order asserted is the order of reacting
    }
    const whole = await alice.get(`/messages/${m.id}/reactions`);
    expect(whole.status).toBe(200);
    expect(whole.body.nextCursor).toBeNull();
    expect(whole.body.data.map((r: any) => [r.userId, r.emoji])).toEqual(order);
    for (const row of whole.body.data) expect(Object.keys(row).sort()).toEqual(['createdAt', 'emoji', 'userId']);
    expect(await reactors(carol, m.id, 'limit=2')).toEqual(whole.body.data);
    const paged = await alice.get(`/messages/${m.id}/reactions?limit=2`);
    expect(paged.body.data).toHaveLength(2);
    expect(typeof paged.body.nextCursor).toBe('string');
    expect((await reactors(bob, m.id, `emoji=${key('👍')}&limit=1`)).map((r) => r.userId)).toEqual(['bob', 'alice', 'carol']);
    expect((await reactors(bob, m.id, `emoji=${key('😮')}`)).map((r) => r.userId)).toEqual([]);
  });

  it('refuses a limit outside 1..100 with 400', async () => {
    const m = await buildMessage(alice, room);
    expectProblem(await alice.get(`/messages/${m.id}/reactions?limit=0`), 400, 'VALIDATION_FAILED');
    expectProblem(await alice.get(`/messages/${m.id}/reactions?limit=101`), 400, 'VALIDATION_FAILED');
  });
});

describe('me, per caller', () => {
  it('is true only for the reactor, in history, in GET /messages/:id and in the change log', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const m = await buildMessage(carol, r);
    await buildMessage(carol, r, { content: 'no reactions' });
    await react(bob, m.id, '👀');
    for (const [c, me] of [
      [alice, false],
      [bob, true],
      [carol, false],
    ] as const) {
      const hist = await c.get(`/rooms/${r}/messages`);
      expect(hist.body.data.map((x: any) => x.reactions)).toEqual([[{ emoji: '👀', count: 1, me }], []]);
      expect((await getMessage(c, m.id)).reactions).toEqual([{ emoji: '👀', count: 1, me }]);
      const changes = await c.get(`/rooms/${r}/changes`);
      expect(changes.body.data.find((x: any) => x.id === m.id).reactions).toEqual([{ emoji: '👀', count: 1, me }]);
    }
  });
});

describe('who may react', () => {
  it('answers 404 to a non-participant and for an unknown message, and stores nothing', async () => {
    const f = await fresh();
    expectProblem(await react(stranger, f.id, '👍'), 404, 'NOT_FOUND');
    expectProblem(await unreact(stranger, f.id, '👍'), 404, 'NOT_FOUND');
    expectProblem(await stranger.get(`/messages/${f.id}/reactions`), 404, 'NOT_FOUND');
    await expectUntouched(f);
    expectProblem(await react(bob, UNKNOWN_ID, '👍'), 404, 'NOT_FOUND');
    expectProblem(await react(bob, MALFORMED_ID, '👍'), 404, 'NOT_FOUND');
  });

  it('answers 404 on a deleted message, which keeps no reactions', async () => {
    const m = await buildMessage(alice, room);
    await react(bob, m.id, '👍');
    const tomb = await deleteMessage(alice, m.id);
    expect(tomb.status).toBe(200);
    expect(tomb.body.reactions).toEqual([]);
    expectProblem(await react(bob, m.id, '🎉'), 404, 'NOT_FOUND');
    expectProblem(await unreact(bob, m.id, '👍'), 404, 'NOT_FOUND');
    expect(await getMessage(alice, m.id)).toEqual(tomb.body);
    expect(await lastChangeSeq(room)).toBe(tomb.body.changeSeq);
  });

  it('answers 403 to support staff reading a support room they did not join', async () => {
    const customer = await t.as('customer');
    const support = (await customer.post('/rooms', { type: 'support' })).body.id;
    const m = await buildMessage(customer, support);
    const agent = await t.as('agent', { role: 'support' });
    expect((await agent.get(`/messages/${m.id}`)).status).toBe(200);
    expectProblem(await react(agent, m.id, '👍'), 403, 'FORBIDDEN');
    expect((await getMessage(customer, m.id)).reactions).toEqual([]);
    expect((await customer.get(`/rooms/${support}`)).body.lastChangeSeq).toBe(m.changeSeq);
  });
});

describe('reaction_updated', () => {
  it('reaches another participant with exactly the contract payload and the whole list after the change', async () => {
    const m = await buildMessage(alice, room);
    const events = record(await open(bob), 'reaction_updated');
    const strangerHeard = recordAll(await open(stranger));
    const a = await react(alice, m.id, '👍');
    const c = await react(carol, m.id, '🎉');
    const d = await unreact(alice, m.id, '👍');
    for (let i = 0; i < 50 && events.length < 3; i++) await sleep(20);
    const base = { chatRoomId: room, messageId: m.id };
    expect(events).toEqual([
      { ...base, changeSeq: a.body.changeSeq, emoji: '👍', userId: 'alice', added: true, count: 1, reactions: [{ emoji: '👍', count: 1 }] },
      {
        ...base,
        changeSeq: c.body.changeSeq,
        emoji: '🎉',
        userId: 'carol',
        added: true,
        count: 1,
        reactions: [
          { emoji: '👍', count: 1 },
          { emoji: '🎉', count: 1 },
        ],
      },
      {
        ...base,
        changeSeq: d.body.changeSeq,
        emoji: '👍',
        userId: 'alice',
        added: false,
        count: 0,
        reactions: [{ emoji: '🎉', count: 1 }],
      },
    ]);
    expect(strangerHeard).toEqual([]);
  });
});
