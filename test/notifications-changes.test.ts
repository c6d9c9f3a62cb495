import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
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

const SECRET = 'webhook-secret-for-the-message-change-tests';
/** Wide enough that a send and a delete or an edit right after it land in one window even on a loaded CI machine. */
const COALESCE_MS = 1500;
let t: TestApp;
let push: PushService;
let hook: WebhookReceiver;
let alice: Client, bob: Client, carol: Client, dave: Client, erin: Client;
let bobBrowser: TestBrowser;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  push = await startPushService();
  hook = await startWebhookReceiver(SECRET);
  t = await startTestApp({
    NOTIFY_COALESCE_MS: String(COALESCE_MS),
    NOTIFY_WEBHOOK_URL: hook.url,
    NOTIFY_WEBHOOK_SECRET: SECRET,
    NOTIFY_RETRY_BASE_MS: '200',
    PRESENCE_GRACE_MS: '100',
    // The stand-in push service listens on 127.0.0.1 over http: the operator switch that allows such endpoints.
    PUSH_ALLOW_PRIVATE_ENDPOINTS: '1',
  });
  alice = await t.as('alice', { name: 'Alice' });
  bob = await t.as('bob', { name: 'Bob' });
  carol = await t.as('carol', { name: 'Carol' });
  dave = await t.as('dave', { name: 'Dave' });
  erin = await t.as('erin', { name: 'Erin' });
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

