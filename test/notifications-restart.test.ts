import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { openDatabase } from '../src/db/client.js';
import { request, startPeer, startTestApp } from './helpers/app.js';
import { sleep } from './helpers/sockets.js';
import { startPushService, startWebhookReceiver, until, type PushService, type WebhookReceiver } from './helpers/notify.js';
import { runsClustered } from './helpers/redis.js';

const SECRET = 'webhook-secret-for-the-restart-tests';
let push: PushService;
let hook: WebhookReceiver;

beforeAll(async () => {
  push = await startPushService();
  hook = await startWebhookReceiver(SECRET);
});
afterAll(async () => {
  await push?.close();
  await hook?.close();
});

const json = (token: string, method: string, body?: unknown): RequestInit => ({
  method,
  headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
  ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
});

async function listen(app: App): Promise<string> {
  await app.http.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.http.server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}

describe('the outbox across restarts and instances', () => {
  it('loses no notification when the service restarts in the middle of a burst, and sends each once', async () => {
    // A window far longer than the test: whatever is sent below can only leave after the restart.
    // PUSH_ALLOW_PRIVATE_ENDPOINTS: the stand-in push service listens on 127.0.0.1 over http.
    const t = await startTestApp({
      NOTIFY_COALESCE_MS: '600000',
      NOTIFY_WEBHOOK_URL: hook.url,
      NOTIFY_WEBHOOK_SECRET: SECRET,
      PUSH_ALLOW_PRIVATE_ENDPOINTS: '1',
    });
    let second: App | undefined;
    try {
      const [alice, bob] = [await t.as('alice', { name: 'Alice' }), await t.as('bob', { name: 'Bob' })];
      const browser = push.browser();
      expect((await bob.post('/push/subscriptions', browser.subscription)).status).toBe(201);
      const room = (await alice.post('/rooms', { type: 'group', name: 'restart', participantIds: ['bob'] })).body;
      const before = [];
      for (let i = 1; i <= 3; i++) before.push((await alice.post(`/rooms/${room.id}/messages`, { content: `before ${i}` })).body);
      await t.app.close();
      expect(hook.receipts).toEqual([]);
      expect(push.receipts).toEqual([]);

      // The same deployment starts again on the same database, with a short window now.
      const database = await openDatabase(t.db.url ? { url: t.db.url } : { dataDir: t.db.dataDir });
      second = await buildApp({ ...t.config, notify: { ...t.config.notify, coalesceMs: 300 } }, { database });
      const baseUrl = await listen(second);
      const after = [];
      for (let i = 1; i <= 2; i++)
        after.push((await request(baseUrl, `/rooms/${room.id}/messages`, json(alice.token, 'POST', { content: `after ${i}` }))).body);

      const all = [...before, ...after].map((m) => m.id);
      // Whether the messages after the restart joined the first notification or made a second one, every message is
      // covered exactly once and the counts add up.
      const covered = () => hook.delivered('bob', room.id).flatMap((n) => n.messageIds);
      await until(() => covered().length === all.length, 'notifications covering all five messages');
      await until(() => push.to(browser).flatMap((r) => r.payload.messageIds).length === all.length, 'pushes covering all five messages');
      await sleep(1000);
      const notes = hook.delivered('bob', room.id);
      expect(covered().sort()).toEqual([...all].sort());
      expect(notes[0]).toMatchObject({ messageIds: expect.arrayContaining(before.map((m) => m.id)), senderName: 'Alice' });
      expect(notes.reduce((sum, n) => sum + n.count, 0)).toBe(5);
      const byId = (x: { id: string }, y: { id: string }) => x.id.localeCompare(y.id);
      expect(
        push
          .to(browser)
          .map((r) => r.payload)
          .sort(byId),
      ).toEqual([...notes].sort(byId));
      expect(hook.receipts.every((r) => r.signed)).toBe(true);
    } finally {
      await second?.close();
      await t.close();
    }
  });

  const cluster = runsClustered();
  it.skipIf(!cluster)('sends each notification once when two instances share the outbox', async () => {
    const a = await startTestApp({ NOTIFY_COALESCE_MS: '300', NOTIFY_WEBHOOK_URL: hook.url, NOTIFY_WEBHOOK_SECRET: SECRET });
    const b = await startPeer(a);
    try {
      const alice = await a.as('alice', { name: 'Alice' });
      const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
      const rooms: string[] = [];
      for (const u of users) rooms.push((await alice.post('/rooms', { type: 'direct', participantIds: [u] })).body.id);
      // Sends alternate between the instances; both workers compete for the same rows.
      for (let round = 0; round < 3; round++) {
        for (const [i, roomId] of rooms.entries()) {
          const base = (i + round) % 2 === 0 ? a.baseUrl : b.baseUrl;
          expect((await request(base, `/rooms/${roomId}/messages`, json(alice.token, 'POST', { content: `r${round}` }))).status).toBe(201);
        }
      }
      const total = () => users.reduce((sum, u, i) => sum + hook.delivered(u, rooms[i]).reduce((s, n) => s + n.count, 0), 0);
      await until(() => total() === 18, 'every message notified');
      await sleep(1000);
      expect(total()).toBe(18);
      const ids = users.flatMap((u, i) => hook.delivered(u, rooms[i]).map((n) => n.id));
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      await b.close();
      await a.close();
    }
  });
});
