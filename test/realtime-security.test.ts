import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { call, connect, sleep, waitFor, type ClientSocket } from './helpers/sockets.js';
import { runsClustered } from './helpers/redis.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client, mallory: Client;

beforeAll(async () => {
  t = await startTestApp({ PRESENCE_GRACE_MS: '200', SOCKET_RECOVERY_WINDOW_MS: '60000' });
  [alice, bob, carol, mallory] = await Promise.all([t.as('alice'), t.as('bob'), t.as('carol'), t.as('mallory')]);
});
afterAll(async () => t?.close());

/** socket.io-client keeps the recovery session id and offset in private fields; a thief would read them off the wire. */
const recoveryOf = (s: ClientSocket) => s as unknown as { _pid?: string; _lastOffset?: string };

/** A socket that presents `pid`/`offset` as a recovering client does, recording every packet the server sends it. */
function hijack(token: string, pid: string, offset: string) {
  const packets: Array<{ type: number; data?: unknown[] }> = [];
  const socket: ClientSocket = io(`${t.baseUrl}/chat`, {
    auth: { token, pid, offset },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
  });
  socket.io.on('packet', (p) => packets.push(p as { type: number; data?: unknown[] }));
  const outcome = new Promise<'connected' | string>((resolve) => {
    socket.once('connect', () => resolve('connected'));
    socket.once('connect_error', (err) => resolve(err.message));
  });
  /** Event packets (type 2), the server's 'ready' greeting aside. */
  const events = () => packets.filter((p) => p.type === 2 && p.data?.[0] !== 'ready').map((p) => p.data?.[0]);
  return { socket, outcome, packets, events };
}

/** Connects `client`, waits for the recovery offset, then drops the transport so the server keeps the session. */
async function dropped(client: Client): Promise<{ pid: string; offset: string; sid: string }> {
  const socket = await connect(t.baseUrl, client.token, { ready: true }); // 'ready' carries the first offset
  const { _pid, _lastOffset } = recoveryOf(socket);
  const sid = socket.id!;
  expect(typeof _pid).toBe('string');
  expect(typeof _lastOffset).toBe('string');
  socket.io.engine.close();
  await sleep(100);
  return { pid: _pid!, offset: _lastOffset!, sid };
}

describe('connection-state recovery cannot be taken over', () => {
  it('a stolen pid/offset with an invalid token gets no packet at all, only connect_error UNAUTHORIZED', async () => {
    const { pid, offset } = await dropped(bob);
    // Missed while away: a room created with bob reaches his user channel (and so his session).
    const room = (await alice.post('/rooms', { type: 'group', name: 'secret plans', participantIds: ['bob'] })).body;
    expect(room.id).toBeTypeOf('string');
    const h = hijack('not-a-token', pid, offset);
    expect(await h.outcome).toBe('UNAUTHORIZED');
    await sleep(100);
    expect(h.events()).toEqual([]);
    expect(JSON.stringify(h.packets)).not.toContain('secret plans');
    h.socket.close();
  });

  it("a valid token of another user starts a fresh session: not the victim's socket, rooms or channel", async () => {
    const { pid, offset, sid } = await dropped(carol);
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['carol'] })).body;
    await alice.post(`/rooms/${room.id}/messages`, { content: 'for carol only (missed)' });
    const h = hijack(mallory.token, pid, offset);
    expect(await h.outcome).toBe('connected');
    // A restored session would carry the victim's socket id (the client's own `recovered` flag cannot tell here).
    expect(h.socket.id).not.toBe(sid);
    // Later events of carol's room and of carol's user channel do not reach mallory either.
    await alice.post(`/rooms/${room.id}/messages`, { content: 'for carol only (live)' });
    const group = (await alice.post('/rooms', { type: 'group', name: 'carol and alice', participantIds: ['carol'] })).body;
    expect(group.id).toBeTypeOf('string');
    await sleep(200);
    expect(JSON.stringify(h.packets)).not.toContain('for carol only');
    expect(JSON.stringify(h.packets)).not.toContain('carol and alice');
    expect(h.events()).toEqual([]);
    h.socket.close();
  });

  it("the same user's own recovery still works (the guard lets the rightful owner in)", async () => {
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    const { pid, offset, sid } = await dropped(bob);
    await alice.post(`/rooms/${room.id}/messages`, { content: 'while bob was away' });
    await call(await connect(t.baseUrl, alice.token), 'typing_start', { chatRoomId: room.id });
    const h = hijack(bob.token, pid, offset);
    expect(await h.outcome).toBe('connected');
    expect(h.socket.id).toBe(sid);
    await sleep(300);
    expect(h.events()).toContain('user_typing'); // a broadcast kept for the session
    expect(h.events()).toContain('new_message'); // replayed from the database
    h.socket.close();
  });
});