const group = async (name: string, members = ['bob', 'carol']) => {
  const res = await alice.post('/rooms', { type: 'group', name, participantIds: members });
  expect(res.status).toBe(201);
  return res.body;
};
const send = async (c: Client, roomId: string, content: string, mentions?: string[]) => {
  const res = await c.post(`/rooms/${roomId}/messages`, { content, ...(mentions ? { mentions } : {}) });
  expect(res.status).toBe(201);
  return res.body;
};
const ok = (res: Res, what: string) => {
  if (res.status !== 200) throw new Error(`${what}: expected 200, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
};
const edit = async (c: Client, id: string, body: Record<string, unknown>) => ok(await c.patch(`/messages/${id}`, body), 'edit');
const remove = async (c: Client, id: string) => ok(await c.raw(`/messages/${id}`, { method: 'DELETE' }), 'delete');
const online = async (c: Client) => sockets.push(await connect(t.baseUrl, c.token));

/** Delivered webhook bodies of one kind for one recipient in one room. */
const hookFor = (userId: string, roomId: string, event = 'message.new') => hook.delivered(userId, roomId).filter((b) => b.event === event);
const pushFor = (b: TestBrowser, roomId: string, event = 'message.new') =>
  push
    .to(b)
    .filter((r) => r.payload.chatRoomId === roomId && r.payload.event === event)
    .map((r) => r.payload);
const pushReceipt = (b: TestBrowser, id: string) => push.to(b).find((r) => r.payload.id === id);
/** Long enough for a notification of what was just done to have shown up, were there one. */
const settle = () => sleep(COALESCE_MS + 600);

describe('a message deleted before its notification leaves', () => {
  it('is not notified: the others covered by the same notification still are, counted and listed without it', async () => {
    const room = await group('deleted early');
    const first = await send(alice, room.id, 'first');
    const second = await send(alice, room.id, 'second');
    const third = await send(alice, room.id, 'third, bob', ['bob']);
    // The latest covered message, and the only one mentioning bob: the notification falls back to the one before.
    await remove(alice, third.id);
    const forBob = await until(() => hookFor('bob', room.id)[0], "bob's notification");
    const expected = {
      id: expect.stringMatching(UUIDV7),
      event: 'message.new',
      userId: 'bob',
      chatRoomId: room.id,
      roomType: 'group',
      senderId: 'alice',
      senderName: 'Alice',
      count: 2,
      mentioned: false,
      preview: 'second',
      unreadCount: 2,
      messageIds: [first.id, second.id],
    };
    expect(forBob).toEqual(expected);
    expect(await until(() => pushFor(bobBrowser, room.id)[0], "bob's push")).toEqual(forBob);
    expect(await until(() => hookFor('carol', room.id)[0], "carol's notification")).toEqual({
      ...expected,
      id: expect.stringMatching(UUIDV7),
      userId: 'carol',
    });
    await settle();
    expect(hookFor('bob', room.id)).toHaveLength(1);
    expect(hookFor('carol', room.id)).toHaveLength(1);
    // Nobody had been told of the deleted message: there is nothing to retract.
    expect(hook.receipts.filter((r) => r.body.chatRoomId === room.id && r.body.event !== 'message.new')).toEqual([]);
  });

  it('sends nothing when every message it covered was deleted', async () => {
    const room = await group('all deleted');
    const witness = await group('witness', ['carol']);
    const gone = await send(alice, room.id, 'never mind');
    await send(alice, witness.id, 'still here');
    await remove(alice, gone.id);
    // The witness room's notification, sent in the same window, is the sign that bob's would have left by now.
    await until(() => hookFor('carol', witness.id).length === 1, "carol's notification in the witness room");
    await settle();
    expect(hook.delivered('bob', room.id)).toEqual([]);
    expect(hook.delivered('carol', room.id)).toEqual([]);
    expect(push.to(bobBrowser).filter((r) => r.payload.chatRoomId === room.id)).toEqual([]);
  });

  it('is dropped when the notification leaves even if its delete was not yet handled, and the latest remaining one is shown', async () => {
    const room = await group('checked when it leaves', ['bob']);
    const kept = await send(alice, room.id, 'kept');
    const late = await send(alice, room.id, 'deleted behind the notifications back', ['bob']);
    // A delete whose event the notifications have not handled yet (another instance holds it): only the row changed.
    await t.app.database.db.execute(
      sql`update chat_message set deleted_at = now(), deleted_by = 'alice', content = '', mentions = '{}' where id = ${late.id}`,
    );
    const note = await until(() => hookFor('bob', room.id)[0], "bob's notification");
    expect(note).toMatchObject({ count: 1, mentioned: false, preview: 'kept', unreadCount: 1, messageIds: [kept.id] });
  });
});

describe('a message deleted after its notification left', () => {
  it('is retracted, signed, to exactly the users it was notified to, by webhook and by Web Push with the same topic', async () => {
    const room = await group('retracted', ['bob', 'carol', 'dave']);
    // Dave is online (told live, never notified); carol muted the room (a plain message does not notify her).
    await online(dave);
    expect((await carol.patch(`/rooms/${room.id}/notifications`, { muted: true })).status).toBe(200);
    const other = await send(alice, room.id, 'this one stays');
    const doomed = await send(alice, room.id, 'this one goes');
    const original = await until(() => hookFor('bob', room.id)[0], "bob's notification");
    expect(original.messageIds).toEqual([other.id, doomed.id]);
    const originalPush = await until(() => pushReceipt(bobBrowser, original.id), "bob's push");

    hook.script.push(503); // the first try fails: retried like any notification
    await remove(alice, doomed.id);
    const retraction = await until(() => hookFor('bob', room.id, 'message.retracted')[0], "bob's retraction");
    const expected = {
      id: expect.stringMatching(UUIDV7),
      event: 'message.retracted',
      userId: 'bob',
      chatRoomId: room.id,
      roomType: 'group',
      messageIds: [doomed.id],
    };
    expect(retraction).toEqual(expected);
    expect(Object.keys(retraction)).toEqual(Object.keys(expected));
    expect(retraction.id).not.toBe(original.id);
    const failed = hook.receipts.filter((r) => r.answered === 503);
    expect(failed.map((r) => r.raw)).toEqual([JSON.stringify(retraction)]);

    const viaPush = await until(() => pushFor(bobBrowser, room.id, 'message.retracted')[0], 'the retraction by push');
    expect(viaPush).toEqual(retraction);
    expect(pushReceipt(bobBrowser, retraction.id)!.headers.topic).toBe(originalPush.headers.topic);

    await settle();
    expect(hookFor('bob', room.id, 'message.retracted')).toHaveLength(1);
    expect(pushFor(bobBrowser, room.id, 'message.retracted')).toHaveLength(1);
    for (const user of ['alice', 'carol', 'dave']) expect(hook.delivered(user, room.id)).toEqual([]);

    // Deleting it again changes nothing and retracts nothing; a message nobody was notified of retracts nothing.
    await remove(alice, doomed.id);
    await sleep(300);
    const unnoticed = await send(alice, room.id, 'read at once');
    expect((await bob.patch(`/rooms/${room.id}/read`)).status).toBe(200);
    await settle();
    await remove(alice, unnoticed.id);
    await settle();
    expect(hook.receipts.filter((r) => r.body.chatRoomId === room.id).map((r) => [r.body.event, r.body.userId])).toEqual([
      ['message.new', 'bob'],
      ['message.retracted', 'bob'],
      ['message.retracted', 'bob'],
    ]);
  });

  it('is retracted to each user once, whoever deletes it, however many notifications covered it', async () => {
    const room = await group('retracted twice', ['bob', 'carol']);
    await bob.patch(`/rooms/${room.id}/notifications`, { muted: true });
    const message = await send(alice, room.id, 'hello');
    await until(() => hookFor('carol', room.id).length === 1, "carol's notification");
    // Bob muted the room: the mention an edit adds is his first notification of it; carol's is her second.
    await edit(alice, message.id, { content: 'hello bob, carol', mentions: ['bob', 'carol'] });
    await until(() => hookFor('bob', room.id).length === 1 && hookFor('carol', room.id).length === 2, 'the mentions');
    // The room's creator is its owner: an owner deletes someone else's message.
    const owned = (await carol.post('/rooms', { type: 'group', name: 'carol owns', participantIds: ['alice', 'bob'] })).body;
    const inOwned = await send(alice, owned.id, 'in a room carol owns');
    await until(() => hookFor('bob', owned.id).length === 1, "bob's notification in carol's room");
    await remove(carol, inOwned.id);
    await remove(alice, message.id);
    await until(() => hookFor('bob', room.id, 'message.retracted').length === 1, "bob's retraction");
    await until(() => hookFor('carol', room.id, 'message.retracted').length === 1, "carol's retraction");
    await until(() => hookFor('bob', owned.id, 'message.retracted').length === 1, "bob's retraction in carol's room");
    await settle();
    expect(hookFor('bob', room.id, 'message.retracted')).toHaveLength(1);
    expect(hookFor('carol', room.id, 'message.retracted')).toHaveLength(1);
    expect(hookFor('alice', owned.id, 'message.retracted')).toEqual([]);
    expect(hookFor('bob', room.id, 'message.retracted')[0]).toMatchObject({ messageIds: [message.id], roomType: 'group' });
  });
});

describe('a purge (a batch of tombstones)', () => {
  it('retracts what was notified, and logs for the notifications no delete of a message nobody was notified of', async () => {
    const root = await t.as('root', { role: 'admin' });
    const room = await group('purged', ['bob']);
    const unnoticed = await send(alice, room.id, 'read at once');
    expect((await bob.patch(`/rooms/${room.id}/read`)).status).toBe(200);
    await settle();
    const noticed = await send(alice, room.id, 'this one was notified');
    await until(() => hookFor('bob', room.id).find((b) => b.messageIds.includes(noticed.id)), "bob's notification");
    expect(hookFor('bob', room.id).flatMap((b) => b.messageIds)).not.toContain(unnoticed.id);

    expect(ok(await root.post(`/admin/rooms/${room.id}/purge`, { userId: 'alice' }), 'purge')).toMatchObject({ deleted: 2 });
    const retraction = await until(() => hookFor('bob', room.id, 'message.retracted')[0], "bob's retraction");
    expect(retraction).toMatchObject({ userId: 'bob', messageIds: [noticed.id] });
    const logged = async (messageId: string) =>
      (
        (await t.app.database.db.execute(
          sql`select count(*)::int as n from domain_event where type = 'message.deleted' and payload->>'messageId' = ${messageId}`,
        )) as unknown as { rows: Array<{ n: number }> }
      ).rows[0]!.n;
    // No webhook is registered here: the notifications are the only reader of message.deleted.
    expect(await logged(noticed.id)).toBe(1);
    expect(await logged(unnoticed.id)).toBe(0);
    await settle();
    expect(hookFor('bob', room.id, 'message.retracted')).toHaveLength(1);
  });
});

describe('an edit', () => {
  it('notifies, as a mention, only the offline users it newly mentions, muted or not', async () => {
    const room = await group('edited mentions', ['bob', 'carol', 'dave', 'erin']);
    await online(dave);
    // Both muted the room: carol is mentioned from the start, erin only by the edit.
    await carol.patch(`/rooms/${room.id}/notifications`, { muted: true });
    await erin.patch(`/rooms/${room.id}/notifications`, { muted: true });
    const message = await send(alice, room.id, 'hello carol', ['carol']);
    const first = await until(() => hookFor('bob', room.id)[0], "bob's notification of the send");
    expect(first).toMatchObject({ count: 1, mentioned: false, preview: 'hello carol' });
    await until(() => hookFor('carol', room.id).length === 1, "carol's mention in the send");

    await edit(alice, message.id, { content: 'hello carol, bob, dave, erin', mentions: ['carol', 'bob', 'dave', 'erin'] });
    const forBob = await until(() => hookFor('bob', room.id)[1], "bob's mention");
    expect(forBob).toEqual({
      id: expect.stringMatching(UUIDV7),
      event: 'message.new',
      userId: 'bob',
      chatRoomId: room.id,
      roomType: 'group',
      senderId: 'alice',
      senderName: 'Alice',
      count: 1,
      mentioned: true,
      preview: 'hello carol, bob, dave, erin',
      unreadCount: 1,
      messageIds: [message.id],
    });
    expect(await until(() => pushFor(bobBrowser, room.id)[1], "bob's mention by push")).toEqual(forBob);
    expect(pushReceipt(bobBrowser, forBob.id)!.headers.urgency).toBe('high');
    // Erin muted the room: her only notification is the mention the edit added.
    expect(await until(() => hookFor('erin', room.id)[0], "erin's mention")).toMatchObject({ count: 1, mentioned: true });
    await settle();
    expect(hookFor('bob', room.id)).toHaveLength(2);
    expect(hookFor('carol', room.id)).toHaveLength(1);
    expect(hookFor('erin', room.id)).toHaveLength(1);
    expect(hook.delivered('dave', room.id)).toEqual([]);
    expect(hook.delivered('alice', room.id)).toEqual([]);
  });

  it('that adds no mention notifies nobody: new text, the same mentions, fewer mentions', async () => {
    const room = await group('edited quietly');
    const message = await send(alice, room.id, 'hi bob', ['bob']);
    await until(() => hookFor('bob', room.id).length === 1 && hookFor('carol', room.id).length === 1, 'the notifications of the send');
    await edit(alice, message.id, { content: 'hi bob!' });
    await edit(alice, message.id, { content: 'hi bob!!', mentions: ['bob'] });
    await edit(alice, message.id, { content: 'hi all', mentions: [] });
    const witness = await group('witness of quiet edits', ['carol']);
    await send(alice, witness.id, 'sent after the edits');
    await until(() => hookFor('carol', witness.id).length === 1, 'the notification sent after the edits');
    await settle();
    expect(hook.delivered('bob', room.id)).toHaveLength(1);
    expect(hook.delivered('carol', room.id)).toHaveLength(1);
    expect(pushFor(bobBrowser, room.id)).toHaveLength(1);
  });

  it('made before the notification of its send leaves joins it: one notification, now a mention, with the edited text', async () => {
    const room = await group('edited early', ['bob']);
    const message = await send(alice, room.id, 'draft');
    await edit(alice, message.id, { content: 'final, bob', mentions: ['bob'] });
    const note = await until(() => hookFor('bob', room.id)[0], "bob's notification");
    expect(note).toMatchObject({ count: 1, mentioned: true, preview: 'final, bob', unreadCount: 1, messageIds: [message.id] });
    await settle();
    expect(hookFor('bob', room.id)).toHaveLength(1);
  });
});

describe('unreadCount in a notification', () => {
  it('does not count deleted messages, above the read position only', async () => {
    const room = await group('unread without the deleted', ['bob']);
    const sent = [];
    for (let i = 1; i <= 4; i++) sent.push(await send(alice, room.id, `message ${i}`));
    expect(ok(await bob.patch(`/messages/${sent[1].id}/read`), 'read').lastReadSeq).toBe(sent[1].seq);
    await until(() => hookFor('bob', room.id).length === 1, 'the first notification');
    // One deleted below the read position (already read), one above it (would be unread).
    await remove(alice, sent[0].id);
    await remove(alice, sent[2].id);
    await send(alice, room.id, 'message 5');
    const next = await until(() => hookFor('bob', room.id)[1], 'the notification of message 5');
    // 5 sent, 2 read, 1 deleted above the read position: message 4 and message 5.
    expect(next).toMatchObject({ count: 1, preview: 'message 5', unreadCount: 2 });
  });
});
