import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../src/db/client.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { connect, sleep, type ClientSocket } from './helpers/sockets.js';
import {
  startPushService,
  startWebhookReceiver,
  until,
  UUIDV7,
  type PushService,
  type TestBrowser,
  type WebhookReceiver,
} from './helpers/notify.js';
import { png } from './media-fixtures.js';

const SECRET = 'webhook-secret-for-the-notification-tests';
/** Wide enough that a burst of five sequential sends lands in one window even on a loaded CI machine. */
const COALESCE_MS = 1500;
let t: TestApp;
let push: PushService;
let hook: WebhookReceiver;
let alice: Client, bob: Client;
let bobBrowser: TestBrowser;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  push = await startPushService();
  hook = await startWebhookReceiver(SECRET);
  // The stand-in push service listens on 127.0.0.1 over http: the operator switch that allows such endpoints.
  t = await startTestApp({
    NOTIFY_COALESCE_MS: String(COALESCE_MS),
    NOTIFY_WEBHOOK_URL: hook.url,
    NOTIFY_WEBHOOK_SECRET: SECRET,
    PRESENCE_GRACE_MS: '100',
    PUSH_ALLOW_PRIVATE_ENDPOINTS: '1',
  });
  alice = await t.as('alice', { name: 'Alice' });
  bob = await t.as('bob', { name: 'Bob' });
  bobBrowser = push.browser();
  expect((await bob.post('/push/subscriptions', bobBrowser.subscription)).status).toBe(201);
});
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.close());
  expect(push.errors).toEqual([]);
  expect(hook.receipts.filter((r) => !r.signed)).toEqual([]);
});
afterAll(async () => {
  await t?.close();
  await push?.close();
  await hook?.close();
});

const group = async (name: string, members = ['bob', 'carol']) =>
  (await alice.post('/rooms', { type: 'group', name, participantIds: members })).body;
const send = async (c: Client, roomId: string, content: string, mentions?: string[]) => {
  const res = await c.post(`/rooms/${roomId}/messages`, { content, ...(mentions ? { mentions } : {}) });
  expect(res.status).toBe(201);
  return res.body;
};
const hookFor = (userId: string, roomId: string) => hook.delivered(userId, roomId);
const pushFor = (b: TestBrowser, roomId: string) =>
  push
    .to(b)
    .filter((r) => r.payload.chatRoomId === roomId)
    .map((r) => r.payload);
/** Long enough for a second notification of the same burst to have shown up, were there one. */
const settle = () => sleep(COALESCE_MS + 600);

