import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { call, connect, record, sleep, waitFor, type ClientSocket } from './helpers/sockets.js';
import { startService } from './helpers/process.js';
import { TEST_JWT_SECRET } from './helpers/app.js';
import { runsClustered } from './helpers/redis.js';

// Two instances of one deployment (one PostgreSQL database, one Redis): only on the PostgreSQL run with Redis.
const clustered = runsClustered();

describe.runIf(clustered)('two instances behave as one', () => {
  let a: TestApp, b: TestApp;
  let aliceA: Client, bobB: Client;
  const sockets: ClientSocket[] = [];
  const open = async (app: TestApp, token: string) => {
    const s = await connect(app.baseUrl, token);
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    a = await startTestApp({ PRESENCE_GRACE_MS: '300', TYPING_TIMEOUT_MS: '600' });
    b = await startPeer(a);
    aliceA = await a.as('alice', { name: 'Alice' });
    bobB = await b.as('bob', { name: 'Bob' });
  });
  afterAll(async () => {
    sockets.forEach((s) => s.close());
    await b?.close();
    await a?.close();
  });

  it('delivers messages, typing and reads across instances, with delivery acks from the other instance', async () => {
    const room = (await aliceA.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    const sa = await open(a, aliceA.token);
    const sb = await open(b, bobB.token);
    sb.on('new_message', (_m, ack) => ack());
    const got = waitFor(sb, 'new_message', (m) => m.content === 'from A');
    const ack = await call(sa, 'send_message', { chatRoomId: room.id, content: 'from A', clientMessageId: 'c-1' });
    expect(ack.ok).toBe(true);
    expect((await got).seq).toBe(1);
    const back = waitFor(sa, 'new_message', (m) => m.content === 'from B over REST');
    await bobB.post(`/rooms/${room.id}/messages`, { content: 'from B over REST' });
    expect((await back).seq).toBe(2);

    const typing = waitFor(sa, 'user_typing', (e) => e.userId === 'bob' && e.isTyping);
    await call(sb, 'typing_start', { chatRoomId: room.id });
    await typing;
    // The typist's start expires on whichever instance sweeps first.
    await waitFor(sa, 'user_typing', (e) => e.userId === 'bob' && !e.isTyping, 3000);

    await call(sa, 'send_message', { chatRoomId: room.id, content: 'read me' });
    const read = waitFor(sa, 'message_read', (e) => e.userId === 'bob');
    await call(sb, 'mark_as_read', { chatRoomId: room.id });
    expect((await read).lastReadSeq).toBe(3);

    // bob's ack on instance B moved his delivery position, seen through instance A.
    let delivered = 0;
    for (let i = 0; i < 40 && delivered < 1; i++) {
      delivered = (await aliceA.get(`/rooms/${room.id}`)).body.participants.find((p: any) => p.userId === 'bob').lastDeliveredSeq;
      await sleep(50);
    }
    expect(delivered).toBeGreaterThanOrEqual(1);
    // The same clientMessageId on the other instance is the same message.
    const again = await a.as('alice').then((c) => c.post(`/rooms/${room.id}/messages`, { content: 'from A', clientMessageId: 'c-1' }));
    expect(again.status).toBe(200);
    expect(again.body.seq).toBe(1);
  });

  it('tells each sender on either instance that the recipients on the other received their messages (message_delivered)', async () => {
    // Two rooms, so one flush of delivery acks moves two watermarks: they cross to the other instance as one packet.
    const carolA = await a.as('carol');
    const daveB = await b.as('dave');
    const erinB = await b.as('erin');
    const one = (await aliceA.post('/rooms', { type: 'group', name: 'receipts 1', participantIds: ['dave'] })).body;
    const two = (await carolA.post('/rooms', { type: 'group', name: 'receipts 2', participantIds: ['dave', 'erin'] })).body;
    const [sAlice, sCarol, sDave, sErin] = await Promise.all([
      open(a, aliceA.token),
      open(a, carolA.token),
      open(b, daveB.token),
      open(b, erinB.token),
    ]);
    for (const s of [sDave, sErin]) s.on('new_message', (_m, ack) => ack());
    const toAlice = waitFor(sAlice, 'message_delivered', (e) => e.chatRoomId === one.id && e.userId === 'dave');
    const toCarol = record(sCarol, 'message_delivered');
    const heardByDave = record(sDave, 'message_delivered');
    expect((await call(sAlice, 'send_message', { chatRoomId: one.id, content: 'to dave' })).ok).toBe(true);
    expect((await call(sCarol, 'send_message', { chatRoomId: two.id, content: 'to dave and erin' })).ok).toBe(true);
    expect(await toAlice).toMatchObject({ chatRoomId: one.id, userId: 'dave', lastDeliveredSeq: 1 });
    for (let i = 0; i < 100 && toCarol.length < 2; i++) await sleep(50);
    expect(toCarol.map((e) => e.userId).sort()).toEqual(['dave', 'erin']);
    expect(toCarol.every((e) => e.chatRoomId === two.id && e.lastDeliveredSeq === 1)).toBe(true);
    // Only the senders hear of it: dave (a recipient) did not.
    expect(heardByDave).toEqual([]);
    for (const s of [sAlice, sCarol, sDave, sErin]) s.close();
  });

  it('moves sockets on other instances when membership changes', async () => {
    const room = (await aliceA.post('/rooms', { type: 'group', name: 'cross' })).body;
    const carolB = await b.as('carol');
    const sc = await open(b, carolB.token);
    const added = waitFor(sc, 'participant_added', (e) => e.chatRoomId === room.id);
    await aliceA.post(`/rooms/${room.id}/participants`, { userId: 'carol' });
    expect((await added).userId).toBe('carol');
    const msg = waitFor(sc, 'new_message', (m) => m.chatRoomId === room.id);
    await aliceA.post(`/rooms/${room.id}/messages`, { content: 'hi carol' });
    expect((await msg).content).toBe('hi carol');
    const removed = waitFor(sc, 'participant_removed', (e) => e.chatRoomId === room.id);
    await aliceA.patch(`/rooms/${room.id}/participants/carol/remove`);
    await removed;
    const after = record(sc, 'new_message');
    await aliceA.post(`/rooms/${room.id}/messages`, { content: 'gone' });
    await sleep(300);
    expect(after).toEqual([]);
  });

  it('counts presence cluster-wide: online until the sockets on both instances are gone', async () => {
    await aliceA.post('/rooms', { type: 'direct', participantIds: ['dave'] });
    const sa = await open(a, aliceA.token);
    const daveA = await a.as('dave');
    const online = waitFor(sa, 'user_online', (e) => e.userId === 'dave');
    const d1 = await open(a, daveA.token);
    const d2 = await open(b, daveA.token);
    await online;
    const offline = record(sa, 'user_offline');
    d1.close();
    await sleep(700);
    expect(offline).toEqual([]);
    expect((await bobB.get('/presence?userIds=dave')).body.data).toEqual([]); // bob shares no room with dave
    expect((await b.as('alice').then((c) => c.get('/presence?userIds=dave'))).body.data[0].online).toBe(true);
    d2.close();
    const ev = await waitFor(sa, 'user_offline', (e) => e.userId === 'dave', 3000);
    expect(Date.parse(ev.lastSeenAt)).not.toBeNaN();
    expect((await aliceA.get('/presence?userIds=dave')).body.data[0]).toMatchObject({ online: false, lastSeenAt: ev.lastSeenAt });
  });

  it('lets go of the users of an instance that died: offline once its heartbeats stop', async () => {
    await aliceA.post('/rooms', { type: 'direct', participantIds: ['erin'] });
    const sa = await open(a, aliceA.token);
    const child = await startService({
      DATABASE_URL: a.db.url!,
      REDIS_URL: a.config.redisUrl!,
      REDIS_PREFIX: a.config.redisPrefix,
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: a.config.dataDir,
    });
    try {
      const online = waitFor(sa, 'user_online', (e) => e.userId === 'erin', 10_000);
      const erin = await connect(child.url, await a.token('erin'));
      sockets.push(erin);
      await online;
      const offline = waitFor(sa, 'user_offline', (e) => e.userId === 'erin', 30_000);
      await child.kill('SIGKILL');
      const ev = await offline;
      expect(Date.parse(ev.lastSeenAt)).not.toBeNaN();
      expect((await aliceA.get('/presence?userIds=erin')).body.data[0].online).toBe(false);
    } finally {
      await child.kill('SIGKILL');
    }
  }, 60_000);
});

describe.runIf(!clustered)('two instances', () => {
  it('need PostgreSQL and Redis (TEST_DATABASE_URL and TEST_REDIS_URL); on this run the suite is skipped', () => {
    expect(clustered).toBe(false);
  });
});
