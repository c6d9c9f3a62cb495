import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';

let t: TestApp;
let alice: Client;
let bob: Client;
let carol: Client;
let stranger: Client;

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const MISSING = '01890a5d-ac96-774b-bcce-b302099a8057';

const unread = async (c: Client, roomId: string): Promise<number> => (await c.get(`/rooms/${roomId}`)).body.unreadCount;
const receipts = async (c: Client, messageId: string) => {
  const res = await c.get(`/messages/${messageId}/receipts`);
  expect(res.status).toBe(200);
  return Object.fromEntries(res.body.data.map((r: any) => [r.userId, { deliveredAt: r.deliveredAt, readAt: r.readAt }]));
};

async function receiptRows(roomId: string, userId: string): Promise<number> {
  const res = await t.app.database.db.execute(
    sql`select count(*) as n from message_read_receipt where room_id = ${roomId} and user_id = ${userId} and kind = 'read'`,
  );
  return Number((res as unknown as { rows: Array<{ n: unknown }> }).rows[0]!.n);
}

beforeAll(async () => {
  // The 500-message test sends far more than the default per-minute write limit.
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000' });
  [alice, bob, carol, stranger] = await Promise.all([t.as('alice'), t.as('bob'), t.as('carol'), t.as('stranger')]);
});
afterAll(async () => t?.close());

describe('PATCH /messages/:id/read', () => {
  it('marks the message and everything before it read, answering the read state', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob', 'carol'] });
    const m = await buildMessages(alice, room, 5);
    expect(await unread(bob, room)).toBe(5);
    const res = await bob.patch(`/messages/${m[2]!.id}/read`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['chatRoomId', 'lastReadSeq', 'messageId', 'readAt', 'userId']);
    expect(res.body).toEqual({ chatRoomId: room, userId: 'bob', messageId: m[2]!.id, lastReadSeq: 3, readAt: expect.stringMatching(ISO) });
    expect(await unread(bob, room)).toBe(2);
    const view = (await carol.get(`/rooms/${room}`)).body;
    expect(view.participants.find((p: any) => p.userId === 'bob').lastReadSeq).toBe(3);
    expect(view.unreadCount).toBe(5);
  });

  it('never moves backwards: an older message answers the current position unchanged', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob'] });
    const m = await buildMessages(alice, room, 4);
    const ahead = await bob.patch(`/messages/${m[2]!.id}/read`);
    for (const older of m.slice(0, 3)) {
      const res = await bob.patch(`/messages/${older.id}/read`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(ahead.body);
    }
    expect(await unread(bob, room)).toBe(1);
    expect(await receiptRows(room, 'bob')).toBe(1);
  });

  it('accepts an empty JSON body, as clients that always send the header do', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob'] });
    const m = await buildMessage(alice, room);
    const res = await bob.raw(`/messages/${m.id}/read`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '' });
    expect(res.status).toBe(200);
    expect(res.body.lastReadSeq).toBe(1);
  });
});

describe('PATCH /rooms/:id/read', () => {
  it('marks the whole room read and is idempotent', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob'] });
    const m = await buildMessages(alice, room, 3);
    const res = await bob.patch(`/rooms/${room}/read`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ chatRoomId: room, userId: 'bob', messageId: m[2]!.id, lastReadSeq: 3, readAt: expect.stringMatching(ISO) });
    expect(await unread(bob, room)).toBe(0);
    expect((await bob.patch(`/rooms/${room}/read`)).body).toEqual(res.body);
  });

  it('takes the room id in any case and answers it as the room’s id', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob'] });
    const m = await buildMessage(alice, room);
    const res = await bob.patch(`/rooms/${room.toUpperCase()}/read`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ chatRoomId: room, messageId: m.id, lastReadSeq: 1 });
  });

  it('in a room without messages answers position 0 and no message', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob'] });
    const res = await bob.patch(`/rooms/${room}/read`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ chatRoomId: room, userId: 'bob', messageId: null, lastReadSeq: 0, readAt: null });
  });

  it('adds exactly one receipt row however many messages were unread', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob'] });
    for (let i = 0; i < 50; i++) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => alice.post(`/rooms/${room}/messages`, { content: `bulk ${i * 10 + j}` })));
    }
    expect(await unread(bob, room)).toBe(500);
    const before = await receiptRows(room, 'bob');
    const res = await bob.patch(`/rooms/${room}/read`);
    expect(res.body.lastReadSeq).toBe(500);
    expect(await receiptRows(room, 'bob')).toBe(before + 1);
    expect(await unread(bob, room)).toBe(0);
  }, 120_000);
});

