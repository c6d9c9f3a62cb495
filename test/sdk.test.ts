import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from './helpers/app.js';
import { deleteMessage, fullHistory, getRoom, pin, react } from './helpers/changes.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';
import { png } from './media-fixtures.js';
import {
  ChatError,
  ClientPool,
  comparable,
  converged,
  eventually,
  historyOf,
  serverSocketsOf,
  settle,
  sleep,
  snapshots,
  startSdkApp,
  type SdkApp,
} from './helpers/sdk.js';
import { call, connect, waitFor } from './helpers/sockets.js';

let s: SdkApp;
const pool = new ClientPool();

beforeAll(async () => {
  s = await startSdkApp();
});
afterEach(async () => pool.closeAll());
afterAll(async () => s?.close());

const live = (userId: string) => pool.live(s, userId);

/** A group owned by `owner` with `others`, holding `n` messages of the owner ("m0"…). */
async function roomWith(owner: Client, others: string[], n = 0) {
  const room = await buildRoom(owner, { participantIds: others });
  const messages = await buildMessages(owner, room.id, n);
  return { roomId: room.id, messages };
}

const roomIn = (client: { rooms: any[] }, id: string) => client.rooms.find((r: any) => r.id === id);

describe('connecting', () => {
  it('goes from connecting to live, and keeps its rooms and their unread counts live', async () => {
    const bob = await s.t.as('c-bob');
    const before = await roomWith(bob, ['c-alice'], 2);
    const rest = await s.t.as('c-alice');
    const client = pool.make(s.url, rest.token);
    const states: string[] = [];
    client.on('state', () => states.push(client.state));
    expect(client.state).toBe('connecting');
    await client.connect();
    expect(client.state).toBe('live');
    expect(states.at(-1)).toBe('live');
    expect(states).not.toContain('offline');
    expect(roomIn(client, before.roomId)).toMatchObject({ id: before.roomId, unreadCount: 2 });

    let roomsEvents = 0;
    client.on('rooms', () => roomsEvents++);
    const later = await roomWith(bob, ['c-alice']);
    await eventually(() => roomIn(client, later.roomId) !== undefined, 10_000, 'a room created after connect in client.rooms');
    await buildMessage(bob, later.roomId, { content: 'news' });
    await eventually(() => roomIn(client, later.roomId)?.unreadCount === 1, 10_000, 'the unread count of an unopened room');
    expect(roomsEvents).toBeGreaterThan(0);
    expect(roomIn(client, before.roomId).unreadCount).toBe(2);
  });

  it('rejects connect() with UNAUTHORIZED for a token the server refuses, and opens no socket', async () => {
    const client = pool.make(s.url, 'not-a-token');
    const outcome = await settle(client.connect());
    expect(outcome.ok).toBe(false);
    const error = (outcome as { error: unknown }).error;
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).code).toBe('UNAUTHORIZED');
    expect(client.state).not.toBe('live');
  });
});

