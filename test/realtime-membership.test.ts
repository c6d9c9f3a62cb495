import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { call, connect, record, recordAll, sleep, waitFor, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client;
const sockets: ClientSocket[] = [];
const open = async (c: Client | string) => {
  const s = await connect(t.baseUrl, typeof c === 'string' ? c : c.token);
  sockets.push(s);
  return s;
};

beforeAll(async () => {
  t = await startTestApp({ PRESENCE_GRACE_MS: '100', TYPING_TIMEOUT_MS: '2000' });
  alice = await t.as('alice', { name: 'Alice' });
  bob = await t.as('bob', { name: 'Bob' });
  carol = await t.as('carol', { name: 'Carol' });
});
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await sleep(150);
});
afterAll(async () => t?.close());

describe('membership changes reach every live socket', () => {
  it('joins all sockets of an added user at once and removes them at once', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'team' })).body;
    const [c1, c2] = [await open(carol), await open(carol)];
    const added = [waitFor(c1, 'participant_added'), waitFor(c2, 'participant_added')];
    await alice.post(`/rooms/${room.id}/participants`, { userId: 'carol' });
    for (const ev of await Promise.all(added)) {
      expect(ev).toMatchObject({ chatRoomId: room.id, userId: 'carol' });
      expect(ev.room.participants.map((p: any) => p.userId).sort()).toEqual(['alice', 'carol']);
    }
    const msgs = [waitFor(c1, 'new_message'), waitFor(c2, 'new_message')];
    await alice.post(`/rooms/${room.id}/messages`, { content: 'welcome' });
    expect((await Promise.all(msgs)).map((m) => m.content)).toEqual(['welcome', 'welcome']);

    const removed = [waitFor(c1, 'participant_removed'), waitFor(c2, 'participant_removed')];
    await alice.patch(`/rooms/${room.id}/participants/carol/remove`);
    expect(await Promise.all(removed)).toEqual([
      { chatRoomId: room.id, userId: 'carol' },
      { chatRoomId: room.id, userId: 'carol' },
    ]);
    const after = [...record(c1, 'new_message'), ...record(c2, 'new_message')];
    const heard = [recordAll(c1), recordAll(c2)];
    await alice.post(`/rooms/${room.id}/messages`, { content: 'after you left' });
    await sleep(300);
    expect(after).toEqual([]);
    expect(heard.flat()).toEqual([]);
  });

  it('sends room_updated to every participant after a rename', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'old', participantIds: ['bob'] })).body;
    const b = await open(bob);
    const updated = waitFor(b, 'room_updated', (r) => r.id === room.id);
    await alice.patch(`/rooms/${room.id}`, { name: 'new' });
    expect(await updated).toMatchObject({ id: room.id, name: 'new' });
  });

  it('join_chat and leave_chat start and stop one room on one socket, and are refused to strangers', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'quiet', participantIds: ['bob'] })).body;
    const b1 = await open(bob);
    const b2 = await open(bob);
    expect(await call(b1, 'leave_chat', { chatRoomId: room.id })).toEqual({ ok: true, data: null });
    const onB1 = record(b1, 'new_message');
    const onB2 = waitFor(b2, 'new_message');
    await alice.post(`/rooms/${room.id}/messages`, { content: 'one' });
    await onB2;
    await sleep(200);
    expect(onB1).toEqual([]);
    expect(await call(b1, 'join_chat', { chatRoomId: room.id })).toEqual({ ok: true, data: null });
    const back = waitFor(b1, 'new_message');
    await alice.post(`/rooms/${room.id}/messages`, { content: 'two' });
    expect((await back).content).toBe('two');

    const c = await open(carol);
    expect(await call(c, 'join_chat', { chatRoomId: room.id })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await call(c, 'join_chat', { chatRoomId: 'not-an-id' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await call(c, 'typing_start', { chatRoomId: room.id })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await call(c, 'mark_as_read', { chatRoomId: room.id })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('advances lastDeliveredSeq when a recipient acks new_message', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'acks', participantIds: ['bob', 'carol'] })).body;
    const b = await open(bob);
    const c = await open(carol);
    b.on('new_message', (_m, ack) => ack());
    c.on('new_message', () => {}); // carol receives but does not ack
    const sent = (await alice.post(`/rooms/${room.id}/messages`, { content: 'deliver me' })).body;
    let receipts: any;
    for (let i = 0; i < 50; i++) {
      receipts = (await alice.get(`/messages/${sent.id}/receipts`)).body.data;
      if (receipts.find((r: any) => r.userId === 'bob')?.deliveredAt) break;
      await sleep(50);
    }
    const byUser = Object.fromEntries(receipts.map((r: any) => [r.userId, r]));
    expect(byUser.bob.deliveredAt).not.toBeNull();
    expect(byUser.bob.readAt).toBeNull();
    expect(byUser.carol).toEqual({ userId: 'carol', deliveredAt: null, readAt: null });
    const view = (await bob.get(`/rooms/${room.id}`)).body;
    expect(view.participants.find((p: any) => p.userId === 'bob').lastDeliveredSeq).toBe(1);
  });

  it('moves every acking user to the highest seq acked in each room when acks arrive together', async () => {
    const group = (await alice.post('/rooms', { type: 'group', name: 'batched acks', participantIds: ['bob', 'carol'] })).body;
    const pair = (await alice.post('/rooms', { type: 'group', name: 'batched acks 2', participantIds: ['bob'] })).body;
    const b = await open(bob);
    const c = await open(carol);
    b.on('new_message', (_m, ack) => ack());
    c.on('new_message', (_m, ack) => ack());
    await Promise.all([
      ...[1, 2, 3].map((i) => alice.post(`/rooms/${group.id}/messages`, { content: `g${i}` })),
      ...[1, 2].map((i) => alice.post(`/rooms/${pair.id}/messages`, { content: `p${i}` })),
    ]);
    const delivered = async (roomId: string) =>
      Object.fromEntries((await alice.get(`/rooms/${roomId}`)).body.participants.map((p: any) => [p.userId, p.lastDeliveredSeq]));
    let g: Record<string, number> = {},
      p: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      [g, p] = await Promise.all([delivered(group.id), delivered(pair.id)]);
      if (g['bob'] === 3 && g['carol'] === 3 && p['bob'] === 2) break;
      await sleep(50);
    }
    expect(g).toEqual({ alice: 3, bob: 3, carol: 3 });
    expect(p).toEqual({ alice: 2, bob: 2 });
    const last = (await alice.get(`/rooms/${group.id}/messages`)).body.data[2];
    const receipts = Object.fromEntries((await alice.get(`/messages/${last.id}/receipts`)).body.data.map((r: any) => [r.userId, r]));
    expect(receipts['bob'].deliveredAt).not.toBeNull();
    expect(receipts['carol'].deliveredAt).not.toBeNull();
    expect(receipts['carol'].readAt).toBeNull();
  });

  it('throttles a flood of typing_start to one announcement and refuses past the budget', async () => {
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    const a = await open(alice);
    const b = await open(bob);
    const seen = record(b, 'user_typing');
    const started = Date.now();
    const acks = await Promise.all(Array.from({ length: 150 }, () => call(a, 'typing_start', { chatRoomId: room.id })));
    const flood = Date.now() - started;
    await sleep(300);
    // One announcement per throttle window (half of TYPING_TIMEOUT_MS, 2 s here): on a loaded machine the flood itself
    // may outlast a window, and a renewal past it is announced again, as it should be.
    const announced = seen.filter((e) => e.isTyping).length;
    expect(announced).toBeGreaterThanOrEqual(1);
    expect(announced).toBeLessThanOrEqual(1 + Math.floor(flood / 1000));
    expect(acks.filter((r) => r.ok)).toHaveLength(120);
    expect(acks.filter((r) => !r.ok).every((r: any) => r.error.code === 'RATE_LIMITED')).toBe(true);
  });
});

