import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { call, connect, recordAll, sleep, waitFor, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client, mallory: Client;
let a: ClientSocket, b: ClientSocket, m: ClientSocket;
let roomId: string;

beforeAll(async () => {
  t = await startTestApp({ TYPING_TIMEOUT_MS: '300' });
  alice = await t.as('alice');
  bob = await t.as('bob');
  mallory = await t.as('mallory');
  roomId = (await alice.post('/rooms', { type: 'group', name: 'private', participantIds: ['bob'] })).body.id;
  [a, b, m] = await Promise.all([connect(t.baseUrl, alice.token), connect(t.baseUrl, bob.token), connect(t.baseUrl, mallory.token)]);
});
afterAll(async () => {
  [a, b, m].forEach((s) => s?.close());
  await t?.close();
});

const bad: Array<[string, unknown]> = [
  ['send_message', undefined],
  ['send_message', 'hello'],
  ['send_message', { content: 'no room' }],
  ['send_message', { chatRoomId: 'x' }],
  ['send_message', { chatRoomId: 'x', content: 42 }],
  ['send_message', { chatRoomId: 'x', content: 'hi', mentions: 'bob' }],
  ['send_message', { chatRoomId: 'x', content: 'hi', replyToId: 7 }],
  ['send_message', { chatRoomId: 'x', content: 'a\u0000b' }],
  ['send_message', { chatRoomId: 'x', content: 'x'.repeat(10_001) }],
  ['typing_start', {}],
  ['typing_start', { chatRoomId: null }],
  ['typing_stop', { chatRoomId: ['x'] }],
  ['mark_as_read', { messageId: 'x' }],
  ['mark_as_read', { chatRoomId: 'x', messageId: 5 }],
  ['join_chat', {}],
  ['leave_chat', { chatRoomId: 1 }],
  ['join_chat', { chatRoomId: 'x'.repeat(501) }],
];

describe('socket payload validation', () => {
  it.each(bad)('%s %j is acked VALIDATION_FAILED', async (event, payload) => {
    const res = await call(a, event as never, payload);
    expect(res).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED', message: expect.any(String) } });
  });

  it('words errors as REST does: the field and what it requires, never the regular expression', async () => {
    const res = await call(a, 'send_message', { chatRoomId: roomId, content: 'hi', mentions: ['bo\u0000b'] });
    expect(res).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    const { message } = (res as { error: { message: string } }).error;
    expect(message).toMatch(/^payload\/mentions\/0 /);
    expect(message).not.toMatch(/\^|\\u|\[/);
  });

  it('finds no room under an id of another shape, as REST does: acked NOT_FOUND, not VALIDATION_FAILED', async () => {
    for (const chatRoomId of ['', 'abc', 'x'.repeat(300)]) {
      for (const event of ['send_message', 'typing_start', 'mark_as_read', 'join_chat'] as const) {
        const res = await call(a, event, { chatRoomId, content: 'lost' });
        expect(res).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
      }
    }
  });

  it('stored nothing for any refused payload', async () => {
    expect((await alice.get(`/rooms/${roomId}/messages`)).body.data).toEqual([]);
  });
});

describe('strangers', () => {
  it('hear nothing of a room they are not in, whatever happens in it, and cannot act on it', async () => {
    const heard = recordAll(m);
    for (const event of ['send_message', 'typing_start', 'typing_stop', 'mark_as_read', 'join_chat', 'leave_chat'] as const) {
      const res = await call(m, event, { chatRoomId: roomId, content: 'let me in' });
      expect(res).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
    const typing = waitFor(b, 'user_typing', (e) => e.isTyping);
    await call(a, 'typing_start', { chatRoomId: roomId });
    await typing;
    const msg = waitFor(b, 'new_message');
    await call(a, 'send_message', { chatRoomId: roomId, content: 'secret' });
    await msg;
    await call(b, 'mark_as_read', { chatRoomId: roomId });
    await alice.patch(`/rooms/${roomId}`, { name: 'still private' });
    await alice.post(`/rooms/${roomId}/participants`, { userId: 'carol' });
    await sleep(500); // typing expiry, read, rename and join events have all been emitted by now
    expect(heard).toEqual([]);
    expect((await alice.get(`/rooms/${roomId}/messages`)).body.data.map((x: any) => x.content)).toEqual(['secret']);
  });
});

describe('presence over REST', () => {
  it('refuses a missing or oversized userIds list', async () => {
    const missing = await alice.get('/presence');
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe('VALIDATION_FAILED');
    const many = await alice.get(`/presence?userIds=${Array.from({ length: 201 }, (_, i) => `u${i}`).join(',')}`);
    expect(many.status).toBe(400);
    expect(many.body.code).toBe('VALIDATION_FAILED');
    const none = await alice.get('/presence?userIds=,,');
    expect(none.status).toBe(400);
  });

  it('tells nothing about users who share no room with the caller', async () => {
    expect((await mallory.get('/presence?userIds=alice,bob')).body.data).toEqual([]);
    expect((await alice.get('/presence?userIds=bob')).body.data).toEqual([{ userId: 'bob', online: true, lastSeenAt: null }]);
  });
});