describe('recovery re-checks membership', () => {
  it("a member removed while disconnected gets none of that room's events on recovery, but keeps the others", async () => {
    const group = (await alice.post('/rooms', { type: 'group', name: 'ops', participantIds: ['bob', 'carol'] })).body;
    const direct = (await carol.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    const b = await connect(t.baseUrl, bob.token, { reconnection: true });
    const seen: Array<{ event: string; room: unknown }> = [];
    b.onAny((event: string, payload: { chatRoomId?: unknown }) => seen.push({ event, room: payload?.chatRoomId }));
    b.on('new_message', (_m, ack) => ack());
    await sleep(100);
    const c = await connect(t.baseUrl, carol.token);
    const back = new Promise<void>((resolve) => b.io.once('reconnect', () => resolve()));
    b.io.reconnectionDelay(800);
    b.io.engine.close();
    await sleep(100);

    expect((await alice.patch(`/rooms/${group.id}/participants/bob/remove`)).status).toBe(200);
    await call(c, 'typing_start', { chatRoomId: group.id });
    await alice.post(`/rooms/${group.id}/messages`, { content: 'bob is gone' });
    await call(c, 'typing_start', { chatRoomId: direct.id });
    await back;
    await sleep(400);

    expect(b.recovered).toBe(true);
    const inGroup = seen.filter((e) => e.room === group.id).map((e) => e.event);
    expect(inGroup).toEqual(['participant_removed']);
    expect(seen.some((e) => e.event === 'user_typing' && e.room === direct.id)).toBe(true);
    // And live events of the room stay away after recovery.
    await call(c, 'typing_start', { chatRoomId: group.id });
    await sleep(200);
    expect(seen.filter((e) => e.room === group.id).map((e) => e.event)).toEqual(['participant_removed']);
    b.close();
    c.close();
  });
});

describe('token expiry', () => {
  it('a token expiring in 30 days keeps its socket (the timer does not overflow)', async () => {
    const token = await t.token('dave', { expiresIn: '30d' });
    const s = await connect(t.baseUrl, token);
    await sleep(300);
    expect(s.connected).toBe(true);
    s.close();
  });

  it('a token expiring in 2 s is disconnected at expiry', async () => {
    const token = await t.token('erin', { expiresIn: Math.floor(Date.now() / 1000) + 2 });
    const s = await connect(t.baseUrl, token);
    const gone = new Promise<string>((resolve) => s.once('disconnect', (reason) => resolve(reason)));
    expect(await gone).toBe('io server disconnect');
  });
});

describe('socket limits', () => {
  it('REST and socket writes spend one budget', async () => {
    const limited = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '4' });
    try {
      const u = await limited.as('frank');
      const room = (await u.post('/rooms', { type: 'direct', participantIds: ['gina'] })).body; // 1
      await u.post(`/rooms/${room.id}/messages`, { content: 'rest 1' }); // 2
      const s = await connect(limited.baseUrl, u.token);
      expect((await call(s, 'send_message', { chatRoomId: room.id, content: 'socket 1' })).ok).toBe(true); // 3
      expect((await call(s, 'send_message', { chatRoomId: room.id, content: 'socket 2' })).ok).toBe(true); // 4
      const fifth = await call(s, 'send_message', { chatRoomId: room.id, content: 'socket 3' });
      expect(fifth).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
      const rest = await u.post(`/rooms/${room.id}/messages`, { content: 'rest 2' });
      expect(rest.status).toBe(429);
      expect(rest.body.code).toBe('RATE_LIMITED');
      expect(Number(rest.headers.get('retry-after'))).toBeGreaterThan(0);
      const history = await u.get(`/rooms/${room.id}/messages`);
      expect(history.body.data.map((m: { content: string }) => m.content)).toEqual(['rest 1', 'socket 1', 'socket 2']);
      s.close();
    } finally {
      await limited.close();
    }
  });

  it('join_chat and leave_chat are limited per user', async () => {
    const limited = await startTestApp({ RATE_LIMIT_JOINS_PER_MINUTE: '3' });
    try {
      const u = await limited.as('hank');
      const room = (await u.post('/rooms', { type: 'direct', participantIds: ['ivy'] })).body;
      const s = await connect(limited.baseUrl, u.token);
      for (const event of ['leave_chat', 'join_chat', 'leave_chat'] as const)
        expect((await call(s, event, { chatRoomId: room.id })).ok).toBe(true);
      expect(await call(s, 'join_chat', { chatRoomId: room.id })).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
      s.close();
    } finally {
      await limited.close();
    }
  });

  it('MAX_SOCKETS_PER_USER: a burst of handshakes gets exactly that many sockets, the rest connect_error RATE_LIMITED', async () => {
    const limited = await startTestApp({ MAX_SOCKETS_PER_USER: '3' });
    try {
      const token = await limited.token('jack');
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => connect(limited.baseUrl, token)));
      const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
      expect(ok).toHaveLength(3);
      expect(refused).toEqual(Array(9).fill('RATE_LIMITED'));
      // Another user is not affected; a closed socket gives its place back.
      const other = await connect(limited.baseUrl, await limited.token('kate'));
      ok[0]!.close();
      await sleep(200);
      const again = await connect(limited.baseUrl, token);
      await expect(connect(limited.baseUrl, token)).rejects.toThrow('RATE_LIMITED');
      for (const s of [...ok, other, again]) s.close();
    } finally {
      await limited.close();
    }
  });

  it('a refused socket announces nothing and a user at the cap stays online once', async () => {
    const limited = await startTestApp({ MAX_SOCKETS_PER_USER: '1', PRESENCE_GRACE_MS: '100' });
    try {
      const l = await limited.as('liam');
      await l.post('/rooms', { type: 'direct', participantIds: ['mia'] });
      const watcher = await connect(limited.baseUrl, await limited.token('mia'));
      const online = waitFor(watcher, 'user_online', (e) => e.userId === 'liam');
      const first = await connect(limited.baseUrl, l.token);
      await online;
      const offline: unknown[] = [];
      watcher.on('user_offline', (e) => offline.push(e));
      await expect(connect(limited.baseUrl, l.token)).rejects.toThrow('RATE_LIMITED');
      await sleep(400);
      expect(offline).toEqual([]);
      const presence = await (await limited.as('mia')).get('/presence?userIds=liam');
      expect(presence.body.data).toEqual([expect.objectContaining({ userId: 'liam', online: true })]);
      first.close();
      watcher.close();
    } finally {
      await limited.close();
    }
  });
});

