import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import { openDatabase } from '../src/db/client.js';
import { request, startPeer, startTestApp, TEST_JWT_SECRET, type Client, type TestApp } from './helpers/app.js';
import { freshDatabase } from './helpers/databases.js';
import { testResolver, until } from './helpers/notify.js';
import { startService, type ServiceProcess } from './helpers/process.js';
import { logIdOf, startReceiver, type Receiver } from './helpers/webhooks.js';
import { runsClustered } from './helpers/redis.js';

const SECRET = 'a-webhook-secret-of-the-delivery-test';
let t: TestApp;
let root: Client, alice: Client, bob: Client, carol: Client;
const receivers: Receiver[] = [];

beforeAll(async () => {
  t = await startTestApp({
    RATE_LIMIT_WRITES_PER_MINUTE: '100000',
    WEBHOOK_ALLOW_PRIVATE_URLS: '1',
    WEBHOOK_RETRY_BASE_MS: '20',
    // Long enough for a loaded CI machine to answer; the one request that hangs costs this much.
    WEBHOOK_TIMEOUT_MS: '1000',
  });
  [root, alice, bob, carol] = await Promise.all([t.as('root', { role: 'admin' }), t.as('alice'), t.as('bob'), t.as('carol')]);
});
afterAll(async () => {
  await t?.close();
  for (const r of receivers) await r.close();
});

async function receiver(opts: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
  const r = await startReceiver(opts);
  receivers.push(r);
  return r;
}

async function webhook(url: string, events: string[] = ['*'], secret?: string): Promise<{ id: string; secret: string }> {
  const res = await root.post('/admin/webhooks', { url, events, ...(secret ? { secret } : {}) });
  expect(res.status).toBe(201);
  return res.body;
}

const rows = async <T>(q: ReturnType<typeof sql>) => (await t.app.database.db.execute(q)) as unknown as { rows: T[] } | T[];
const list = async <T>(q: ReturnType<typeof sql>): Promise<T[]> => {
  const r = await rows<T>(q);
  return Array.isArray(r) ? r : r.rows;
};

