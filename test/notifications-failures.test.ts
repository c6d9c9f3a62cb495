import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { startProxy, type Proxy } from './helpers/proxy.js';
import { sleep } from './helpers/sockets.js';
import {
  startPushService,
  startWebhookReceiver,
  until,
  type PushService,
  type TestBrowser,
  type WebhookReceiver,
} from './helpers/notify.js';

const SECRET = 'webhook-secret-for-the-failure-tests';
const MAX_ATTEMPTS = 5;
let t: TestApp;
let push: PushService;
let hook: WebhookReceiver;
/** Between the service and the webhook receiver: cut, the receiver is down (connections refused). */
let link: Proxy;
let alice: Client;
let n = 0;

beforeAll(async () => {
  push = await startPushService();
  hook = await startWebhookReceiver(SECRET);
  const hookUrl = new URL(hook.url);
  link = await startProxy('127.0.0.1', Number(hookUrl.port));
  t = await startTestApp({
    NOTIFY_COALESCE_MS: '200',
    NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${link.port}${hookUrl.pathname}`,
    NOTIFY_WEBHOOK_SECRET: SECRET,
    NOTIFY_TIMEOUT_MS: '400',
    NOTIFY_RETRY_BASE_MS: '200',
    NOTIFY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    // The stand-in push service listens on 127.0.0.1 over http: the operator switch that allows such endpoints.
    PUSH_ALLOW_PRIVATE_ENDPOINTS: '1',
  });
  alice = await t.as('alice', { name: 'Alice' });
});
beforeEach(() => {
  hook.script.length = 0;
});
afterAll(async () => {
  await t?.close();
  await push?.close();
  await link?.close();
  await hook?.close();
});

/** A fresh recipient with the given browsers subscribed, in a direct room with alice. */
async function recipient(...browsers: TestBrowser[]): Promise<{ user: Client; roomId: string }> {
  const user = await t.as(`user-${++n}`);
  for (const b of browsers) expect((await user.post('/push/subscriptions', b.subscription)).status).toBe(201);
  const roomId = (await alice.post('/rooms', { type: 'direct', participantIds: [user.userId] })).body.id;
  return { user, roomId };
}
const endpoints = async (c: Client) =>
  ((await c.get('/push/subscriptions')).body.data as Array<{ endpoint: string }>).map((s) => s.endpoint);
const send = async (roomId: string, content: string) => {
  const res = await alice.post(`/rooms/${roomId}/messages`, { content });
  expect(res.status).toBe(201);
  return res.body;
};

describe('delivery failures', () => {
  it.each([410, 404])('removes a subscription whose push service answers %i, and keeps delivering to the others', async (status) => {
    const dead = push.browser([status]);
    const alive = push.browser();
    const { user, roomId } = await recipient(dead, alive);
    await send(roomId, 'hello');
    const delivered = await until(() => push.to(alive)[0], 'the push to the live browser');
    await until(async () => !(await endpoints(user)).includes(dead.subscription.endpoint) && true, 'the dead subscription to go');
    expect(await endpoints(user)).toEqual([alive.subscription.endpoint]);
    expect(push.to(dead).map((r) => r.payload)).toEqual([delivered.payload]);

    await send(roomId, 'again');
    await until(() => push.to(alive).length === 2, 'the second push');
    await sleep(300);
    expect(push.to(dead)).toHaveLength(1);
  });

  it('retries a push service that answers 500, then one that does not answer in time; the same notification each time', async () => {
    const flaky = push.browser([500, 'hang', 201]);
    const { roomId } = await recipient(flaky);
    const sent = await send(roomId, 'are you there?');
    await until(() => push.to(flaky).length === 3, 'the third try');
    const tries = push.to(flaky);
    expect(tries.map((r) => r.status)).toEqual([500, 'hang', 201]);
    expect(new Set(tries.map((r) => r.payload.id)).size).toBe(1);
    expect(tries[2]!.payload).toMatchObject({ messageIds: [sent.id], count: 1, preview: 'are you there?' });
    await sleep(500);
    expect(push.to(flaky)).toHaveLength(3);
  });

  it(`gives up after ${MAX_ATTEMPTS} tries, does not retry a refusal, and keeps the subscription in both cases`, async () => {
    const broken = push.browser(Array(10).fill(503));
    const refusing = push.browser([400]);
    const { user, roomId } = await recipient(broken, refusing);
    await send(roomId, 'into the void');
    await until(() => push.to(broken).length === MAX_ATTEMPTS, `${MAX_ATTEMPTS} tries`);
    await sleep(1000);
    expect(push.to(broken)).toHaveLength(MAX_ATTEMPTS);
    expect(push.to(refusing)).toHaveLength(1);
    expect(await endpoints(user)).toHaveLength(2);
  });

  it('keeps sending while the webhook receiver is down, and delivers once it is back', async () => {
    const { roomId } = await recipient();
    await link.cut();
    const sent = [];
    for (let i = 1; i <= 3; i++) sent.push(await send(roomId, `while down ${i}`));
    // Past the coalesce window: the first tries have met a closed port.
    await sleep(700);
    expect(hook.receipts.filter((r) => r.body.chatRoomId === roomId)).toEqual([]);
    await link.restore();
    const delivered = await until(() => hook.delivered(`user-${n}`, roomId)[0], 'the webhook once the receiver is back');
    expect(delivered).toMatchObject({ count: 3, messageIds: sent.map((m) => m.id), preview: 'while down 3' });
    await sleep(500);
    expect(hook.receipts.filter((r) => r.body.chatRoomId === roomId)).toHaveLength(1);
  });

  it('retries a webhook receiver that drops the connection or answers 503, with the same signed body', async () => {
    const { roomId } = await recipient();
    hook.script.push('reset', 503);
    const before = hook.receipts.length;
    await send(roomId, 'flaky receiver');
    const delivered = await until(() => hook.delivered(`user-${n}`, roomId)[0], 'the webhook after two failures');
    const tries = hook.receipts.slice(before).filter((r) => r.body.chatRoomId === roomId);
    expect(tries.map((r) => r.answered)).toEqual(['reset', 503, 200]);
    expect(tries.every((r) => r.signed && r.raw === tries[0]!.raw)).toBe(true);
    expect(delivered).toMatchObject({ count: 1, preview: 'flaky receiver' });
  });

  it('retries a webhook that does not answer in time', async () => {
    const { roomId } = await recipient();
    hook.script.push('hang');
    const before = hook.receipts.length;
    await send(roomId, 'slow receiver');
    const delivered = await until(() => hook.delivered(`user-${n}`, roomId)[0], 'the retried webhook');
    const tries = hook.receipts.slice(before).filter((r) => r.body.chatRoomId === roomId);
    expect(tries.map((r) => r.answered)).toEqual(['hang', 200]);
    expect(tries[0]!.body).toEqual(delivered);
  });
});