describe('a room as the server holds it', () => {
  it('openRoom shows the latest page ascending by seq, and loadOlder pages back to seq 1 without gaps', async () => {
    const { rest: alice, client } = await live('o-alice');
    const { roomId } = await roomWith(alice, [], 130);
    const all = await fullHistory(alice, roomId);
    expect(all).toHaveLength(130);
    const room = await client.openRoom(roomId);
    const first = room.messages[0]!.seq as number;
    // A page, not the whole history, and its newest end.
    expect(room.messages.length).toBeGreaterThan(0);
    expect(room.messages.length).toBeLessThanOrEqual(100);
    expect(first).toBeGreaterThan(1);
    expect(room.messages.map(comparable)).toEqual(all.slice(first - 1).map(comparable));

    for (let i = 0; i < 10 && (room.messages[0]!.seq as number) > 1; i++) {
      const oldest = room.messages[0]!.seq as number;
      await room.loadOlder();
      expect(room.messages[0]!.seq).toBeLessThan(oldest);
      expect(room.messages.map(comparable)).toEqual(all.slice((room.messages[0]!.seq as number) - 1).map(comparable));
    }
    expect(room.messages.map(comparable)).toEqual(all.map(comparable));
  });

  it('shows a message another user sends, live and once', async () => {
    const { rest: alice, client } = await live('l-alice');
    const bob = await s.t.as('l-bob');
    const { roomId } = await roomWith(alice, ['l-bob'], 3);
    const room = await client.openRoom(roomId);
    const seen = snapshots(room);
    const sent = await buildMessage(bob, roomId, { content: 'from bob' });
    await eventually(() => room.messages.some((m: any) => m.id === sent.id), 10_000, 'the live message');
    await sleep(300);
    expect(room.messages.filter((m: any) => m.id === sent.id)).toHaveLength(1);
    for (const snap of seen) expect(snap.filter((m) => m.id === sent.id).length).toBeLessThanOrEqual(1);
    await converged(room, historyOf(alice, roomId));
  });

  it('shows its own send at once as pending, then the stored message in its place, never both', async () => {
    const { rest: alice, client } = await live('p-alice');
    const { roomId } = await roomWith(alice, [], 2);
    const room = await client.openRoom(roomId);
    const seen = snapshots(room);
    const stored = await room.send({ content: 'mine' });

    const pending = seen.flat().find((m) => m.pending === true && m.content === 'mine');
    expect(pending).toMatchObject({
      pending: true,
      seq: null,
      content: 'mine',
      clientMessageId: expect.any(String),
      id: expect.any(String),
    });
    expect(stored).toMatchObject({ content: 'mine', seq: 3, clientMessageId: pending.clientMessageId });
    for (const snap of seen) expect(snap.filter((m) => m.clientMessageId === pending.clientMessageId).length).toBeLessThanOrEqual(1);
    const held = room.messages.filter((m: any) => m.clientMessageId === pending.clientMessageId);
    expect(held.map(comparable)).toEqual([comparable(stored)]);
    const server = await converged(room, historyOf(alice, roomId));
    expect(server.filter((m) => m.content === 'mine').map((m) => m.id)).toEqual([stored.id]);
  });

  it("applies another user's edits, deletes, reactions and pins; a tombstone keeps its place; `me` survives broadcasts", async () => {
    const { rest: alice, client } = await live('e-alice');
    const bob = await s.t.as('e-bob');
    const { roomId, messages: bobs } = await roomWith(bob, ['e-alice'], 5);
    const mine = await buildMessage(alice, roomId, { content: 'alice says' });
    const room = await client.openRoom(roomId);
    const deletedAt = room.messages.findIndex((m: any) => m.id === bobs[2]!.id);

    expect((await bob.patch(`/messages/${bobs[1]!.id}`, { content: 'm1 edited' })).status).toBe(200);
    expect((await deleteMessage(bob, bobs[2]!.id)).status).toBe(200);
    expect((await react(bob, mine.id, '🎉')).status).toBe(200);
    expect((await react(alice, bobs[3]!.id, '👍')).status).toBe(200);
    expect((await react(bob, bobs[3]!.id, '👍')).status).toBe(200);
    // Pins broadcast the message with `me: false` for everyone: alice's own reaction must stay hers.
    expect((await pin(bob, roomId, bobs[3]!.id)).status).toBe(200);
    expect((await pin(bob, roomId, bobs[0]!.id)).status).toBe(200);

    const server = await converged(room, historyOf(alice, roomId));
    expect(server.find((m) => m.id === bobs[3]!.id).reactions).toEqual([{ emoji: '👍', count: 2, me: true }]);
    const tombstone = room.messages[deletedAt] as any;
    expect(tombstone).toMatchObject({ id: bobs[2]!.id, seq: 3, content: '', deletedAt: expect.any(String) });
  });

  it('edits, deletes and reacts through the room, and a refused edit rejects with FORBIDDEN and changes nothing', async () => {
    const { rest: alice, client } = await live('w-alice');
    const bob = await s.t.as('w-bob');
    const { roomId } = await roomWith(alice, ['w-bob']);
    const fromBob = await buildMessage(bob, roomId, { content: 'bob wrote' });
    const room = await client.openRoom(roomId);
    const [a, b, c] = [await room.send({ content: 'a' }), await room.send({ content: 'b' }), await room.send({ content: 'c' })];

    await room.edit(a.id, 'a, edited');
    await room.react(b.id, '👍');
    await room.react(b.id, '🎉');
    await room.unreact(b.id, '🎉');
    await room.delete(c.id);
    const server = await converged(room, historyOf(alice, roomId));
    const byId = new Map(server.map((m) => [m.id, m]));
    expect(byId.get(a.id)).toMatchObject({ content: 'a, edited', editedAt: expect.any(String) });
    expect(byId.get(b.id).reactions).toEqual([{ emoji: '👍', count: 1, me: true }]);
    expect(byId.get(c.id)).toMatchObject({ content: '', deletedAt: expect.any(String) });

    const before = (await getRoom(alice, roomId)).lastChangeSeq;
    const refused = await settle(room.edit(fromBob.id, 'not mine'));
    expect(refused.ok).toBe(false);
    const error = (refused as { error: unknown }).error as ChatError;
    expect(error).toBeInstanceOf(ChatError);
    expect({ code: error.code, status: error.status }).toEqual({ code: 'FORBIDDEN', status: 403 });
    expect((await getRoom(alice, roomId)).lastChangeSeq).toBe(before);
    await converged(room, historyOf(alice, roomId));
    expect(room.messages.find((m: any) => m.id === fromBob.id)!.content).toBe('bob wrote');
  });

  it('sends files with a message: an image with no text is stored once, with its media', async () => {
    const { rest: alice, client } = await live('f-alice');
    const { roomId } = await roomWith(alice, ['f-bob'], 0);
    const room = await client.openRoom(roomId);
    const image = new File([new Uint8Array(await png())], 'photo.png', { type: 'image/png' });
    const stored = await room.send({ content: '', files: [image] });
    expect(stored).toMatchObject({ type: 'image', content: '', media: [{ kind: 'image', mimeType: 'image/png', fileName: 'photo.png' }] });
    const history = await fullHistory(alice, roomId);
    expect(history.map((m: any) => m.id)).toEqual([stored.id]);
    await eventually(() => room.messages.length === 1 && room.messages[0]!.id === stored.id, 10_000, 'the stored image in the room');
  });

  it('rejects a refused send with the server code, removes its pending copy, and stores nothing', async () => {
    const { rest: alice, client } = await live('r-alice');
    const { roomId } = await roomWith(alice, ['r-bob'], 2);
    const room = await client.openRoom(roomId);
    const seen = snapshots(room);
    const refused = await settle(room.send({ content: 'hey carol', mentions: ['r-carol'] }));
    expect(refused.ok).toBe(false);
    const error = (refused as { error: unknown }).error as ChatError;
    expect(error).toBeInstanceOf(ChatError);
    expect({ code: error.code, status: error.status }).toEqual({ code: 'VALIDATION_FAILED', status: 400 });
    expect(seen.flat().some((m) => m.pending === true && m.content === 'hey carol')).toBe(true);
    expect(room.messages.some((m: any) => m.content === 'hey carol')).toBe(false);
    expect((await getRoom(alice, roomId)).lastSeq).toBe(2);
    await converged(room, historyOf(alice, roomId));
  });
});