describe('outgoing webhooks: delivery', () => {
  it('delivers every event type, signed, in commit order per room, retried with the same id and body', async () => {
    // The first attempts of the first events fail: a 500, an answer that never comes, a dropped connection.
    const script: Array<number | 'hang' | 'reset'> = [500, 'hang', 'reset', 503];
    const hook = await receiver({ secret: SECRET, behave: () => script.shift() ?? 200 });
    const { id: hookId } = await webhook(hook.url, ['*'], SECRET);

    const room = (await alice.post('/rooms', { type: 'group', name: 'hooks', participantIds: ['bob'] })).body;
    expect((await alice.post(`/rooms/${room.id}/participants`, { userId: 'carol' })).status).toBe(201);
    const m1 = (await alice.post(`/rooms/${room.id}/messages`, { content: 'first' })).body;
    const m2 = (await bob.post(`/rooms/${room.id}/messages`, { content: 'second' })).body;
    expect((await alice.patch(`/messages/${m1.id}`, { content: 'first, edited' })).status).toBe(200);
    expect((await bob.put(`/messages/${m1.id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
    expect((await bob.delete(`/messages/${m1.id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
    expect((await alice.put(`/rooms/${room.id}/pins/${m2.id}`)).status).toBe(200);
    expect((await bob.delete(`/messages/${m2.id}`)).status).toBe(200);
    expect((await alice.patch(`/rooms/${room.id}`, { name: 'hooks, renamed' })).status).toBe(200);
    expect((await alice.patch(`/rooms/${room.id}/participants/carol/remove`)).status).toBe(200);
    // Reports arrive through the log too (written by the reports module, when it is there).
    const report = await carol.post(`/messages/${m1.id}/reports`, { reason: 'spam' });

    const expected = [
      'room.created',
      'participant.added',
      'message.created',
      'message.created',
      'message.updated',
      'reaction.added',
      'reaction.removed',
      'message.updated',
      'message.deleted',
      'room.updated',
      'participant.removed',
    ];
    const events = await until(() => hook.events().length >= expected.length && hook.events(), 'every event delivered');
    const ours = events.filter((e) => e.type !== 'report.created');
    expect(ours.map((e) => e.type)).toEqual(expected);

    // In commit order, once each (ids increase), and every request signed with the webhook's secret.
    const ids = ours.map((e) => logIdOf(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(hook.requests.every((r) => r.signed)).toBe(true);
    for (const r of hook.requests) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['user-agent']).toBe('chat-service');
      expect(r.headers['x-chat-event-id']).toBe(r.body.id);
    }
    // The failed attempts were retried: same id, same bytes, the attempt number counting up; only then the next event.
    const first = hook.requests.filter((r) => r.body.id === ours[0]!.id);
    expect(first.map((r) => r.answered)).toEqual([500, 'hang', 'reset', 503, 200]);
    expect(first.map((r) => r.headers['x-chat-attempt'])).toEqual(['1', '2', '3', '4', '5']);
    expect(new Set(first.map((r) => r.raw)).size).toBe(1);
    const order = hook.requests.map((r) => logIdOf(r.body.id));
    expect(order).toEqual([...order].sort((a, b) => a - b));

    // What `data` holds, per type.
    const byType = (type: string) => ours.filter((e) => e.type === type).map((e) => e.data);
    expect(byType('room.created')[0]).toMatchObject({ id: room.id, type: 'group', unreadCount: 0 });
    expect(byType('participant.added')[0]).toEqual({ chatRoomId: room.id, userIds: ['carol'] });
    expect(byType('message.created').map((m) => m.seq)).toEqual([1, 2]);
    expect(byType('message.created')[0]).toMatchObject({ id: m1.id, chatRoomId: room.id, senderId: 'alice' });
    expect(byType('reaction.added')[0]).toEqual({ chatRoomId: room.id, messageId: m1.id, userId: 'bob', emoji: '👍' });
    expect(byType('reaction.removed')[0]).toEqual({ chatRoomId: room.id, messageId: m1.id, userId: 'bob', emoji: '👍' });
    expect(byType('message.updated')[0]).toMatchObject({ id: m1.id, content: 'first, edited' });
    expect(byType('message.updated')[1]).toMatchObject({ id: m2.id });
    expect(byType('message.deleted')[0]).toMatchObject({ id: m2.id, content: '', deletedBy: 'bob' });
    expect(byType('room.updated')[0]).toMatchObject({ id: room.id, name: 'hooks, renamed' });
    expect(byType('participant.removed')[0]).toEqual({ chatRoomId: room.id, userId: 'carol' });
    if (report.status === 201) {
      const reports = await until(() => hook.events().find((e) => e.type === 'report.created'), 'the report');
      expect(reports.data).toMatchObject({ id: report.body.id, messageId: m1.id });
    }

    // The deliveries log, newest first.
    const log = (await root.get(`/admin/webhooks/${hookId}/deliveries`)).body;
    const oldest = log.data.at(-1);
    expect(oldest).toMatchObject({ eventId: ours[0]!.id, type: 'room.created', status: 'delivered', statusCode: 200, attempts: 5 });
    expect(oldest.nextRetryAt).toBeNull();
    expect(log.data.map((d: any) => logIdOf(d.eventId))).toEqual([...log.data.map((d: any) => logIdOf(d.eventId))].sort((a, b) => b - a));
    expect((await root.delete(`/admin/webhooks/${hookId}`)).status).toBe(204);
  });

  it('keeps each room in order while other rooms and other webhooks go on; a dead receiver delays only itself', async () => {
    const dead = await receiver({ behave: () => 500 });
    const healthy = await receiver();
    const deadHook = await webhook(dead.url, ['message.created']);
    const okHook = await webhook(healthy.url, ['message.created']);
    const [r1, r2] = await Promise.all([
      alice.post('/rooms', { type: 'group', name: 'one', participantIds: ['bob'] }),
      bob.post('/rooms', { type: 'group', name: 'two', participantIds: ['alice'] }),
    ]);
    const sends = [];
    for (let i = 0; i < 10; i++) {
      sends.push(alice.post(`/rooms/${r1.body.id}/messages`, { content: `r1 ${i}` }));
      sends.push(bob.post(`/rooms/${r2.body.id}/messages`, { content: `r2 ${i}` }));
    }
    for (const s of await Promise.all(sends)) expect(s.status).toBe(201);
    const got = await until(() => healthy.events().length >= 20 && healthy.events(), 'the healthy webhook got every message');
    for (const roomId of [r1.body.id, r2.body.id]) {
      const seqs = got.filter((e) => e.data.chatRoomId === roomId).map((e) => e.data.seq);
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }
    expect(healthy.acked().length).toBe(20);
    // The dead one keeps trying the head of each room, never what is behind it.
    await until(() => dead.requests.length >= 4, 'retries to the dead receiver');
    const heads = new Set(dead.requests.map((r) => r.body.data.seq));
    expect(heads).toEqual(new Set([1]));
    const log = (await root.get(`/admin/webhooks/${deadHook.id}/deliveries?limit=100`)).body.data;
    expect(log).toHaveLength(20);
    const tried = log.filter((d: any) => d.attempts > 0);
    expect(tried.length).toBe(2);
    for (const d of tried)
      expect(d).toMatchObject({ status: 'pending', statusCode: 500, lastError: 'HTTP 500', nextRetryAt: expect.any(String) });
    // What waits behind them has no time of its own: it is due once the one before it is settled.
    for (const d of log.filter((d: any) => d.attempts === 0))
      expect(d).toMatchObject({ status: 'pending', statusCode: null, nextRetryAt: null });
    // The log says delivered once the attempt is settled, a moment after the receiver answered the last one.
    const okLog = await until(async () => {
      const data = (await root.get(`/admin/webhooks/${okHook.id}/deliveries?limit=100`)).body.data;
      return data.every((d: any) => d.status === 'delivered') && data;
    }, 'every delivery to the healthy webhook settled');
    expect(okLog).toHaveLength(20);

    // A day (WEBHOOK_RETRY_FOR_S) after queueing, a delivery is given up, and the room's next one goes: the day passes here.
    await list(sql`update webhook_delivery set created_at = created_at - interval '2 days' where webhook_id = ${deadHook.id}`);
    const failed = await until(async () => {
      const data = (await root.get(`/admin/webhooks/${deadHook.id}/deliveries?limit=100`)).body.data;
      return data.filter((d: any) => d.status === 'failed').length >= 4 && data;
    }, 'deliveries given up');
    expect(failed.find((d: any) => d.status === 'failed')).toMatchObject({ statusCode: 500, nextRetryAt: null, deliveredAt: null });

    // Removing a webhook drops what it still had to deliver.
    expect((await root.delete(`/admin/webhooks/${deadHook.id}`)).status).toBe(204);
    const left = await list<{ n: number }>(sql`select count(*)::int as n from webhook_delivery where webhook_id = ${deadHook.id}`);
    expect(Number(left[0]!.n)).toBe(0);
    expect((await root.delete(`/admin/webhooks/${okHook.id}`)).status).toBe(204);
  });

  it('sends a backlog in runs that stop at a failure, in order, each event tried once more only where it failed', async () => {
    // The first attempt hangs while the room's backlog queues behind it; then the 5th request of the run fails once.
    const script: Array<number | 'hang'> = ['hang', 200, 200, 200, 500];
    const hook = await receiver({ behave: () => script.shift() ?? 200 });
    const { id: hookId } = await webhook(hook.url, ['message.created']);
    const room = (await alice.post('/rooms', { type: 'group', name: 'runs', participantIds: ['bob'] })).body;
    for (let i = 1; i <= 12; i++) expect((await alice.post(`/rooms/${room.id}/messages`, { content: `run ${i}` })).status).toBe(201);

    const got = await until(() => hook.events().length >= 12 && hook.events(), 'the whole backlog');
    expect(got.map((e) => e.data.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(hook.acked().length).toBe(12);
    const attemptsOf = (seq: number) => hook.requests.filter((r) => r.body.data.seq === seq).map((r) => r.headers['x-chat-attempt']);
    // seq 1 hung then went; seq 4 (the run's 4th after it) failed once; the rest went at their first attempt, even
    // those taken in the run that stopped at seq 4 and handed back untried.
    expect(attemptsOf(1)).toEqual(['1', '2']);
    expect(attemptsOf(4)).toEqual(['1', '2']);
    for (const seq of [2, 3, 5, 6, 7, 8, 9, 10, 11, 12]) expect(attemptsOf(seq)).toEqual(['1']);
    // Settled a moment after the receiver answered the last one.
    const log = await until(async () => {
      const data = (await root.get(`/admin/webhooks/${hookId}/deliveries?limit=100`)).body.data;
      return data.every((d: any) => d.status === 'delivered') && data;
    }, 'the run settled');
    expect(log.map((d: any) => [d.status, d.attempts])).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].reverse().map((seq) => ['delivered', seq === 1 || seq === 4 ? 2 : 1]),
    );
    expect((await root.delete(`/admin/webhooks/${hookId}`)).status).toBe(204);
  });
});

describe('outgoing webhooks to a host name', () => {
  it('looks the host up once for a burst of deliveries, not once per attempt', async () => {
    const dns = testResolver({ 'hooks.internal': ['127.0.0.1'] });
    const app = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000', WEBHOOK_ALLOW_PRIVATE_URLS: '1' }, { resolve: dns.resolve });
    try {
      const [admin, dora] = await Promise.all([app.as('root', { role: 'admin' }), app.as('dora')]);
      const hook = await receiver();
      const url = hook.url.replace('127.0.0.1', 'hooks.internal');
      expect((await admin.post('/admin/webhooks', { url, events: ['message.created'] })).status).toBe(201);
      const lookups = () => dns.asked.filter((h) => h === 'hooks.internal').length;
      // The creation checked the URL once.
      expect(lookups()).toBe(1);
      const room = (await dora.post('/rooms', { type: 'group', name: 'named host' })).body;
      for (let i = 0; i < 12; i++) expect((await dora.post(`/rooms/${room.id}/messages`, { content: `m${i}` })).status).toBe(201);
      await until(() => hook.acked().length >= 12, 'every message delivered');
      // The sender checked the destination at each of the 12 attempts, with one lookup behind them.
      expect(lookups()).toBe(2);
    } finally {
      await app.close();
    }
  });
});

/** Each event's first 2xx, per room, must come in increasing log order: the room's commit order. */
function expectRoomOrder(events: Array<{ id: string; data: any }>, roomOf: (e: { data: any }) => string): void {
  const byRoom = new Map<string, number[]>();
  for (const e of events) byRoom.set(roomOf(e), [...(byRoom.get(roomOf(e)) ?? []), logIdOf(e.id)]);
  for (const ids of byRoom.values()) expect(ids).toEqual([...ids].sort((a, b) => a - b));
}

// Two instances of one deployment (one PostgreSQL database, one Redis): only on the PostgreSQL run with Redis.
const clustered = runsClustered();

describe.runIf(clustered)('outgoing webhooks on two instances', () => {
  it('delivers every event of sends made on either instance, in order per room', async () => {
    const peer = await startPeer(t);
    try {
      // Every fifth request fails: retries are taken by whichever instance claims them.
      const hook = await receiver({ behave: (_r, n) => (n % 5 === 4 ? 500 : 200) });
      const { id } = await webhook(hook.url, ['message.created']);
      const bobB = await peer.as('bob');
      const rooms = await Promise.all(
        [0, 1, 2].map((i) => alice.post('/rooms', { type: 'group', name: `c${i}`, participantIds: ['bob'] })),
      );
      const sends = [];
      for (let i = 0; i < 12; i++)
        for (const r of rooms) sends.push((i % 2 ? bobB : alice).post(`/rooms/${r.body.id}/messages`, { content: `m${i}` }));
      const sent = await Promise.all(sends);
      for (const s of sent) expect(s.status).toBe(201);
      const events = await until(() => hook.events().length >= sent.length && hook.events(), 'every message', 20_000);
      expect(new Set(events.map((e) => e.data.id))).toEqual(new Set(sent.map((s) => s.body.id)));
      expectRoomOrder(events, (e) => e.data.chatRoomId);
      for (const r of rooms) {
        expect(events.filter((e) => e.data.chatRoomId === r.body.id).map((e) => e.data.seq)).toEqual([
          1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ]);
      }
      expect((await root.delete(`/admin/webhooks/${id}`)).status).toBe(204);
    } finally {
      await peer.close();
    }
  }, 60_000);
});

describe('outgoing webhooks across kill -9', () => {
  it('delivers every event after a restart, and sends nothing acknowledged again', async () => {
    const template = inject('template');
    const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-hook-kill-'));
    const cleanups: Array<() => Promise<unknown> | void> = [() => rmSync(dataDir, { recursive: true, force: true })];
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      JWT_SECRET: TEST_JWT_SECRET,
      RATE_LIMIT_WRITES_PER_MINUTE: '100000',
      WEBHOOK_ALLOW_PRIVATE_URLS: '1',
      WEBHOOK_RETRY_BASE_MS: '20',
      WEBHOOK_TIMEOUT_MS: '60000',
    };
    /** Runs statements on the service's database while no service runs (the lease of the killed one runs out). */
    let onData: (statement: string) => Promise<void>;
    if (template.kind === 'postgres') {
      const db = await freshDatabase(template);
      await db.database.close();
      cleanups.push(() => db.drop());
      env['DATABASE_URL'] = db.url!;
      onData = async (statement) => {
        const database = await openDatabase({ url: db.url! });
        await database.db.execute(sql.raw(statement));
        await database.close();
      };
    } else {
      env['EMBEDDED_ENGINE'] = 'pglite'; // the statements open the data directly between the service's runs
      onData = async (statement) => {
        const database = await openDatabase({ dataDir: `${dataDir}/db` });
        await database.db.execute(sql.raw(statement));
        await database.close();
      };
    }
    // The 8th request is never answered: the process is killed while it waits.
    let hangs = true;
    let hung!: () => void;
    const hanging = new Promise<void>((resolve) => (hung = resolve));
    const hook = await receiver({
      behave: (_r, n) => {
        if (n === 7 && hangs) {
          hung();
          return 'hang';
        }
        return 200;
      },
    });
    const auth = (userId: string, role?: 'admin') =>
      mintToken(TEST_JWT_SECRET, userId, role ? { role } : {}).then((token) => ({
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
      }));
    const [admin, alice] = await Promise.all([auth('root', 'admin'), auth('alice')]);
    const post = (svc: ServiceProcess, p: string, body: unknown, headers = alice) =>
      request(svc.url, p, { method: 'POST', headers, body: JSON.stringify(body) });

    let svc: ServiceProcess | undefined = await startService(env);
    try {
      expect((await post(svc, '/admin/webhooks', { url: hook.url, events: ['*'] }, admin)).status).toBe(201);
      const room = (await post(svc, '/rooms', { type: 'group', name: 'burst', participantIds: ['bob'] })).body;
      const live = svc;
      // Sends go on until the process dies under them.
      const burst = (async () => {
        for (let i = 0; ; i++) {
          try {
            await post(live, `/rooms/${room.id}/messages`, { content: `burst ${i}` });
          } catch {
            return;
          }
        }
      })();
      await hanging;
      await svc.kill('SIGKILL');
      svc = undefined;
      await burst;
      const ackedBefore = hook.acked().map((r) => r.body.id);
      expect(ackedBefore).toHaveLength(7);
      await onData(`update webhook_delivery set locked_until = null where status = 'pending'`);

      hangs = false;
      svc = await startService(env);
      const live2 = svc;
      const stored: string[] = [];
      for (let after = 0; ;) {
        const page = await request(live2.url, `/rooms/${room.id}/messages?limit=100&after=${after}`, { headers: alice });
        stored.push(...page.body.data.map((m: any) => m.id));
        if (!page.body.hasMore) break;
        after = page.body.data.at(-1).seq;
      }
      expect(stored.length).toBeGreaterThan(6);
      const expected = stored.length + 1; // and room.created
      const events = await until(() => hook.events().length >= expected && hook.events(), 'every event after the restart', 30_000);
      expect(events[0]!.type).toBe('room.created');
      expect(new Set(events.filter((e) => e.type === 'message.created').map((e) => e.data.id))).toEqual(new Set(stored));
      expectRoomOrder(events, () => room.id);
      // Nothing acknowledged is sent again: each id has one 2xx, and what was acked before the kill is not re-sent.
      const acks = hook.acked().map((r) => r.body.id);
      expect(acks.length).toBe(new Set(acks).size);
      const afterKill = hook.requests.slice(8).map((r) => r.body.id);
      for (const id of ackedBefore) expect(afterKill).not.toContain(id);
    } finally {
      await svc?.kill('SIGKILL');
      for (const c of cleanups.reverse()) await c();
    }
  }, 120_000);
});
