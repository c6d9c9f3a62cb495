import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { call, connect, record, recordAll, sleep, waitFor, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client;
const sockets: ClientSocket[] = [];
const open = async (c: Client) => {
  const s = await connect(t.baseUrl, c.token);
  sockets.push(s);
  return s;
};

beforeAll(async () => {
  t = await startTestApp({ PRESENCE_GRACE_MS: '300', TYPING_TIMEOUT_MS: '600' });
  alice = await t.as('alice', { name: 'Alice' });
  bob = await t.as('bob', { name: 'Bob' });
  carol = await t.as('carol', { name: 'Carol' });
});
// Every test starts with nobody online: close its sockets and let the presence grace period pass.
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await sleep(400);
});
afterAll(async () => t?.close());

describe('socket gateway', () => {
  it('refuses a bad token with UNAUTHORIZED', async () => {
    await expect(connect(t.baseUrl, 'not-a-jwt')).rejects.toThrow('UNAUTHORIZED');
    await expect(connect(t.baseUrl, undefined)).rejects.toThrow('UNAUTHORIZED');
  });

  it('delivers a REST send and a socket send as new_message to the room, and a stranger hears nothing', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'g', participantIds: ['bob'] })).body;
    const [a, b, c] = [await open(alice), await open(bob), await open(carol)];
    const strangerHeard = recordAll(c);
    const got = waitFor(b, 'new_message', (m) => m.content === 'via rest');
    await alice.post(`/rooms/${room.id}/messages`, { content: 'via rest' });
    expect((await got).seq).toBe(1);
    const got2 = waitFor(b, 'new_message', (m) => m.content === 'via socket');
    const ack = await call(a, 'send_message', { chatRoomId: room.id, content: 'via socket' });
    expect(ack).toMatchObject({ ok: true, data: { seq: 2, content: 'via socket' } });
    expect((await got2).id).toBe((ack as any).data.id);
    const denied = await call(c, 'send_message', { chatRoomId: room.id, content: 'intrude' });
    expect(denied).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: expect.any(String) } });
    await sleep(200);
    expect(strangerHeard).toEqual([]);
  });

  it('answers VALIDATION_FAILED acks for bad payloads', async () => {
    const a = await open(alice);
    expect(await call(a, 'send_message', { content: 'x' })).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect(await call(a, 'typing_start', { chatRoomId: 5 })).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect(await call(a, 'mark_as_read', null)).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
  });

  it('joins sockets to a room created later, and emits typing to the others only', async () => {
    const a = await open(alice);
    const b = await open(bob);
    const created = waitFor(b, 'room_created');
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    expect((await created).id).toBe(room.id);
    const typing = waitFor(b, 'user_typing', (e) => e.chatRoomId === room.id && e.isTyping);
    const ownTyping = record(a, 'user_typing');
    expect(await call(a, 'typing_start', { chatRoomId: room.id })).toEqual({ ok: true, data: null });
    expect(await typing).toEqual({ chatRoomId: room.id, userId: 'alice', isTyping: true });
    // Not renewed: expires with isTyping false.
    expect(await waitFor(b, 'user_typing', (e) => e.chatRoomId === room.id && !e.isTyping, 3000)).toMatchObject({ userId: 'alice' });
    expect(ownTyping).toEqual([]);
  });

  it('announces reads as message_read and acked deliveries as lastDeliveredSeq', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'reads', participantIds: ['bob'] })).body;
    const a = await open(alice);
    const b = await open(bob);
    b.on('new_message', (_m, ack) => ack());
    const sent = (await alice.post(`/rooms/${room.id}/messages`, { content: 'read me' })).body;
    const read = waitFor(a, 'message_read', (e) => e.chatRoomId === room.id);
    expect(await call(b, 'mark_as_read', { chatRoomId: room.id })).toMatchObject({ ok: true, data: { lastReadSeq: 1 } });
    expect(await read).toMatchObject({ userId: 'bob', lastReadSeq: 1, messageId: sent.id });
    const rest = waitFor(b, 'message_read', (e) => e.userId === 'alice' && e.chatRoomId === room.id);
    await bob.post(`/rooms/${room.id}/messages`, { content: 'answer' });
    await alice.patch(`/rooms/${room.id}/read`);
    expect((await rest).lastReadSeq).toBe(2);
  });

  it('reports presence: online on first socket, offline after the grace period', async () => {
    await alice.post('/rooms', { type: 'direct', participantIds: ['carol'] });
    const a = await open(alice);
    const online = waitFor(a, 'user_online', (e) => e.userId === 'carol');
    const c1 = await open(carol);
    const c2 = await open(carol);
    await online;
    // Users who share no room with the caller (or do not exist) are left out.
    expect((await alice.get('/presence?userIds=carol,nobody')).body.data).toEqual([
      { userId: 'carol', online: true, lastSeenAt: expect.anything() },
    ]);
    const offline = waitFor(a, 'user_offline', (e) => e.userId === 'carol');
    c1.close();
    await sleep(500);
    expect((await alice.get('/presence?userIds=carol')).body.data[0].online).toBe(true);
    c2.close();
    const ev = await offline;
    expect(Date.parse(ev.lastSeenAt)).not.toBeNaN();
    expect((await alice.get('/presence?userIds=carol')).body.data[0]).toMatchObject({ online: false, lastSeenAt: ev.lastSeenAt });
  });
});