describe('offline notifications', () => {
  it('coalesces five quick messages into one notification, the same over the webhook and Web Push', async () => {
    const room = await group('burst');
    const sent = [];
    for (let i = 1; i <= 5; i++) sent.push(await send(alice, room.id, `message ${i}`));
    const [viaHook] = await until(() => hookFor('bob', room.id).length > 0 && hookFor('bob', room.id), 'the webhook for bob');
    const [viaPush] = await until(() => pushFor(bobBrowser, room.id).length > 0 && pushFor(bobBrowser, room.id), 'the push for bob');
    const expected = {
      id: expect.stringMatching(UUIDV7),
      event: 'message.new',
      userId: 'bob',
      chatRoomId: room.id,
      roomType: 'group',
      senderId: 'alice',
      senderName: 'Alice',
      count: 5,
      mentioned: false,
      preview: 'message 5',
      unreadCount: 5,
      messageIds: sent.map((m) => m.id),
    };
    expect(viaHook).toEqual(expected);
    expect(Object.keys(viaHook)).toEqual(Object.keys(expected));
    expect(viaPush).toEqual(viaHook);
    // Carol has no push subscription: the webhook still tells the platform, with her own id.
    const [forCarol] = await until(() => hookFor('carol', room.id).length > 0 && hookFor('carol', room.id), 'the webhook for carol');
    expect(forCarol).toEqual({ ...expected, id: expect.stringMatching(UUIDV7), userId: 'carol' });
    expect(forCarol.id).not.toBe(viaHook.id);
    await settle();
    expect(hookFor('bob', room.id)).toHaveLength(1);
    expect(hookFor('carol', room.id)).toHaveLength(1);
    expect(hookFor('alice', room.id)).toHaveLength(0);
    expect(pushFor(bobBrowser, room.id)).toHaveLength(1);

    // The push request itself: VAPID with the key the API hands out, aes128gcm, a TTL, a topic per room.
    const receipt = push.to(bobBrowser).find((r) => r.payload.id === viaHook.id)!;
    expect(receipt.vapidKey).toBe((await bob.get('/push/vapid-public-key')).body.publicKey);
    expect(receipt.headers).toMatchObject({
      'content-encoding': 'aes128gcm',
      ttl: expect.stringMatching(/^\d+$/),
      urgency: 'normal',
      topic: expect.stringMatching(/^[A-Za-z0-9_-]{1,32}$/),
    });
  });

  it('counts unread from where the recipient read, and previews files by kind', async () => {
    const room = await group('reads', ['bob']);
    await send(alice, room.id, 'first');
    await until(() => hookFor('bob', room.id).length === 1, 'the first notification');
    expect((await bob.patch(`/rooms/${room.id}/read`)).status).toBe(200);
    const fd = new FormData();
    fd.append('content', '');
    fd.append('media', new Blob([await png()], { type: 'image/png' }), 'pic.png');
    expect((await alice.raw(`/rooms/${room.id}/messages`, { method: 'POST', body: fd })).status).toBe(201);
    const second = await until(() => hookFor('bob', room.id)[1], 'the second notification');
    expect(second).toMatchObject({ count: 1, unreadCount: 1, preview: '📷 Photo', mentioned: false });
    await send(alice, room.id, 'line one\n\n  line two');
    const third = await until(() => hookFor('bob', room.id)[2], 'the third notification');
    expect(third).toMatchObject({ count: 1, unreadCount: 2, preview: 'line one line two' });
  });

  it('says mentioned when any covered message mentions the recipient', async () => {
    const room = await group('mentions');
    await send(alice, room.id, 'hello all');
    await send(alice, room.id, 'carol, look', ['carol']);
    const forCarol = await until(() => hookFor('carol', room.id)[0], "carol's notification");
    const forBob = await until(() => hookFor('bob', room.id)[0], "bob's notification");
    expect(forCarol).toMatchObject({ count: 2, mentioned: true, preview: 'carol, look' });
    expect(forBob).toMatchObject({ count: 2, mentioned: false });
    const viaPush = await until(() => push.to(bobBrowser).find((r) => r.payload.id === forBob.id), "bob's push");
    expect(viaPush.headers.urgency).toBe('normal');
  });

  it('sends nothing for plain messages in a muted room, but still for mentions; a mute that ended is no mute', async () => {
    const room = await group('muted');
    expect((await bob.patch(`/rooms/${room.id}/notifications`, { muted: true })).body.muted).toBe(true);
    await send(alice, room.id, 'plain 1');
    await send(alice, room.id, 'plain 2');
    // Carol's notification for the same messages is the sign that Bob's would have left by now.
    await until(() => hookFor('carol', room.id).length === 1, "carol's notification");
    await settle();
    expect(hookFor('bob', room.id)).toEqual([]);
    expect(pushFor(bobBrowser, room.id)).toEqual([]);

    await send(alice, room.id, 'plain 3');
    await send(alice, room.id, 'bob, urgent', ['bob']);
    const mention = await until(() => hookFor('bob', room.id)[0], 'the mention');
    expect(mention).toMatchObject({ count: 1, mentioned: true, preview: 'bob, urgent', unreadCount: 4 });
    const viaPush = await until(() => pushFor(bobBrowser, room.id)[0], 'the mention by push');
    expect(viaPush).toEqual(mention);
    expect(push.to(bobBrowser).find((r) => r.payload.id === mention.id)!.headers.urgency).toBe('high');

    // Muted until a time that has passed: not muted.
    await bob.patch(`/rooms/${room.id}/notifications`, { muted: true, mutedUntil: new Date(Date.now() - 60_000).toISOString() });
    await send(alice, room.id, 'plain 4');
    expect(await until(() => hookFor('bob', room.id)[1], 'the plain message after the mute')).toMatchObject({
      count: 1,
      mentioned: false,
      preview: 'plain 4',
    });

    // Muted until a time to come: muted.
    await bob.patch(`/rooms/${room.id}/notifications`, { muted: true, mutedUntil: new Date(Date.now() + 3_600_000).toISOString() });
    const plain5 = await send(alice, room.id, 'plain 5');
    await until(() => hookFor('carol', room.id).some((n) => n.messageIds.includes(plain5.id)), "carol's notification of plain 5");
    await settle();
    expect(hookFor('bob', room.id)).toHaveLength(2);
  });

  it('carries no message text for a recipient who set the room to hide previews', async () => {
    const room = await group('private previews');
    const set = await bob.patch(`/rooms/${room.id}/notifications`, { muted: false, hidePreviews: true });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ muted: false, hidePreviews: true });
    expect((await alice.get(`/rooms/${room.id}`)).body.hidePreviews).toBe(false); // the caller's own setting
    await send(alice, room.id, 'the secret plan');
    const hidden = await until(() => hookFor('bob', room.id)[0], "bob's notification");
    const shown = await until(() => hookFor('carol', room.id)[0], "carol's notification");
    expect(hidden).toMatchObject({ count: 1, preview: '' });
    expect(shown).toMatchObject({ count: 1, preview: 'the secret plan' });
    // Omitted later, the setting stays as it was.
    expect((await bob.patch(`/rooms/${room.id}/notifications`, { muted: true })).body).toMatchObject({ muted: true, hidePreviews: true });
  });

  it('always notifies direct messages, even in a muted direct room', async () => {
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    await bob.patch(`/rooms/${room.id}/notifications`, { muted: true });
    await send(alice, room.id, 'psst');
    const dm = await until(() => hookFor('bob', room.id)[0], 'the direct message notification');
    expect(dm).toMatchObject({ roomType: 'direct', count: 1, mentioned: false, preview: 'psst', senderName: 'Alice' });
    const viaPush = await until(() => push.to(bobBrowser).find((r) => r.payload.id === dm.id), 'the direct message by push');
    expect(viaPush.headers.urgency).toBe('high');
  });

  it('sends nothing to a user with a live socket', async () => {
    const room = await group('online');
    sockets.push(await connect(t.baseUrl, bob.token));
    await send(alice, room.id, 'you are here');
    await send(alice, room.id, 'bob, you are here', ['bob']);
    await until(() => hookFor('carol', room.id).length === 1, "carol's notification");
    await settle();
    expect(hookFor('bob', room.id)).toEqual([]);
    expect(pushFor(bobBrowser, room.id)).toEqual([]);
  });

  it('with Web Push alone, pushes to subscribers and logs nothing for a room where nobody could get a push', async () => {
    const pushOnly = await startTestApp({ NOTIFY_COALESCE_MS: '200', PRESENCE_GRACE_MS: '100', PUSH_ALLOW_PRIVATE_ENDPOINTS: '1' });
    try {
      const [a, b] = [await pushOnly.as('alice'), await pushOnly.as('bob')];
      await pushOnly.as('carol');
      const browser = push.browser();
      expect((await b.post('/push/subscriptions', browser.subscription)).status).toBe(201);
      const heard = (await a.post('/rooms', { type: 'group', name: 'heard', participantIds: ['bob', 'carol'] })).body;
      const unheard = (await a.post('/rooms', { type: 'group', name: 'unheard', participantIds: ['carol'] })).body;
      await send(a, unheard.id, 'nobody here has a push subscription');
      const sent = await send(a, heard.id, 'bob has one');
      const [note] = await until(() => pushFor(browser, heard.id).length > 0 && pushFor(browser, heard.id), 'the push for bob');
      expect(note).toMatchObject({ userId: 'bob', count: 1, preview: 'bob has one', messageIds: [sent.id] });
      const logged = await queryRows<{ room_id: string }>(
        pushOnly.app.database.db,
        sql`select room_id from domain_event where type = 'message.created' and room_id in (${heard.id}, ${unheard.id})`,
      );
      expect(logged).toEqual([{ room_id: heard.id }]);
    } finally {
      await pushOnly.close();
    }
  });

  it('notifies a user whose last socket just left, though others still see them online during the grace period', async () => {
    const graceful = await startTestApp({
      NOTIFY_COALESCE_MS: '200',
      NOTIFY_WEBHOOK_URL: hook.url,
      NOTIFY_WEBHOOK_SECRET: SECRET,
      PRESENCE_GRACE_MS: '10000',
    });
    try {
      const a = await graceful.as('alice');
      const b = await graceful.as('bob');
      const room = (await a.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
      const s = await connect(graceful.baseUrl, b.token);
      s.close();
      await sleep(100);
      expect((await a.get('/presence?userIds=bob')).body.data[0].online).toBe(true);
      await send(a, room.id, 'are you there?');
      const note = await until(() => hookFor('bob', room.id)[0], 'the notification of a user without a live socket');
      expect(note).toMatchObject({ count: 1, preview: 'are you there?' });
    } finally {
      await graceful.close();
    }
  });
});