describe('reading, typing, jumping', () => {
  it('knows the first unread message and the unread count, and markRead moves the server read position', async () => {
    const { rest: alice, client } = await live('u-alice');
    const bob = await s.t.as('u-bob');
    const { roomId } = await roomWith(alice, ['u-bob'], 2);
    const unread = await buildMessages(bob, roomId, 3, (i) => `unread ${i}`);
    const room = await client.openRoom(roomId);
    expect(room.firstUnreadSeq).toBe(unread[0]!.seq);
    expect(room.unreadCount).toBe(3);

    await room.markRead();
    const server = await getRoom(alice, roomId);
    expect(server.unreadCount).toBe(0);
    expect(server.participants.find((p: any) => p.userId === 'u-alice').lastReadSeq).toBe(5);
    await eventually(() => room.unreadCount === 0, 10_000, 'room.unreadCount after markRead');
    await eventually(() => roomIn(client, roomId)?.unreadCount === 0, 10_000, 'client.rooms unreadCount after markRead');
  });

  it("shows who types, and startTyping reaches the others' sockets", async () => {
    const { rest: alice, client } = await live('t-alice');
    const bob = await s.t.as('t-bob');
    const { roomId } = await roomWith(alice, ['t-bob'], 1);
    const room = await client.openRoom(roomId);
    const bobSocket = await connect(s.t.baseUrl, bob.token);
    try {
      expect((await call(bobSocket, 'typing_start', { chatRoomId: roomId })).ok).toBe(true);
      await eventually(() => room.typing.includes('t-bob'), 10_000, 'bob typing');
      expect((await call(bobSocket, 'typing_stop', { chatRoomId: roomId })).ok).toBe(true);
      await eventually(() => !room.typing.includes('t-bob'), 10_000, 'bob no longer typing');

      const heard = waitFor(bobSocket, 'user_typing', (e) => e.userId === 't-alice' && e.chatRoomId === roomId);
      room.startTyping();
      expect(await heard).toMatchObject({ chatRoomId: roomId, userId: 't-alice', isTyping: true });
      expect(room.typing).not.toContain('t-alice');
    } finally {
      bobSocket.close();
    }
  });

  it('jumps to an old message by id or by seq, holding it as the server does, each message once in seq order', async () => {
    const { rest: alice, client } = await live('j-alice');
    const { roomId, messages } = await roomWith(alice, [], 160);
    const room = await client.openRoom(roomId);
    expect(room.messages.some((m: any) => m.seq === 10)).toBe(false);
    for (const target of [messages[9]!.id, 20]) {
      await room.jumpTo(target);
      const want = messages.find((m) => m.id === target || m.seq === target)!;
      expect(comparable(room.messages.find((m: any) => m.id === want.id))).toEqual(comparable(want));
      const seqs = room.messages.map((m: any) => m.seq as number);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(room.messages.map((m: any) => m.id)).size).toBe(room.messages.length);
    }
  });

  it('keeps the presence of the people in the rooms it opened', async () => {
    const { rest: owner, client } = await live('p-owner');
    const { roomId } = await roomWith(owner, ['p-mate'], 1);
    await client.openRoom(roomId);
    expect(client.presence.get('p-mate')).toEqual({ online: false, lastSeenAt: null });
    const mate = await live('p-mate');
    await eventually(() => client.presence.get('p-mate')?.online === true, 10_000, 'p-mate online');
    await mate.client.close();
    await eventually(() => client.presence.get('p-mate')?.online === false, 15_000, 'p-mate offline');
    expect(client.presence.get('p-mate')!.lastSeenAt).toMatch(/^\d{4}-/);
  });

  it('answers openRoom calls made while the room opens with the same open: loaded, or refused alike', async () => {
    const { rest: owner, client } = await live('o-owner');
    const { roomId } = await roomWith(owner, [], 3);
    // What the second caller holds when its call resolves: not a room whose latest page is still on its way.
    const [first, second] = await Promise.all([
      client.openRoom(roomId),
      client.openRoom(roomId).then((room) => ({ room, loaded: room.loaded, contents: room.messages.map((m) => m.content) })),
    ]);
    expect(second.room).toBe(first);
    expect(second.loaded).toBe(true);
    expect(second.contents).toEqual(['m0', 'm1', 'm2']);

    const stranger = await buildRoom((await live('o-stranger')).rest, { participantIds: [] });
    const refused = await Promise.allSettled([client.openRoom(stranger.id), client.openRoom(stranger.id)]);
    for (const r of refused) expect(r.status === 'rejected' && r.reason instanceof ChatError && r.reason.code).toBe('NOT_FOUND');
    expect(client.room(stranger.id)).toBeUndefined();
  });

  it('holds one socket however many rooms are open', async () => {
    const { rest: alice, client } = await live('s-alice');
    for (let i = 0; i < 3; i++) await client.openRoom((await roomWith(alice, [], 1)).roomId);
    expect(serverSocketsOf(s.t, 's-alice')).toHaveLength(1);
  });
});
