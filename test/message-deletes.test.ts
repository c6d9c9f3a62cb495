import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import {
  deleteMessage,
  editMessage,
  getEdits,
  getMessage,
  getRoom,
  history,
  ISO,
  MALFORMED_ID,
  nextEvent,
  ok,
  pin,
  react,
  recordMessageEvents,
  searchIds,
  setRole,
  sideRows,
  stateOf,
  UNKNOWN_ID,
  unpin,
  unreact,
} from './helpers/changes.js';
import { buildMessage, buildRoom } from './helpers/factories.js';
import { connect, sleep, type ClientSocket } from './helpers/sockets.js';
import { png } from './media-fixtures.js';
import { fetchBytes, form } from './media-helpers.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client, dave: Client, stranger: Client, agent: Client, root: Client;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000' });
  [alice, bob, carol, dave, stranger, agent, root] = await Promise.all([
    t.as('alice', { name: 'Alice' }),
    t.as('bob', { name: 'Bob' }),
    t.as('carol'),
    t.as('dave'),
    t.as('stranger'),
    t.as('agent', { role: 'support' }),
    t.as('root', { role: 'admin' }),
  ]);
  // Staff are added to support rooms by id: the service must have seen them.
  await agent.get('/rooms');
});
afterAll(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await t?.close();
});

/** A group of alice (owner), bob and carol. */
const group = async () => (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;

/** What a delete leaves of `sent` (as its sender got it back when sending): the tombstone of API.md. */
const tombstoneOf = (sent: any, deletedBy: string) => ({
  ...sent,
  content: '',
  mentions: [],
  media: [],
  reactions: [],
  pinnedAt: null,
  pinnedBy: null,
  editedAt: null,
  deletedAt: expect.stringMatching(ISO),
  deletedBy,
  changeSeq: expect.any(Number),
});

describe('DELETE /messages/:id', () => {
  it('answers the tombstone and erases everything else, keeping the message in its place', async () => {
    const r = await group();
    const first = await buildMessage(alice, r, { content: 'before' });
    const sent = await buildMessage(alice, r, { content: 'secret words', mentions: ['bob'], replyToId: first.id, clientMessageId: 'd-1' });
    await buildMessage(bob, r, { content: 'after' });
    ok(await editMessage(alice, sent.id, { content: 'secret words, edited' }));
    ok(await pin(alice, r, sent.id));
    ok(await react(bob, sent.id, '👍'));
    const before = await getRoom(bob, r);
    expect(before.pinnedCount).toBe(1);

    const res = await deleteMessage(alice, sent.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...tombstoneOf(sent, 'alice'), changeSeq: before.lastChangeSeq + 1 });
    expect(res.body.replyTo).toEqual({ id: first.id, seq: 1, senderId: 'alice', type: 'text', content: 'before', deletedAt: null });

    expect(await getMessage(bob, sent.id)).toEqual(res.body);
    const hist = await history(bob, r);
    expect(hist.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(hist[1]).toEqual(res.body);
    expect(await getRoom(bob, r)).toMatchObject({ lastSeq: 3, lastChangeSeq: before.lastChangeSeq + 1, pinnedCount: 0 });
    expect((await bob.get(`/messages/${sent.id}/edits`)).body).toEqual({ data: [] });
    expect((await bob.get(`/messages/${sent.id}/reactions`)).body).toEqual({ data: [], nextCursor: null });
    expect((await bob.get(`/rooms/${r}/pins`)).body).toEqual({ data: [], nextCursor: null });
    expect(await sideRows(t, sent.id)).toEqual({ edits: 0, reactions: 0 });
  });

  it('is idempotent: deleting a tombstone again answers 200 with the same tombstone and changes nothing', async () => {
    const r = await group();
    const sent = await buildMessage(bob, r, { content: 'twice' });
    const tombstone = ok(await deleteMessage(bob, sent.id));
    const lastChangeSeq = (await getRoom(carol, r)).lastChangeSeq;
    for (const who of [bob, alice, root]) {
      const again = await deleteMessage(who, sent.id);
      expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: tombstone });
    }
    expect((await getRoom(carol, r)).lastChangeSeq).toBe(lastChangeSeq);
    expect(await getMessage(carol, sent.id)).toEqual(tombstone);
  });

  it('hides a message from non-participants: 404, as an unknown or malformed id', async () => {
    const r = await group();
    const sent = await buildMessage(alice, r, { content: 'not yours' });
    const before = await stateOf(bob, r, sent.id);
    expectProblem(await deleteMessage(stranger, sent.id), 404, 'NOT_FOUND');
    // Support staff read support rooms only.
    expectProblem(await deleteMessage(agent, sent.id), 404, 'NOT_FOUND');
    for (const id of [UNKNOWN_ID, MALFORMED_ID]) expectProblem(await deleteMessage(alice, id), 404, 'NOT_FOUND');
    expect(await stateOf(bob, r, sent.id)).toEqual(before);
  });

  it('deletes the files of a media message: type stays, media is empty, the signed URL stops working', async () => {
    const r = await group();
    const fd = form([{ name: 'p.png', type: 'image/png', data: await png() }], { content: 'pic' });
    const sent = await alice.raw(`/rooms/${r}/messages`, { method: 'POST', body: fd });
    expect(sent.status).toBe(201);
    const url = String(sent.body.media[0].url).replace(t.config.publicUrl, t.baseUrl);
    expect((await fetchBytes(url)).status).toBe(200);
    const res = ok(await deleteMessage(alice, sent.body.id));
    expect(res).toMatchObject({ type: 'image', content: '', media: [], deletedBy: 'alice' });
    expect((await fetchBytes(url)).status).not.toBe(200);
  });
});

