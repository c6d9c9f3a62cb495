import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { startPeer, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { haveRedisBinaries, startRedisCluster, type TestRedisCluster } from './helpers/redis-cluster.js';
import { ClientPool, converged, eventually, historyOf } from './helpers/sdk.js';
import { call, connect, sleep, waitFor, type ClientSocket } from './helpers/sockets.js';
import { runsClustered } from './helpers/redis.js';

// Two instances of one deployment on one PostgreSQL database and a Redis Cluster of its own (3 masters, 3 replicas).
const runs = runsClustered() && haveRedisBinaries;

describe.runIf(runs)('on a Redis Cluster (REDIS_CLUSTER_NODES)', () => {
  let cluster: TestRedisCluster;
  let a: TestApp, b: TestApp;
  let alice: Client, bob: Client;
  const sockets: ClientSocket[] = [];
  const pool = new ClientPool();
  const open = async (app: TestApp, token: string) => {
    const s = await connect(app.baseUrl, token);
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster();
    // REDIS_URL emptied: the PostgreSQL run's single test Redis is not this deployment's.
    a = await startTestApp({ REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.nodes, PRESENCE_GRACE_MS: '300', TYPING_TIMEOUT_MS: '600' });
    b = await startPeer(a);
    alice = await a.as('alice', { name: 'Alice' });
    bob = await b.as('bob', { name: 'Bob' });
  }, 60_000);
  afterAll(async () => {
    sockets.forEach((s) => s.close());
    await pool.closeAll();
    await b?.close();
    await a?.close();
    await cluster?.close();
  });

  it('answers /health with redis ok and delivers messages, typing, reads and presence across instances', async () => {
    expect((await alice.get('/health')).body).toMatchObject({ status: 'ok', redis: 'ok' });
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    const sa = await open(a, alice.token);
    const online = waitFor(sa, 'user_online', (e) => e.userId === 'bob');
    const sb = await open(b, bob.token);
    await online;
    sb.on('new_message', (_m, ack) => ack());

    const got = waitFor(sb, 'new_message', (m) => m.content === 'through the cluster');
    expect((await call(sa, 'send_message', { chatRoomId: room.id, content: 'through the cluster' })).ok).toBe(true);
    expect((await got).seq).toBe(1);

    const typing = waitFor(sa, 'user_typing', (e) => e.userId === 'bob' && e.isTyping);
    await call(sb, 'typing_start', { chatRoomId: room.id });
    await typing;
    await waitFor(sa, 'user_typing', (e) => e.userId === 'bob' && !e.isTyping, 3000);

    const read = waitFor(sa, 'message_read', (e) => e.userId === 'bob');
    await call(sb, 'mark_as_read', { chatRoomId: room.id });
    expect((await read).lastReadSeq).toBe(1);

    const offline = waitFor(sa, 'user_offline', (e) => e.userId === 'bob', 5000);
    sb.close();
    await offline;
    expect((await alice.get('/presence?userIds=bob')).body.data[0]).toMatchObject({ userId: 'bob', online: false });
  });

  it('holds slow mode across instances', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'slow', participantIds: ['bob', 'carol'] })).body;
    expect((await alice.patch(`/rooms/${room.id}`, { slowModeS: 30 })).status).toBe(200);
    const carolA = await a.as('carol');
    const carolB = await b.as('carol');
    expect((await carolA.post(`/rooms/${room.id}/messages`, { content: 'first' })).status).toBe(201);
    const again = await carolB.post(`/rooms/${room.id}/messages`, { content: 'too soon, elsewhere' });
    expect(again.status).toBe(429);
    expect(again.body.code).toBe('RATE_LIMITED');
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('loses nothing acknowledged when the master serving a room dies mid-stream; its replica takes over', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'failover', participantIds: ['bob'] })).body;
    const reader = pool.make(b.baseUrl, bob.token);
    await reader.connect();
    const opened = await reader.openRoom(room.id);
    const acked: number[] = [];
    let refused = 0;
    // As a client does: while the cluster fails over, a write may be refused (503, nothing stored); the same
    // clientMessageId is sent again until it is acknowledged, and a repeat is answered with the stored message.
    const send = async (i: number) => {
      for (const until = Date.now() + 15_000; ;) {
        const r = await alice.post(`/rooms/${room.id}/messages`, { content: `m${i}`, clientMessageId: `failover-${i}` });
        if (r.status === 201 || r.status === 200) return void acked.push(r.body.seq);
        expect(r.status).toBe(503);
        expect(Date.now()).toBeLessThan(until);
        refused += 1;
        await sleep(100);
      }
    };
    for (let i = 0; i < 20; i++) await send(i);
    // Every packet between instances goes through one sharded channel, on the master owning its slot.
    const killed = await cluster.masterOf(`${a.config.redisPrefix}:sio#/chat#`);
    cluster.kill(killed);
    // Back as a replica whatever happens here, so the next test's failover has one.
    onTestFinished(() => cluster.restart(killed));
    for (let i = 20; i < 40; i++) {
      await send(i);
      await sleep(50);
    }
    await cluster.healthy();
    for (let i = 40; i < 50; i++) await send(i);
    expect(acked).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(refused).toBeLessThan(200); // a few seconds of failover at most
    // Every acknowledged message reaches the reader on the other instance: live, or caught up from the database
    // when the next live one shows a gap.
    const server = await converged(opened, historyOf(bob, room.id), 20_000);
    expect(server).toHaveLength(50);
    // And live delivery across instances works again after the failover.
    const sb = await open(b, bob.token);
    const live = waitFor(sb, 'new_message', (m) => m.content === 'after the failover', 10_000);
    await eventually(async () => (await alice.get('/health')).status === 200, 10_000, 'health after the failover');
    expect((await alice.post(`/rooms/${room.id}/messages`, { content: 'after the failover' })).status).toBe(201);
    expect((await live).seq).toBe(51);
  }, 60_000);

  it('heals presence when the master holding it dies: who is online stays online, who leaves goes offline', async () => {
    const dave = await b.as('dave', { name: 'Dave' });
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['dave'] })).body;
    expect(room.id).toEqual(expect.any(String));
    const sd = await open(b, dave.token);
    await eventually(async () => (await alice.get('/presence?userIds=dave')).body.data[0]?.online === true, 5000, 'dave online');
    const master = await cluster.masterOf(`{${a.config.redisPrefix}:presence}:count`);
    // Presence is what the replica holds: what it had not received when its master died is not there (Redis
    // replication is asynchronous), so the kill waits until dave's join has reached it.
    await cluster.replicated(master);
    cluster.kill(master);
    await cluster.healthy();
    await eventually(async () => (await alice.get('/presence?userIds=dave')).body.data[0]?.online === true, 10_000, 'dave online again');
    const sa = await open(a, alice.token);
    const offline = waitFor(sa, 'user_offline', (e) => e.userId === 'dave', 10_000);
    sd.close();
    await offline;
    expect((await alice.get('/presence?userIds=dave')).body.data[0]).toMatchObject({ userId: 'dave', online: false });
  }, 60_000);
});

describe.runIf(inject('template').kind === 'pglite')('REDIS_CLUSTER_NODES', () => {
  it('takes host:port seeds (redis:// in front accepted), and stops the start on a bad list or with REDIS_URL too', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis://cache-2:7001,[::1]:7002' }).redisClusterNodes).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'cache-2', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(loadConfig({}).redisClusterNodes).toBeUndefined();
    for (const bad of ['cache', 'cache:0', 'cache:70000', 'cache:7000,', 'http://cache:7000']) {
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: bad })).toThrow('REDIS_CLUSTER_NODES must be host:port[,host:port…]');
    }
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'cache:7000', REDIS_URL: 'redis://cache:6379' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'cache:7000', REDIS_URL: 'redis://cache:6379' })).toThrow(
      'REDIS_URL and REDIS_CLUSTER_NODES are both set',
    );
  });
});