describe('handshake and connection', () => {
  it('accepts the token in an Authorization header', async () => {
    const s = await connect(t.baseUrl, undefined, { headers: { authorization: `Bearer ${bob.token}` } });
    sockets.push(s);
    expect(s.connected).toBe(true);
  });

  it('refuses expired and forged tokens', async () => {
    const expired = await t.token('bob', { expiresIn: Math.floor(Date.now() / 1000) - 120 });
    await expect(connect(t.baseUrl, expired)).rejects.toThrow('UNAUTHORIZED');
    const forged = bob.token.slice(0, -4) + (bob.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await expect(connect(t.baseUrl, forged)).rejects.toThrow('UNAUTHORIZED');
  });

  it('disconnects a socket when its token expires', async () => {
    const soon = await t.token('bob', { expiresIn: Math.floor(Date.now() / 1000) + 2 });
    const s = await open(soon);
    const reason = await new Promise<string>((resolve) => s.on('disconnect', resolve));
    expect(reason).toBe('io server disconnect');
  });

  it('closes the connection of a payload over the size limit', async () => {
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    const a = await open(alice);
    const gone = new Promise<string>((resolve) => a.on('disconnect', resolve));
    a.emit('send_message', { chatRoomId: room.id, content: 'x'.repeat(200 * 1024) });
    expect(await gone).toBe('transport close');
    expect((await alice.get(`/rooms/${room.id}/messages`)).body.data).toEqual([]);
  });
});

describe('socket write limits', () => {
  it('answers RATE_LIMITED past the per-user write budget and stores nothing more', async () => {
    const limited = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '3' });
    try {
      const dave = await limited.as('dave');
      // Made by someone else: REST writes spend the same budget (realtime-security.test.ts), this test counts sends.
      const room = (await (await limited.as('erin')).post('/rooms', { type: 'group', name: 'limits', participantIds: ['dave'] })).body;
      const s = await connect(limited.baseUrl, dave.token);
      const acks = [];
      for (let i = 0; i < 5; i++) acks.push(await call(s, 'send_message', { chatRoomId: room.id, content: `m${i}` }));
      expect(acks.map((a) => a.ok)).toEqual([true, true, true, false, false]);
      expect(acks[3]).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
      expect((await dave.get(`/rooms/${room.id}/messages`)).body.data.map((m: any) => m.content)).toEqual(['m0', 'm1', 'm2']);
      s.close();
    } finally {
      await limited.close();
    }
  });
});