describe('who may delete', () => {
  it('in a group: the sender, the owner and admins; a member deleting another’s message is 403', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob', 'carol', 'dave'] })).id;
    await setRole(t, r, 'dave', 'admin');
    const [m1, m2, m3, m4] = [
      await buildMessage(bob, r, { content: 'one' }),
      await buildMessage(carol, r, { content: 'two' }),
      await buildMessage(bob, r, { content: 'three' }),
      await buildMessage(alice, r, { content: 'four' }),
    ];
    const before = await stateOf(alice, r, m1.id);
    expectProblem(await deleteMessage(carol, m1.id), 403, 'FORBIDDEN');
    expect(await stateOf(alice, r, m1.id)).toEqual(before);
    expect(ok(await deleteMessage(alice, m1.id)).deletedBy).toBe('alice');
    expect(ok(await deleteMessage(dave, m2.id)).deletedBy).toBe('dave');
    expect(ok(await deleteMessage(bob, m3.id)).deletedBy).toBe('bob');
    // A room admin may delete the owner's message too: the rule names the room's owners and admins, not whose message.
    expect(ok(await deleteMessage(dave, m4.id)).deletedBy).toBe('dave');
  });

  it('in a business room: the owner yes, a member 403', async () => {
    const owner = await t.as('biz-owner', { businessIds: ['acme'] });
    const r = (await buildRoom(owner, { type: 'business', businessId: 'acme', participantIds: ['bob', 'carol'] })).id;
    const sent = await buildMessage(bob, r, { content: 'biz' });
    const before = await stateOf(bob, r, sent.id);
    expectProblem(await deleteMessage(carol, sent.id), 403, 'FORBIDDEN');
    expect(await stateOf(bob, r, sent.id)).toEqual(before);
    expect(ok(await deleteMessage(owner, sent.id)).deletedBy).toBe('biz-owner');
  });

  it('in a direct room: each deletes only their own (403 for the other’s)', async () => {
    const r = (await alice.post('/rooms', { type: 'direct', participantIds: ['carol'] })).body.id;
    const sent = await buildMessage(alice, r, { content: 'mine' });
    const before = await stateOf(alice, r, sent.id);
    expectProblem(await deleteMessage(carol, sent.id), 403, 'FORBIDDEN');
    expect(await stateOf(alice, r, sent.id)).toEqual(before);
    expect(ok(await deleteMessage(alice, sent.id)).deletedBy).toBe('alice');
  });

  it('in a support room: staff, joined or not; the customer may not delete staff messages (403)', async () => {
    const customer = await t.as('customer-1');
    const r = (await customer.post('/rooms', { type: 'support' })).body.id;
    const joined = await t.as('agent-joined', { role: 'support' });
    expect((await joined.post(`/rooms/${r}/participants`, { userId: 'agent-joined' })).status).toBe(201);
    const [c1, c2, c3] = [
      await buildMessage(customer, r, { content: 'c1' }),
      await buildMessage(customer, r, { content: 'c2' }),
      await buildMessage(customer, r, { content: 'c3' }),
    ];
    const fromStaff = await buildMessage(joined, r, { content: 'we are on it' });
    const before = await stateOf(customer, r, fromStaff.id);
    expectProblem(await deleteMessage(customer, fromStaff.id), 403, 'FORBIDDEN');
    expect(await stateOf(customer, r, fromStaff.id)).toEqual(before);
    expect(ok(await deleteMessage(agent, c1.id)).deletedBy).toBe('agent');
    expect(ok(await deleteMessage(joined, c2.id)).deletedBy).toBe('agent-joined');
    expect(ok(await deleteMessage(root, c3.id)).deletedBy).toBe('root');
  });

  it('a platform admin deletes in a room they are not in', async () => {
    const r = await group();
    const sent = await buildMessage(bob, r, { content: 'moderate me' });
    expectProblem(await root.get(`/rooms/${r}`), 404, 'NOT_FOUND');
    const res = ok(await deleteMessage(root, sent.id));
    expect(res).toEqual({ ...tombstoneOf(sent, 'root'), changeSeq: sent.changeSeq + 1 });
    expect(await getMessage(bob, sent.id)).toEqual(res);
  });
});

