import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { parseLsn } from '../src/db/replica-fences.js';
import { request, startAppOn, type Client, type TestApp } from './helpers/app.js';
import { haveReplicationBinaries, startReplication, type TestReplication } from './helpers/pg-replica.js';
import { eventually } from './helpers/sdk.js';
import { call, connect, waitFor, type ClientSocket } from './helpers/sockets.js';

// A primary and a streaming replica of its own, started by the test from the local PostgreSQL's programs.
const runs = inject('template').kind === 'postgres' && haveReplicationBinaries;

/** `chat_db_reads_total` by `target/reason`, and the replica gauges, from /metrics. */
async function readMetrics(t: TestApp) {
  const text = (await request(t.baseUrl, '/metrics')).body as string;
  const reads: Record<string, number> = {};
  for (const m of text.matchAll(/^chat_db_reads_total\{target="(\w+)",reason="(\w+)"\} (\d+)/gm)) reads[`${m[1]}/${m[2]}`] = Number(m[3]);
  const gauge = (name: string) => Number(new RegExp(`^${name}\\{replica="[^"]+"\\} (-?[\\d.e+-]+)`, 'm').exec(text)?.[1] ?? NaN);
  return { reads, up: gauge('chat_db_replica_up'), lag: gauge('chat_db_replica_lag_seconds') };
}

/** How many reads ran where, while `fn` ran. */
async function routed(t: TestApp, fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = (await readMetrics(t)).reads;
  await fn();
  const after = (await readMetrics(t)).reads;
  const delta: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) delta[k] = v - (before[k] ?? 0);
  return delta;
}

describe.runIf(runs)('on a primary with a read replica (DATABASE_READ_URLS)', () => {
  let repl: TestReplication;
  let t: TestApp;
  let alice: Client, bob: Client, root: Client;
  let roomId: string;
  const sockets: ClientSocket[] = [];

  beforeAll(async () => {
    repl = await startReplication();
    t = await startAppOn(repl.primaryUrl, { DATABASE_READ_URLS: repl.replicaUrl, DATABASE_READ_MAX_LAG_MS: '10000' });
    alice = await t.as('alice', { name: 'Alice' });
    bob = await t.as('bob', { name: 'Bob' });
    root = await t.as('root', { role: 'admin' });
    const room = await alice.post('/rooms', { type: 'group', name: 'replicated', participantIds: ['bob'] });
    expect(room.status).toBe(201);
    roomId = room.body.id;
    await repl.caughtUp();
  }, 60_000);
  afterAll(async () => {
    sockets.forEach((s) => s.close());
    await t?.close();
    await repl?.close();
  });

  it('reads history, room lists, receipts, changes and search on the replica once it holds what they must show', async () => {
    expect((await alice.post(`/rooms/${roomId}/messages`, { content: 'replicated hello' })).status).toBe(201);
    await repl.caughtUp();
    const delta = await routed(t, async () => {
      const history = await bob.get(`/rooms/${roomId}/messages`);
      expect(history.body.data.map((m: { content: string }) => m.content)).toEqual(['replicated hello']);
      expect((await bob.get('/rooms')).body.data.map((r: { id: string }) => r.id)).toEqual([roomId]);
      expect((await bob.get(`/rooms/${roomId}/changes`)).body.data).toHaveLength(1);
      expect((await bob.get(`/messages/${history.body.data[0].id}/receipts`)).status).toBe(200);
      expect((await bob.get('/messages/search?q=replicated')).body.data).toHaveLength(1);
      expect((await root.get('/admin/users/alice/export')).body.messages).toHaveLength(1);
    });
    expect(delta).toEqual({ 'replica/replica': 6 });
    const m = await readMetrics(t);
    expect(m.up).toBe(1);
    expect(m.lag).toBeGreaterThanOrEqual(0);
  });

  it('with the replica 2 s behind, a client still sees its own writes and everything it was told live', async () => {
    await repl.setApplyDelay(2000);
    try {
      const sb = await connect(t.baseUrl, bob.token);
      sockets.push(sb);
      sb.on('new_message', (_m, ack) => ack?.());
      const live = waitFor(sb, 'new_message', (msg) => msg.content === 'while the replica lags');

      const delta = await routed(t, async () => {
        // Alice's own write, over REST: her next reads go to the primary until a replica has replayed it.
        const sent = await alice.post(`/rooms/${roomId}/messages`, { content: 'while the replica lags' });
        expect(sent.status).toBe(201);
        const mine = await alice.get(`/rooms/${roomId}/messages`);
        expect(mine.body.data.at(-1).content).toBe('while the replica lags');
        expect((await alice.get('/messages/search?q=lags')).body.data).toHaveLength(1);
        expect((await alice.get('/rooms')).body.data[0].lastMessage.content).toBe('while the replica lags');
        const exported = (await root.get('/admin/users/alice/export')).body;
        expect(exported.messages.map((m: { content: string }) => m.content)).toContain('while the replica lags');

        // Bob was told live; he has written nothing, yet his catch-up after the seq he had is complete.
        const msg = await live;
        const after = await bob.get(`/rooms/${roomId}/messages?after=${msg.seq - 1}`);
        expect(after.body.data.map((m: { seq: number }) => m.seq)).toEqual([msg.seq]);
        const latest = await bob.get(`/rooms/${roomId}/messages`);
        expect(latest.body.data.at(-1).seq).toBe(msg.seq);

        // Bob's own writes over the socket: an edit and a read mark, then his reads.
        const reply = await call(sb, 'send_message', { chatRoomId: roomId, content: 'bob replies' });
        if (!reply.ok) throw new Error(reply.error.message);
        const replyId = (reply.data as { id: string }).id;
        expect((await call(sb, 'edit_message', { messageId: replyId, content: 'bob replies, edited' })).ok).toBe(true);
        const changes = await bob.get(`/rooms/${roomId}/changes?after=0`);
        expect(changes.body.data.find((m: { id: string }) => m.id === replyId).content).toBe('bob replies, edited');
        expect((await call(sb, 'mark_as_read', { chatRoomId: roomId })).ok).toBe(true);
        const rooms = await bob.get('/rooms');
        expect(rooms.body.data[0].unreadCount).toBe(0);
      });
      // Not one of these reads reached the lagging replica: fences (own writes) and rooms (told live) sent them on.
      expect(delta['replica/replica']).toBeUndefined();
      expect(delta['primary/fence']).toBeGreaterThanOrEqual(6);
      expect(delta['primary/room']).toBeGreaterThanOrEqual(2);

      // Once the replica has replayed the writes (a WAL position, not a pause), the same reads go back to it.
      await repl.caughtUp();
      const back = await routed(t, async () => {
        expect((await alice.get(`/rooms/${roomId}/messages`)).body.data.at(-1).content).toBe('bob replies, edited');
        expect((await bob.get('/rooms')).status).toBe(200);
      });
      expect(back).toEqual({ 'replica/replica': 2 });
    } finally {
      await repl.setApplyDelay(0);
    }
  }, 30_000);

  it('a replica that goes down: reads move to the primary without an error, the metric shows it, and come back', async () => {
    await repl.stopReplica();
    try {
      // At once, before any poll has noticed: the read that fails on the replica is answered by the primary.
      const history = await bob.get(`/rooms/${roomId}/messages`);
      expect(history.status).toBe(200);
      expect(history.body.data.length).toBeGreaterThan(0);
      await eventually(async () => (await readMetrics(t)).up === 0, 5000, 'replica marked down');
      const delta = await routed(t, async () => {
        expect((await bob.get('/rooms')).status).toBe(200);
        expect((await bob.get('/messages/search?q=replicated')).body.data).toHaveLength(1);
      });
      expect(delta).toEqual({ 'primary/down': 2 });
    } finally {
      await repl.startReplica();
    }
    await eventually(async () => (await readMetrics(t)).up === 1, 10_000, 'replica back');
    await repl.caughtUp();
    expect(await routed(t, () => bob.get('/rooms'))).toEqual({ 'replica/replica': 1 });
  }, 30_000);

  it('a replica further behind than DATABASE_READ_MAX_LAG_MS is not read from, even by a user with no writes', async () => {
    const strict = await startAppOn(repl.primaryUrl, { DATABASE_READ_URLS: repl.replicaUrl, DATABASE_READ_MAX_LAG_MS: '500' });
    try {
      const carol = await strict.as('carol');
      await repl.setApplyDelay(3000);
      expect((await alice.post(`/rooms/${roomId}/messages`, { content: 'an old write' })).status).toBe(201);
      await eventually(async () => (await readMetrics(strict)).lag > 0.5, 5000, 'lag past the limit');
      expect(await routed(strict, () => carol.get('/rooms'))).toEqual({ 'primary/lag': 1 });
    } finally {
      await repl.setApplyDelay(0);
      await strict.close();
    }
    await repl.caughtUp();
  }, 30_000);
});

