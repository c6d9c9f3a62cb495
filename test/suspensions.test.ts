import { sql } from 'drizzle-orm';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { ISO, ok } from './helpers/changes.js';
import { buildMessage, buildRoom } from './helpers/factories.js';
import { call, connect, sleep, waitFor, type ClientSocket } from './helpers/sockets.js';
import { runsClustered } from './helpers/redis.js';

let t: TestApp;
let alice: Client, bob: Client, agent: Client, root: Client, root2: Client;
let roomId: string;
const sockets: ClientSocket[] = [];
const open = async (app: TestApp, c: Client) => {
  const s = await connect(app.baseUrl, c.token);
  sockets.push(s);
  return s;
};

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000' });
  [alice, bob, agent, root, root2] = await Promise.all([
    t.as('alice'),
    t.as('bob'),
    t.as('agent', { role: 'support' }),
    t.as('root', { role: 'admin' }),
    t.as('root2', { role: 'admin' }),
  ]);
  roomId = (await buildRoom(alice, { participantIds: ['bob'] })).id;
});
afterAll(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await t?.close();
});

const suspend = (c: Client, userId: string, body: unknown) => c.put(`/admin/suspensions/${encodeURIComponent(userId)}`, body);
const lift = (c: Client, userId: string) => c.delete(`/admin/suspensions/${encodeURIComponent(userId)}`);
const stored = async (): Promise<unknown[]> =>
  ((await t.app.database.db.execute(sql`select user_id from user_suspension order by user_id`)) as unknown as { rows: unknown[] }).rows;
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

/** Polls `probe` until it answers `status` (a change that reaches another instance or expires), at most `ms`. */
async function until(probe: () => Promise<{ status: number }>, status: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await probe();
    if (res.status === status) return;
    if (Date.now() > deadline) throw new Error(`still ${res.status}, not ${status}, after ${ms} ms`);
    await sleep(50);
  }
}

describe('PUT/DELETE/GET /admin/suspensions', () => {
  it('is for platform admins only: 403 for users and support staff, and nothing is stored', async () => {
    for (const c of [alice, agent]) {
      expectProblem(await suspend(c, 'bob', { reason: 'spam' }), 403, 'FORBIDDEN');
      expectProblem(await lift(c, 'bob'), 403, 'FORBIDDEN');
      expectProblem(await c.get('/admin/suspensions'), 403, 'FORBIDDEN');
    }
    expect(await stored()).toEqual([]);
  });

  it('refuses bad input with 400 and stores nothing', async () => {
    for (const body of [
      {},
      { reason: '' },
      { reason: '   ' },
      { reason: 'x'.repeat(501) },
      { reason: 5 },
      { reason: 'bell\u0007' },
      { reason: 'spam', until: '2001-01-01T00:00:00Z' },
      { reason: 'spam', until: new Date(Date.now() - 1000).toISOString() },
      { reason: 'spam', until: 'next week' },
      { reason: 'spam', until: 12 },
      { reason: 'spam', extra: true },
    ]) {
      expectProblem(await suspend(root, 'bob', body), 400, 'VALIDATION_FAILED');
    }
    expectProblem(await suspend(root, 'bad\u0001id', { reason: 'spam' }), 400, 'VALIDATION_FAILED');
    const self = await suspend(root, 'root', { reason: 'oops' });
    expectProblem(self, 400, 'VALIDATION_FAILED');
    expect(self.body.detail).toBe('you cannot suspend yourself');
    expect(await stored()).toEqual([]);
  });

  it('suspends (200), replaces on a repeat, lists those in force, and lifts idempotently (204)', async () => {
    const at = inAnHour();
    const first = await suspend(root, 'carol', { until: at, reason: 'spam' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ userId: 'carol', until: at, reason: 'spam', createdAt: expect.stringMatching(ISO), createdBy: 'root' });
    const second = await suspend(root2, 'carol', { reason: 'worse' });
    expect(second.body).toEqual({
      userId: 'carol',
      until: null,
      reason: 'worse',
      createdAt: expect.stringMatching(ISO),
      createdBy: 'root2',
    });
    ok(await suspend(root, 'dave', { reason: 'also', until: null }));
    const page = ok(await root.get('/admin/suspensions?limit=1'));
    expect(page.data).toEqual([expect.objectContaining({ userId: 'dave' })]);
    expect(ok(await root.get(`/admin/suspensions?cursor=${page.nextCursor}`))).toEqual({ data: [second.body], nextCursor: null });
    expectProblem(await root.get('/admin/suspensions?cursor=bogus'), 400, 'VALIDATION_FAILED');

    expect((await lift(root, 'carol')).status).toBe(204);
    expect((await lift(root, 'carol')).status).toBe(204);
    expect((await lift(root, 'nobody-at-all')).status).toBe(204);
    expect((await lift(root, 'dave')).status).toBe(204);
    expect(ok(await root.get('/admin/suspensions')).data).toEqual([]);
    expect(await stored()).toEqual([]);
  });

  it('is documented in the OpenAPI document, with reports, their 4xx answers included', async () => {
    const { paths } = ok(await root.get('/docs/json'));
    const answers = (path: string, method: string) => Object.keys(paths[`/api/v1/chat${path}`][method].responses);
    expect(answers('/admin/suspensions/{userId}', 'put')).toEqual(expect.arrayContaining(['200', '400', '401', '403']));
    expect(answers('/admin/suspensions/{userId}', 'delete')).toEqual(expect.arrayContaining(['204', '403']));
    expect(answers('/admin/suspensions', 'get')).toEqual(expect.arrayContaining(['200', '400', '403']));
    expect(answers('/messages/{id}/reports', 'post')).toEqual(expect.arrayContaining(['200', '201', '400', '404', '409']));
    expect(answers('/admin/reports', 'get')).toEqual(expect.arrayContaining(['200', '400', '403']));
    expect(answers('/admin/reports/{id}', 'patch')).toEqual(expect.arrayContaining(['200', '400', '403', '404', '409']));
  });
});