describe('a tombstone elsewhere', () => {
  it('refuses edits, reactions and pins with 404 and stays as it is', async () => {
    const r = await group();
    const sent = await buildMessage(alice, r, { content: 'gone' });
    ok(await deleteMessage(alice, sent.id));
    const before = await stateOf(bob, r, sent.id);
    expectProblem(await editMessage(alice, sent.id, { content: 'again' }), 404, 'NOT_FOUND');
    expectProblem(await react(bob, sent.id, '👍'), 404, 'NOT_FOUND');
    expectProblem(await unreact(bob, sent.id, '👍'), 404, 'NOT_FOUND');
    expectProblem(await pin(alice, r, sent.id), 404, 'NOT_FOUND');
    expectProblem(await unpin(alice, r, sent.id), 404, 'NOT_FOUND');
    expect(await stateOf(bob, r, sent.id)).toEqual(before);
    expect(await getEdits(bob, sent.id)).toEqual([]);
  });

  it('replies show it with content "" and deletedAt, without a change of their own; a new reply may name it', async () => {
    const r = await group();
    const parent = await buildMessage(alice, r, { content: 'the parent' });
    const reply = await buildMessage(bob, r, { content: 'the reply', replyToId: parent.id });
    const tombstone = ok(await deleteMessage(alice, parent.id));
    const preview = { id: parent.id, seq: parent.seq, senderId: 'alice', type: 'text', content: '', deletedAt: tombstone.deletedAt };
    expect(await getMessage(carol, reply.id)).toEqual({ ...reply, replyTo: preview });
    expect((await history(carol, r)).find((m) => m.id === reply.id)).toEqual({ ...reply, replyTo: preview });
    const late = await buildMessage(carol, r, { content: 'late reply', replyToId: parent.id });
    expect(late.replyTo).toEqual(preview);
  });

  it('a retried send with its clientMessageId answers 200 with the tombstone', async () => {
    const r = await group();
    const sent = await buildMessage(alice, r, { content: 'retry me', clientMessageId: 'retry-1' });
    const tombstone = ok(await deleteMessage(alice, sent.id));
    const again = await alice.post(`/rooms/${r}/messages`, { content: 'retry me', clientMessageId: 'retry-1' });
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: tombstone });
    expect((await history(alice, r)).map((m) => m.id)).toEqual([sent.id]);
  });

  it('no longer counts as unread, is not found by search, and may be the room’s lastMessage', async () => {
    const r = await group();
    const [a, b] = [await buildMessage(alice, r, { content: 'xylophonic one' }), await buildMessage(alice, r, { content: 'plain' })];
    const c = await buildMessage(alice, r, { content: 'xylophonic last' });
    expect((await getRoom(bob, r)).unreadCount).toBe(3);
    expect((await searchIds(bob, r, 'xylophonic')).sort()).toEqual([a.id, c.id].sort());
    ok(await deleteMessage(alice, a.id));
    expect((await getRoom(bob, r)).unreadCount).toBe(2);
    expect(await searchIds(bob, r, 'xylophonic')).toEqual([c.id]);
    const last = ok(await deleteMessage(alice, c.id));
    expect(await searchIds(bob, r, 'xylophonic')).toEqual([]);
    const view = await getRoom(bob, r);
    expect(view.unreadCount).toBe(1);
    expect(view.lastMessage).toEqual(last);
    expect((await history(bob, r)).map((m) => [m.seq, m.content])).toEqual([
      [1, ''],
      [2, b.content],
      [3, ''],
    ]);
    expect((await getRoom(alice, r)).unreadCount).toBe(0);
  });

  it('leaves the pins: the list drops it and pinnedCount goes down', async () => {
    const r = await group();
    const [p1, p2] = [await buildMessage(bob, r, { content: 'p1' }), await buildMessage(bob, r, { content: 'p2' })];
    ok(await pin(alice, r, p1.id));
    ok(await pin(alice, r, p2.id));
    expect((await getRoom(carol, r)).pinnedCount).toBe(2);
    ok(await deleteMessage(bob, p2.id));
    expect((await getRoom(carol, r)).pinnedCount).toBe(1);
    expect((await carol.get(`/rooms/${r}/pins`)).body.data.map((m: any) => m.id)).toEqual([p1.id]);
  });
});

