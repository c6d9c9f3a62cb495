import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
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
  recordMessageEvents,
  searchIds,
  stateOf,
  UNKNOWN_ID,
  unsigned,
} from './helpers/changes.js';
import { buildMessage, buildRoom } from './helpers/factories.js';
import { connect, sleep, type ClientSocket } from './helpers/sockets.js';
import { png } from './media-fixtures.js';
import { form } from './media-helpers.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client, stranger: Client, staff: Client, platformAdmin: Client;
/** alice (owner), bob, carol */
let room: string;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000' });
  [alice, bob, carol, stranger, staff, platformAdmin] = await Promise.all([
    t.as('alice', { name: 'Alice' }),
    t.as('bob', { name: 'Bob' }),
    t.as('carol'),
    t.as('stranger'),
    t.as('agent', { role: 'support' }),
    t.as('root', { role: 'admin' }),
  ]);
  room = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
});
afterAll(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await t?.close();
});

const open = async (c: Client) => {
  const s = await connect(t.baseUrl, c.token);
  sockets.push(s);
  return s;
};

describe('PATCH /messages/:id by its sender', () => {
  it('replaces the content, sets editedAt, takes the room’s next changeSeq, and every read shows the edit', async () => {
    const sent = await buildMessage(alice, room, { content: 'first words', clientMessageId: 'e-1' });
    const before = await getRoom(bob, room);
    const res = await editMessage(alice, sent.id, { content: 'second words' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      ...sent,
      content: 'second words',
      editedAt: expect.stringMatching(ISO),
      changeSeq: before.lastChangeSeq + 1,
    });
    expect(res.body.editedAt >= sent.createdAt).toBe(true);
    expect((await getRoom(bob, room)).lastChangeSeq).toBe(before.lastChangeSeq + 1);
    expect(await getMessage(bob, sent.id)).toEqual(res.body);
    expect((await history(bob, room)).find((m) => m.id === sent.id)).toEqual(res.body);
    // The room's lastMessage is the edited message as it is now.
    expect((await getRoom(bob, room)).lastMessage).toEqual(res.body);
  });

  it('keeps every earlier version, newest first, each with the time of the edit that replaced it', async () => {
    const sent = await buildMessage(alice, room, { content: 'v1', mentions: ['bob'] });
    const e1 = ok(await editMessage(alice, sent.id, { content: 'v2', mentions: ['carol'] }));
    await sleep(5);
    const e2 = ok(await editMessage(alice, sent.id, { content: 'v3' }));
    expect(e2.editedAt > e1.editedAt).toBe(true);
    expect(e2.changeSeq).toBe(e1.changeSeq + 1);
    expect(e2).toMatchObject({ content: 'v3', mentions: ['carol'] });
    const edits = await bob.get(`/messages/${sent.id}/edits`);
    expect(edits.status).toBe(200);
    expect(edits.body).toEqual({
      data: [
        { content: 'v2', mentions: ['carol'], editedAt: e2.editedAt },
        { content: 'v1', mentions: ['bob'], editedAt: e1.editedAt },
      ],
    });
  });

  it('keeps mentions when they are omitted, clears them with [], replaces them when given', async () => {
    const sent = await buildMessage(alice, room, { content: 'hi @bob', mentions: ['bob'] });
    expect(ok(await editMessage(alice, sent.id, { content: 'hi again @bob' })).mentions).toEqual(['bob']);
    expect(ok(await editMessage(alice, sent.id, { content: 'hi @carol', mentions: ['carol'] })).mentions).toEqual(['carol']);
    expect(ok(await editMessage(alice, sent.id, { content: 'hi all', mentions: [] })).mentions).toEqual([]);
    expect((await getMessage(bob, sent.id)).mentions).toEqual([]);
  });

  it('keeps the mention of someone who left since when mentions are omitted, and refuses it when given again', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const sent = await buildMessage(alice, r, { content: 'hi @carol', mentions: ['carol'] });
    expect((await carol.patch(`/rooms/${r}/participants/carol/remove`)).status).toBe(204);
    expect(ok(await editMessage(alice, sent.id, { content: 'hi @carol, bye' })).mentions).toEqual(['carol']);
    expectProblem(await editMessage(alice, sent.id, { content: 'hi again', mentions: ['carol'] }), 400, 'VALIDATION_FAILED');
    expect((await getMessage(bob, sent.id)).content).toBe('hi @carol, bye');
  });

  it('answers 200 to an edit that changes nothing', async () => {
    const sent = await buildMessage(alice, room, { content: 'same' });
    const res = await editMessage(alice, sent.id, { content: 'same' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: sent.id, content: 'same', mentions: [] });
    expect((await getMessage(bob, sent.id)).content).toBe('same');
  });

  it('lets search find the new words and no longer the old ones', async () => {
    const sent = await buildMessage(alice, room, { content: 'zebracorn ledger' });
    expect(await searchIds(bob, room, 'zebracorn')).toEqual([sent.id]);
    ok(await editMessage(alice, sent.id, { content: 'quokkaverse ledger' }));
    expect(await searchIds(bob, room, 'zebracorn')).toEqual([]);
    expect(await searchIds(bob, room, 'quokkaverse')).toEqual([sent.id]);
    const hit = (await bob.get(`/messages/search?q=quokkaverse&chatRoomId=${room}`)).body.data[0];
    expect(hit.message.content).toBe('quokkaverse ledger');
  });

  it('takes exactly 10,000 code points and keeps \\n, \\r and \\t', async () => {
    const sent = await buildMessage(alice, room, { content: 'short' });
    const max = '😀'.repeat(10_000);
    expect(ok(await editMessage(alice, sent.id, { content: max })).content).toBe(max);
    expect(ok(await editMessage(alice, sent.id, { content: 'a\nb\r\nc\td' })).content).toBe('a\nb\r\nc\td');
  });
});