const clustered = runsClustered();

describe.runIf(clustered)('limits hold across instances', () => {
  it('MAX_SOCKETS_PER_USER and the write budget are counted once for the whole deployment', async () => {
    const a = await startTestApp({ MAX_SOCKETS_PER_USER: '3', RATE_LIMIT_WRITES_PER_MINUTE: '4' });
    const b = await startPeer(a);
    try {
      const token = await a.token('nora');
      const sockets = [await connect(a.baseUrl, token), await connect(a.baseUrl, token), await connect(b.baseUrl, token)];
      await expect(connect(b.baseUrl, token)).rejects.toThrow('RATE_LIMITED');
      await expect(connect(a.baseUrl, token)).rejects.toThrow('RATE_LIMITED');

      const onA = await a.as('nora');
      const onB = await b.as('nora');
      const room = (await onA.post('/rooms', { type: 'direct', participantIds: ['olga'] })).body; // 1
      expect((await call(sockets[2]!, 'send_message', { chatRoomId: room.id, content: 'b socket' })).ok).toBe(true); // 2
      expect((await onB.post(`/rooms/${room.id}/messages`, { content: 'b rest' })).status).toBe(201); // 3
      expect((await call(sockets[0]!, 'send_message', { chatRoomId: room.id, content: 'a socket' })).ok).toBe(true); // 4
      expect((await onA.post(`/rooms/${room.id}/messages`, { content: 'over' })).status).toBe(429);
      expect(await call(sockets[2]!, 'send_message', { chatRoomId: room.id, content: 'over' })).toMatchObject({
        ok: false,
        error: { code: 'RATE_LIMITED' },
      });
      sockets.forEach((s) => s.close());
    } finally {
      await b.close();
      await a.close();
    }
  });
});