describe('message_deleted', () => {
  it('is the only event of a delete, exactly { chatRoomId, id, seq, changeSeq, deletedAt, deletedBy }; a repeat sends none', async () => {
    const r = await group();
    const sent = await buildMessage(bob, r, { content: 'pinned and liked' });
    ok(await pin(alice, r, sent.id));
    ok(await react(carol, sent.id, '🎉'));
    const [a, b, s] = [await open(alice), await open(bob), await open(stranger)];
    const heard = { alice: recordMessageEvents(a), bob: recordMessageEvents(b), stranger: recordMessageEvents(s) };
    const toBob = nextEvent(b, 'message_deleted', (e) => e.id === sent.id);
    const tombstone = ok(await deleteMessage(alice, sent.id));
    const event = {
      chatRoomId: r,
      id: sent.id,
      seq: sent.seq,
      changeSeq: tombstone.changeSeq,
      deletedAt: tombstone.deletedAt,
      deletedBy: 'alice',
    };
    expect(await toBob).toEqual(event);
    ok(await deleteMessage(alice, sent.id));
    await sleep(300);
    expect(heard.bob).toEqual([{ event: 'message_deleted', payload: event }]);
    expect(heard.alice).toEqual([{ event: 'message_deleted', payload: event }]);
    expect(heard.stranger).toEqual([]);
  });
});

describe('a delete racing edits, reactions and pins', () => {
  it('ends as a clean tombstone: no reactions, no versions, no pin, and the delete is the room’s latest change', async () => {
    for (let round = 0; round < 3; round++) {
      const r = await group();
      const sent = await buildMessage(alice, r, { content: 'contested' });
      // Each call with the answers it may get: before the delete it works (a member's pin in a group is refused), after it 404.
      const calls: Array<{ run: () => Promise<Res>; may: number[] }> = [
        ...Array.from({ length: 6 }, (_, i) => ({ run: () => editMessage(alice, sent.id, { content: `edit ${i}` }), may: [200, 404] })),
        ...['👍', '❤️', '😂', '🎉', ':tada:'].flatMap((e) =>
          [bob, carol, alice].map((c) => ({ run: () => react(c, sent.id, e), may: [200, 404] })),
        ),
        { run: () => unreact(bob, sent.id, '👍'), may: [200, 404] },
        { run: () => pin(alice, r, sent.id), may: [200, 404] },
        { run: () => pin(bob, r, sent.id), may: [403, 404] },
      ];
      // The delete starts early, midway and late among the others.
      const at = Math.floor((calls.length * round) / 2);
      calls.splice(at, 0, { run: () => deleteMessage(alice, sent.id), may: [200] });
      const results = await Promise.all(calls.map((c) => c.run()));
      results.forEach((res, i) => expect(calls[i]!.may).toContain(res.status));
      const deleted = results[at]!;

      const final = await getMessage(carol, sent.id);
      expect(final).toEqual({ ...tombstoneOf(sent, 'alice'), deletedAt: deleted.body.deletedAt, changeSeq: deleted.body.changeSeq });
      expect(deleted.body).toEqual(final);
      expect(await getEdits(carol, sent.id)).toEqual([]);
      expect((await carol.get(`/messages/${sent.id}/reactions`)).body).toEqual({ data: [], nextCursor: null });
      expect(await sideRows(t, sent.id)).toEqual({ edits: 0, reactions: 0 });
      expect(await getRoom(carol, r)).toMatchObject({ lastChangeSeq: final.changeSeq, pinnedCount: 0 });
      expect((await carol.get(`/rooms/${r}/pins`)).body).toEqual({ data: [], nextCursor: null });
    }
  });
});

async function open(c: Client): Promise<ClientSocket> {
  const s = await connect(t.baseUrl, c.token);
  sockets.push(s);
  return s;
}