describe('a suspended user', () => {
  it('reads but cannot write over REST or sockets; the sockets hear `suspended` at once; lifting restores', async () => {
    const message = await buildMessage(bob, roomId, { content: 'before' });
    const live = await open(t, bob);
    const heard = waitFor(live, 'suspended');
    const at = inAnHour();
    ok(await suspend(root, 'bob', { until: at, reason: 'cool down' }));
    expect(await heard).toEqual({ until: at, reason: 'cool down' });
    const detail = `suspended until ${at}`;

    // Every REST write, whatever its route, before its body is even validated.
    for (const res of [
      await bob.post(`/rooms/${roomId}/messages`, { content: 'hi' }),
      await bob.post(`/rooms/${roomId}/messages`, { nonsense: true }),
      await bob.patch(`/messages/${message.id}`, { content: 'edited' }),
      await bob.delete(`/messages/${message.id}`),
      await bob.put(`/messages/${message.id}/reactions/${encodeURIComponent('👍')}`),
      await bob.post('/rooms', { type: 'group', name: 'mine' }),
      await bob.post(`/messages/${message.id}/reports`, { reason: 'spam' }),
    ]) {
      expectProblem(res, 403, 'FORBIDDEN');
      expect(res.body.detail).toBe(detail);
    }
    // Every socket write event, with the same words; following a room is not a write.
    for (const [event, payload] of [
      ['send_message', { chatRoomId: roomId, content: 'hi' }],
      ['edit_message', { messageId: message.id, content: 'x' }],
      ['delete_message', { messageId: message.id }],
      ['add_reaction', { messageId: message.id, emoji: '👍' }],
      ['pin_message', { chatRoomId: roomId, messageId: message.id }],
      ['typing_start', { chatRoomId: roomId }],
      ['mark_as_read', { chatRoomId: roomId }],
    ] as const) {
      expect(await call(live, event, payload)).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: detail } });
    }
    expect(await call(live, 'join_chat', { chatRoomId: roomId })).toEqual({ ok: true, data: null });
    // Reads work.
    expect((await bob.get(`/rooms/${roomId}/messages`)).status).toBe(200);
    expect((await bob.get(`/messages/${message.id}`)).body.content).toBe('before');
    expect((await bob.get('/rooms')).status).toBe(200);
    // A socket connected while suspended is told at once too.
    const fresh: ClientSocket = io(`${t.baseUrl}/chat`, {
      auth: { token: bob.token },
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
    });
    sockets.push(fresh);
    // Listening before the connection opens: the event follows `ready` at once.
    expect(await waitFor(fresh, 'suspended')).toEqual({ until: at, reason: 'cool down' });
    // Nothing was written meanwhile; others are unaffected.
    expect((await alice.get(`/rooms/${roomId}/messages`)).body.data.map((m: any) => m.content)).toEqual(['before']);
    expect((await alice.post(`/rooms/${roomId}/messages`, { content: 'alice speaks' })).status).toBe(201);

    expect((await lift(root, 'bob')).status).toBe(204);
    expect((await bob.post(`/rooms/${roomId}/messages`, { content: 'free' })).status).toBe(201);
    expect(await call(live, 'send_message', { chatRoomId: roomId, content: 'free too' })).toMatchObject({ ok: true });
  });

  it('is refused "until lifted" when no end is given', async () => {
    ok(await suspend(root, 'bob', { reason: 'indefinitely' }));
    const res = await bob.post(`/rooms/${roomId}/messages`, { content: 'hi' });
    expectProblem(res, 403, 'FORBIDDEN');
    expect(res.body.detail).toBe('suspended until lifted');
    expect((await lift(root, 'bob')).status).toBe(204);
  });

  it('writes again once `until` has passed, without anyone lifting it', async () => {
    ok(await suspend(root, 'bob', { reason: 'short', until: new Date(Date.now() + 1500).toISOString() }));
    let sent = 0;
    await until(async () => {
      const res = await bob.post(`/rooms/${roomId}/messages`, { content: `expired ${sent++}` });
      if (res.status !== 201) expectProblem(res, 403, 'FORBIDDEN');
      return res;
    }, 201);
    // Expired suspensions are no longer listed.
    expect(ok(await root.get('/admin/suspensions')).data).toEqual([]);
  });
});

// Two instances of one deployment (one PostgreSQL database, one Redis): only on the PostgreSQL run with Redis.
const clustered = runsClustered();

describe.runIf(clustered)('across instances', () => {
  it('a suspension made on one instance refuses writes on the other, and its lifting restores them', async () => {
    const peer = await startPeer(t);
    try {
      // Without its periodic reload, the peer learns of changes only through the signal between instances.
      await peer.app.services.suspensions.stop();
      const bobB = await peer.as('bob');
      const live = await open(peer, bobB);
      const heard = waitFor(live, 'suspended');
      ok(await suspend(root, 'bob', { reason: 'cluster-wide' }));
      expect(await heard).toEqual({ until: null, reason: 'cluster-wide' });
      await until(() => bobB.post(`/rooms/${roomId}/messages`, { content: 'on B' }), 403);
      const refused = await call(live, 'send_message', { chatRoomId: roomId, content: 'socket on B' });
      expect(refused).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: 'suspended until lifted' } });
      expect((await lift(root, 'bob')).status).toBe(204);
      await until(() => bobB.post(`/rooms/${roomId}/messages`, { content: 'on B again' }), 201);
    } finally {
      await peer.close();
    }
  });
});