describe('PATCH /messages/:id refusals leave the message as it was', () => {
  it('refuses bad content with 400: empty, whitespace, over 10,000 code points, control characters', async () => {
    const sent = await buildMessage(alice, room, { content: 'keep me', mentions: ['bob'] });
    const before = await stateOf(bob, room, sent.id);
    const bad = [
      '',
      '   ',
      ' \n\t ',
      '😀'.repeat(10_001),
      'a'.repeat(10_001),
      'bell\u0007',
      'nul\u0000',
      'del\u007f',
      'c1\u0085',
      'esc\u001b[0m',
    ];
    for (const content of bad) expectProblem(await editMessage(alice, sent.id, { content }), 400, 'VALIDATION_FAILED');
    expectProblem(await editMessage(alice, sent.id, {}), 400, 'VALIDATION_FAILED');
    expectProblem(await editMessage(alice, sent.id, { content: 42 }), 400, 'VALIDATION_FAILED');
    expect(await stateOf(bob, room, sent.id)).toEqual(before);
  });

  it('refuses a mention of a non-participant with 400', async () => {
    const sent = await buildMessage(alice, room, { content: 'keep', mentions: ['bob'] });
    const before = await stateOf(bob, room, sent.id);
    expectProblem(await editMessage(alice, sent.id, { content: 'hey @stranger', mentions: ['stranger'] }), 400, 'VALIDATION_FAILED');
    expectProblem(await editMessage(alice, sent.id, { content: 'hey', mentions: ['bob', 'nobody-here'] }), 400, 'VALIDATION_FAILED');
    expect(await stateOf(bob, room, sent.id)).toEqual(before);
  });

  it('refuses other participants with 403', async () => {
    const sent = await buildMessage(bob, room, { content: 'bob’s words' });
    const before = await stateOf(carol, room, sent.id);
    // Not even the room's owner edits someone else's words.
    expectProblem(await editMessage(alice, sent.id, { content: 'owner was here' }), 403, 'FORBIDDEN');
    expectProblem(await editMessage(carol, sent.id, { content: 'carol was here' }), 403, 'FORBIDDEN');
    expect(await stateOf(carol, room, sent.id)).toEqual(before);
  });

  it('refuses staff who can read a support room with 403, and a user who cannot read the room with 404', async () => {
    const customer = await t.as('customer-1');
    const opened = await customer.post('/rooms', { type: 'support' });
    expect(opened.status).toBe(201);
    const supportRoom: string = opened.body.id;
    const sent = await buildMessage(customer, supportRoom, { content: 'help' });
    const before = await stateOf(customer, supportRoom, sent.id);
    expectProblem(await editMessage(staff, sent.id, { content: 'staff edit' }), 403, 'FORBIDDEN');
    expectProblem(await editMessage(stranger, sent.id, { content: 'stranger edit' }), 404, 'NOT_FOUND');
    expect(await stateOf(customer, supportRoom, sent.id)).toEqual(before);
  });

  it('hides a message from non-participants (404, as an unknown or malformed id), platform admins included', async () => {
    const sent = await buildMessage(alice, room, { content: 'private' });
    const before = await stateOf(bob, room, sent.id);
    for (const who of [stranger, platformAdmin, staff]) {
      expectProblem(await editMessage(who, sent.id, { content: 'x' }), 404, 'NOT_FOUND');
      expectProblem(await who.get(`/messages/${sent.id}`), 404, 'NOT_FOUND');
      expectProblem(await who.get(`/messages/${sent.id}/edits`), 404, 'NOT_FOUND');
    }
    for (const id of [UNKNOWN_ID, MALFORMED_ID]) {
      expectProblem(await editMessage(alice, id, { content: 'x' }), 404, 'NOT_FOUND');
      expectProblem(await alice.get(`/messages/${id}`), 404, 'NOT_FOUND');
      expectProblem(await alice.get(`/messages/${id}/edits`), 404, 'NOT_FOUND');
    }
    // Word for word as an unknown id: the answer does not reveal that the message (or its room) exists.
    for (const path of ['', '/edits', '/reactions', '/receipts']) {
      const unknown = await alice.get(`/messages/${UNKNOWN_ID}${path}`);
      for (const who of [stranger, platformAdmin, staff]) {
        const hidden = await who.get(`/messages/${sent.id}${path}`);
        expect({ path, status: hidden.status, body: hidden.body }).toEqual({ path, status: 404, body: unknown.body });
      }
    }
    expect(await stateOf(bob, room, sent.id)).toEqual(before);
  });

  it('answers 404 for a deleted message and keeps the tombstone', async () => {
    const sent = await buildMessage(alice, room, { content: 'soon gone' });
    const tombstone = ok(await deleteMessage(alice, sent.id));
    expectProblem(await editMessage(alice, sent.id, { content: 'back?' }), 404, 'NOT_FOUND');
    expect(await getMessage(bob, sent.id)).toEqual(tombstone);
    expect(await getEdits(bob, sent.id)).toEqual([]);
    expect((await getRoom(bob, room)).lastChangeSeq).toBe(tombstone.changeSeq);
  });
});