describe('unreadCount', () => {
  it('counts the messages of others above the caller’s position', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob', 'carol'] });
    await buildMessages(alice, room, 2);
    await buildMessages(bob, room, 1);
    expect([await unread(alice, room), await unread(bob, room), await unread(carol, room)]).toEqual([1, 0, 3]);
    await buildMessages(alice, room, 1);
    expect([await unread(alice, room), await unread(bob, room), await unread(carol, room)]).toEqual([0, 1, 4]);
    const listed = (await carol.get('/rooms')).body.data.find((r: any) => r.id === room);
    expect(listed.unreadCount).toBe(4);
  });
});

describe('GET /messages/:id/receipts', () => {
  it('gives every participant, with read times from the first read action that covered the message', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob', 'carol'] });
    const m = await buildMessages(alice, room, 3);
    let r = await receipts(alice, m[0]!.id);
    expect(Object.keys(r).sort()).toEqual(['alice', 'bob', 'carol']);
    expect(r['alice']).toEqual({ deliveredAt: expect.stringMatching(ISO), readAt: expect.stringMatching(ISO) });
    expect(r['bob']).toEqual({ deliveredAt: null, readAt: null });
    expect(r['carol']).toEqual({ deliveredAt: null, readAt: null });

    const first = await bob.patch(`/messages/${m[1]!.id}/read`);
    const all = await bob.patch(`/rooms/${room}/read`);
    r = await receipts(carol, m[0]!.id);
    expect(r['bob']!.readAt).toBe(first.body.readAt);
    expect(r['bob']!.deliveredAt).not.toBeNull();
    expect(r['carol']).toEqual({ deliveredAt: null, readAt: null });
    expect((await receipts(bob, m[1]!.id))['bob']!.readAt).toBe(first.body.readAt);
    expect((await receipts(bob, m[2]!.id))['bob']!.readAt).toBe(all.body.readAt);

    const res = await alice.get(`/messages/${m[2]!.id}/receipts`);
    expect(res.body.data[0]).toEqual({ userId: 'alice', deliveredAt: expect.stringMatching(ISO), readAt: expect.stringMatching(ISO) });
  });

  it('a participant who joined later has no receipt for older messages', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob'] });
    const m = await buildMessage(alice, room);
    await alice.post(`/rooms/${room}/participants`, { userId: 'carol' });
    const r = await receipts(bob, m.id);
    expect(r['carol']).toEqual({ deliveredAt: null, readAt: null });
    expect(await unread(carol, room)).toBe(0);
  });
});

describe('access', () => {
  it('strangers, nonexistent and malformed ids get the same 404 on all three', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob'] });
    const m = await buildMessage(alice, room);
    const calls = (id: string, roomId: string) => [
      stranger.patch(`/messages/${id}/read`),
      stranger.patch(`/rooms/${roomId}/read`),
      stranger.get(`/messages/${id}/receipts`),
    ];
    for (const res of await Promise.all([...calls(m.id, room), ...calls(MISSING, MISSING), ...calls('nope', 'nope')])) {
      expectProblem(res, 404, 'NOT_FOUND');
    }
    expect((await stranger.patch(`/messages/${m.id}/read`)).body).toEqual((await alice.patch(`/messages/${MISSING}/read`)).body);
    expect((await stranger.patch(`/rooms/${room}/read`)).body).toEqual((await alice.patch(`/rooms/${MISSING}/read`)).body);
    expect((await receipts(alice, m.id))['stranger']).toBeUndefined();
    expect(await receiptRows(room, 'stranger')).toBe(0);
  });

  it('someone who left can no longer mark read or see receipts', async () => {
    const { id: room } = await buildRoom(alice, { participantIds: ['bob'] });
    const m = await buildMessage(alice, room);
    expect((await bob.patch(`/rooms/${room}/participants/bob/remove`)).status).toBe(204);
    expectProblem(await bob.patch(`/messages/${m.id}/read`), 404, 'NOT_FOUND');
    expectProblem(await bob.patch(`/rooms/${room}/read`), 404, 'NOT_FOUND');
    expectProblem(await bob.get(`/messages/${m.id}/receipts`), 404, 'NOT_FOUND');
  });
});
