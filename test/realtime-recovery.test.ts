import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { connect, sleep, waitFor } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client;

beforeAll(async () => {
  t = await startTestApp({ PRESENCE_GRACE_MS: '2000' });
  alice = await t.as('alice');
  bob = await t.as('bob');
});
afterAll(async () => t?.close());

describe('short drops', () => {
  it('recovers the session and replays the messages missed while away, without a presence flap', async () => {
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    const a = await connect(t.baseUrl, alice.token);
    // Bob's first coming online is not a flap; under load it can reach alice late, so it is awaited, not slept for.
    const bobOnline = waitFor(a, 'user_online', (e) => e.userId === 'bob');
    const b = await connect(t.baseUrl, bob.token, { reconnection: true, ready: true }); // 'ready' gives the recovery offset
    await bobOnline;
    const received: string[] = [];
    b.on('new_message', (m, ack) => {
      received.push(m.content);
      ack();
    });
    const presence: string[] = [];
    a.on('user_offline', (e) => presence.push(`offline:${e.userId}`));
    a.on('user_online', (e) => presence.push(`online:${e.userId}`));
    const first = waitFor(b, 'new_message');
    await alice.post(`/rooms/${room.id}/messages`, { content: 'before' });
    await first;
    await sleep(100); // let the ack reach the server

    const reconnected = new Promise<void>((resolve) => b.io.once('reconnect', () => resolve()));
    // Pause reconnecting long enough for messages to be sent while bob is away.
    b.io.reconnectionDelay(500);
    b.io.engine.close();
    await sleep(100);
    expect(b.connected).toBe(false);
    await alice.post(`/rooms/${room.id}/messages`, { content: 'missed 1' });
    await alice.post(`/rooms/${room.id}/messages`, { content: 'missed 2' });
    await reconnected;
    await sleep(300);
    expect(b.recovered).toBe(true);
    expect(received).toEqual(['before', 'missed 1', 'missed 2']);
    expect(presence).toEqual([]);
    a.close();
    b.close();
  });

  it('replays to many sockets dropped together, each its own missed messages in order and once, across rooms', async () => {
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    const group = (await alice.post('/rooms', { type: 'group', name: 'storm', participantIds: users })).body;
    const small = (await alice.post('/rooms', { type: 'group', name: 'storm 2', participantIds: users.slice(0, 3) })).body;
    const clients = await Promise.all(users.map((u) => t.as(u)));
    // Two sockets of u1, so the same user recovers twice.
    const tokens = [...clients.map((c) => c.token), clients[0]!.token];
    const sockets = await Promise.all(tokens.map((token) => connect(t.baseUrl, token, { reconnection: true })));
    const received = sockets.map(() => [] as string[]);
    sockets.forEach((s, i) =>
      s.on('new_message', (m, ack) => {
        received[i]!.push(`${m.chatRoomId === group.id ? 'g' : 's'}${m.seq}:${m.content}`);
        ack();
      }),
    );
    await sleep(100);
    await alice.post(`/rooms/${group.id}/messages`, { content: 'before' });
    await sleep(300); // acks reach the server: the replay starts above this message

    const back = sockets.map((s) => new Promise<void>((resolve) => s.io.once('reconnect', () => resolve())));
    for (const s of sockets) {
      s.io.reconnectionDelay(500);
      s.io.engine.close();
    }
    await sleep(100);
    for (let i = 1; i <= 3; i++) await alice.post(`/rooms/${group.id}/messages`, { content: `g missed ${i}` });
    await alice.post(`/rooms/${small.id}/messages`, { content: 's missed' });
    await Promise.all(back);
    await sleep(500);
    const inGroup = ['g1:before', 'g2:g missed 1', 'g3:g missed 2', 'g4:g missed 3'];
    sockets.forEach((s, i) => {
      expect(s.recovered).toBe(true);
      const user = i === users.length ? 'u1' : users[i]!;
      const expected = users.slice(0, 3).includes(user) ? [...inGroup, 's1:s missed'] : inGroup;
      expect([...received[i]!].sort()).toEqual(expected.sort());
      expect(received[i]!.filter((m) => m.startsWith('g'))).toEqual(inGroup);
    });
    sockets.forEach((s) => s.close());
  });

  it("reads a returning socket's rooms once: the rooms read to filter its session also make its joins", async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'one read', participantIds: ['carol'] })).body;
    const carol = await t.as('carol');
    const socket = await connect(t.baseUrl, carol.token, { reconnection: true, ready: true });
    const got = waitFor(socket, 'new_message', (m) => m.content === 'while away');
    socket.on('new_message', (_m, ack) => ack());
    // Every statement the ORM sends (hot statements too) is told to its logger: count the room reads naming carol.
    const logger = (t.app.database.db as unknown as { session: { logger: { logQuery(q: string, p: unknown[]): void } } }).session.logger;
    const logQuery = logger.logQuery;
    let reads = 0;
    logger.logQuery = function (query, params) {
      if (/from chat_participant p join chat_room r/.test(query) && JSON.stringify(params).includes('carol')) reads++;
      return logQuery.call(this, query, params);
    };
    try {
      const back = new Promise<void>((resolve) => socket.io.once('reconnect', () => resolve()));
      socket.io.reconnectionDelay(300);
      socket.io.engine.close();
      await sleep(50);
      await alice.post(`/rooms/${room.id}/messages`, { content: 'while away' });
      await back;
      await got;
      expect(socket.recovered).toBe(true);
      expect(reads).toBe(1);
    } finally {
      logger.logQuery = logQuery;
      socket.close();
    }
  });
});