describe('edits of media messages', () => {
  it('may empty a media message of its text; its type and files stay', async () => {
    const fd = form([{ name: 'p.png', type: 'image/png', data: await png() }], { content: 'caption' });
    const sent = await alice.raw(`/rooms/${room}/messages`, { method: 'POST', body: fd });
    expect(sent.status).toBe(201);
    const emptied = await editMessage(alice, sent.body.id, { content: '' });
    expect(emptied.status).toBe(200);
    expect(unsigned(emptied.body)).toEqual({
      ...unsigned(sent.body),
      content: '',
      editedAt: expect.stringMatching(ISO),
      changeSeq: expect.any(Number),
    });
    const blank = await editMessage(alice, sent.body.id, { content: '   ' });
    expect(blank.status).toBe(200);
    expect(blank.body).toMatchObject({ type: 'image', media: [{ id: sent.body.media[0].id }] });
    expect(ok(await editMessage(alice, sent.body.id, { content: 'new caption' })).content).toBe('new caption');
    // Whitespace only counts as empty; whether it is kept as sent or as "" is the server's choice.
    expect((await getEdits(bob, sent.body.id)).map((e) => e.content)).toEqual([blank.body.content, '', 'caption']);
  });
});

describe('MESSAGE_EDIT_WINDOW_S', () => {
  it('refuses an edit past the window with 403, leaving the message as it was', async () => {
    const w = await startTestApp({ MESSAGE_EDIT_WINDOW_S: '1' });
    try {
      const [a, b] = [await w.as('alice'), await w.as('bob')];
      const r = (await buildRoom(a, { participantIds: ['bob'] })).id;
      const early = await buildMessage(a, r, { content: 'early' });
      const late = await buildMessage(a, r, { content: 'late' });
      expect((await editMessage(a, early.id, { content: 'early, edited' })).status).toBe(200);
      await sleep(1500);
      const before = await stateOf(b, r, late.id);
      expectProblem(await editMessage(a, late.id, { content: 'too late' }), 403, 'FORBIDDEN');
      expect(await stateOf(b, r, late.id)).toEqual(before);
    } finally {
      await w.close();
    }
  });
});

describe('message_updated after an edit', () => {
  it('reaches every participant’s socket, the editor’s included, as the REST answer with its changeSeq', async () => {
    const [a, b, c] = [await open(alice), await open(bob), await open(stranger)];
    const strangerHeard = recordMessageEvents(c);
    const sent = await buildMessage(alice, room, { content: 'to be edited' });
    const toBob = nextEvent(b, 'message_updated', (m) => m.id === sent.id);
    const toAlice = nextEvent(a, 'message_updated', (m) => m.id === sent.id);
    const bobHeard = recordMessageEvents(b);
    const res = ok(await editMessage(alice, sent.id, { content: 'edited live' }));
    expect(await toBob).toEqual(res);
    expect(await toAlice).toEqual(res);
    expect(res.changeSeq).toBe(sent.changeSeq + 1);
    await sleep(200);
    // One change, one event: nothing else about it reaches the room.
    expect(bobHeard.map((e) => [e.event, e.payload.id])).toEqual([['message_updated', sent.id]]);
    expect(strangerHeard).toEqual([]);
  });
});
