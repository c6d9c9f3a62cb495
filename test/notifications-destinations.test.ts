import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { sleep } from './helpers/sockets.js';
import { browserKeys, startConnectionCounter, startPushService, testResolver, until } from './helpers/notify.js';

/** A public address: the resolver hands it out at registration; nothing ever connects to it. */
const PUBLIC = '93.184.216.34';
const dns = testResolver({});
let t: TestApp;
let alice: Client;
let n = 0;

beforeAll(async () => {
  t = await startTestApp({ NOTIFY_COALESCE_MS: '100', NOTIFY_RETRY_BASE_MS: '100', NOTIFY_MAX_ATTEMPTS: '1' }, { resolve: dns.resolve });
  alice = await t.as('alice', { name: 'Alice' });
});
afterAll(async () => t?.close());

const subscription = (endpoint: string) => {
  const k = browserKeys();
  return { endpoint, expirationTime: null, keys: { p256dh: k.p256dh, auth: k.auth } };
};
const endpoints = async (c: Client) =>
  ((await c.get('/push/subscriptions')).body.data as Array<{ endpoint: string }>).map((s) => s.endpoint);

/** A fresh offline user subscribed at `endpoint`, in a direct room with alice: her next message there is pushed. */
async function subscribed(endpoint: string): Promise<{ user: Client; roomId: string }> {
  const user = await t.as(`user-${++n}`);
  expect((await user.post('/push/subscriptions', subscription(endpoint))).status).toBe(201);
  const roomId = (await alice.post('/rooms', { type: 'direct', participantIds: [user.userId] })).body.id;
  return { user, roomId };
}
const send = async (roomId: string) => expect((await alice.post(`/rooms/${roomId}/messages`, { content: 'hello' })).status).toBe(201);

describe('push endpoints at send time', () => {
  it('does not POST to an endpoint whose host has come to resolve to loopback (DNS rebinding), and removes the subscription', async () => {
    const target = await startConnectionCounter();
    try {
      const host = 'rebind.example.com';
      dns.answers.set(host, [PUBLIC]);
      const { user, roomId } = await subscribed(`https://${host}:${target.port}/push/secret-path`);
      dns.answers.set(host, ['127.0.0.1']);
      await send(roomId);
      await until(async () => (await endpoints(user)).length === 0, 'the refused subscription to be removed');
      expect(target.connections()).toBe(0);
    } finally {
      await target.close();
    }
  });

  it('also when only one of the answers is private, or the answer is an IPv4-mapped metadata address', async () => {
    const target = await startConnectionCounter();
    try {
      for (const later of [[PUBLIC, '127.0.0.1'], ['::ffff:169.254.169.254']]) {
        const host = `rebind-${++n}.example.com`;
        dns.answers.set(host, [PUBLIC]);
        const { user, roomId } = await subscribed(`https://${host}:${target.port}/push/x`);
        dns.answers.set(host, later);
        await send(roomId);
        await until(async () => (await endpoints(user)).length === 0, `the subscription to be removed (${later.join(', ')})`);
      }
      expect(target.connections()).toBe(0);
    } finally {
      await target.close();
    }
  });

  it('keeps a subscription whose host does not resolve for now (a temporary failure, retried like any other)', async () => {
    const host = 'flaky.example.com';
    dns.answers.set(host, [PUBLIC]);
    const { user, roomId } = await subscribed(`https://${host}/push/x`);
    dns.answers.delete(host);
    const asked = dns.asked.filter((h) => h === host).length;
    await send(roomId);
    await until(() => dns.asked.filter((h) => h === host).length > asked, 'the send-time lookup');
    await sleep(300);
    expect(await endpoints(user)).toEqual([`https://${host}/push/x`]);
  });
});

describe('with PUSH_ALLOW_PRIVATE_ENDPOINTS=1', () => {
  it('delivers to a push service inside the network, connecting to the address the check resolved', async () => {
    // A name only the test resolver knows: the push can only arrive through the checked, pinned address.
    const inside = testResolver({ 'push.internal.example': ['127.0.0.1'] });
    const push = await startPushService({ host: 'push.internal.example' });
    const app = await startTestApp({ NOTIFY_COALESCE_MS: '100', PUSH_ALLOW_PRIVATE_ENDPOINTS: '1' }, { resolve: inside.resolve });
    try {
      const [sender, bob] = [await app.as('alice'), await app.as('bob')];
      const browser = push.browser();
      expect(browser.subscription.endpoint).toMatch(/^http:\/\/push\.internal\.example:\d+\/push\//);
      expect((await bob.post('/push/subscriptions', browser.subscription)).status).toBe(201);
      const roomId = (await sender.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body.id;
      expect((await sender.post(`/rooms/${roomId}/messages`, { content: 'inside' })).status).toBe(201);
      const [receipt] = await until(() => push.to(browser).length > 0 && push.to(browser), 'the push');
      expect(receipt!.payload).toMatchObject({ chatRoomId: roomId, preview: 'inside' });
      expect(receipt!.headers.host).toBe(new URL(browser.subscription.endpoint).host);
      expect(push.errors).toEqual([]);
    } finally {
      await app.close();
      await push.close();
    }
  });
});