describe.runIf(inject('template').kind === 'pglite')('DATABASE_READ_URLS', () => {
  it('takes postgres:// URLs beside DATABASE_URL, and stops the start on a bad list or without DATABASE_URL', () => {
    const primary = 'postgres://u@primary/chat';
    const c = loadConfig({ DATABASE_URL: primary, DATABASE_READ_URLS: 'postgres://u@r1/chat, postgresql://u@r2:5433/chat' });
    expect(c.databaseReadUrls).toEqual(['postgres://u@r1/chat', 'postgresql://u@r2:5433/chat']);
    expect(c.databaseReadMaxLagMs).toBe(5000);
    expect(loadConfig({}).databaseReadUrls).toEqual([]);
    for (const bad of ['r1', 'mysql://r1/chat', 'postgres://u@r1/chat,', 'postgres://u@r1/chat,,postgres://u@r2/chat']) {
      expect(() => loadConfig({ DATABASE_URL: primary, DATABASE_READ_URLS: bad }), bad).toThrow(
        'DATABASE_READ_URLS must be postgres:// URLs separated by commas',
      );
    }
    expect(() => loadConfig({ DATABASE_READ_URLS: 'postgres://u@r1/chat' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_READ_URLS: 'postgres://u@r1/chat' })).toThrow('DATABASE_READ_URLS needs DATABASE_URL');
    expect(() => loadConfig({ DATABASE_URL: primary, DATABASE_READ_MAX_LAG_MS: '50' })).toThrow('DATABASE_READ_MAX_LAG_MS');
  });

  it('orders WAL positions as PostgreSQL does', () => {
    expect(parseLsn('0/16B3748')).toBe(0x16b3748n);
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
  });
});
