import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { startWebhookReceiver, until, type WebhookReceiver } from './helpers/notify.js';
import { call, connect, type ClientSocket } from './helpers/sockets.js';

const SECRET = 'webhook-secret-for-the-block-tests';
let t: TestApp;
let hook: WebhookReceiver;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  hook = await startWebhookReceiver(SECRET);
  t = await startTestApp({
    NOTIFY_COALESCE_MS: '200',
    NOTIFY_WEBHOOK_URL: hook.url,
    NOTIFY_WEBHOOK_SECRET: SECRET,
    PRESENCE_GRACE_MS: '100',
  });
});
afterEach(() => sockets.splice(0).forEach((s) => s.close()));
afterAll(async () => {
  await t?.close();
  await hook?.close();
});

const blocksOf = async (c: Client) => (await c.get('/blocks')).body.data.map((b: { userId: string }) => b.userId);
const direct = (c: Client, other: string) => c.post('/rooms', { type: 'direct', participantIds: [other] });
const send = (c: Client, roomId: string, content: string) => c.post(`/rooms/${roomId}/messages`, { content });
const historyOf = async (c: Client, roomId: string) => (await c.get(`/rooms/${roomId}/messages`)).body.data.map((m: any) => m.content);

describe('PUT/DELETE/GET /blocks', () => {
  it('blocks and unblocks idempotently, and lists the latest block first, keyset-paged', async () => {
    const frank = await t.as('frank');
    expect((await frank.put('/blocks/u1')).status).toBe(204);
    const first = (await frank.get('/blocks')).body.data[0];
    expect((await frank.put('/blocks/u1')).status).toBe(204);
    // A repeat keeps the first block's time.
    expect((await frank.get('/blocks')).body).toEqual({ data: [first], nextCursor: null });
    expect((await frank.put('/blocks/u2')).status).toBe(204);
    expect((await frank.put('/blocks/u3')).status).toBe(204);

    const all = (await frank.get('/blocks')).body;
    expect(all.nextCursor).toBeNull();
    expect(all.data.map((b: any) => b.userId).sort()).toEqual(['u1', 'u2', 'u3']);
    const newestFirst = [...all.data].sort((a: any, b: any) => b.createdAt.localeCompare(a.createdAt) || b.userId.localeCompare(a.userId));
    expect(all.data).toEqual(newestFirst);

    const page1 = (await frank.get('/blocks?limit=2')).body;
    expect(page1.data).toEqual(all.data.slice(0, 2));
    const page2 = (await frank.get(`/blocks?limit=2&cursor=${page1.nextCursor}`)).body;
    expect(page2).toEqual({ data: all.data.slice(2), nextCursor: null });

    expect((await frank.delete('/blocks/u2')).status).toBe(204);
    expect((await frank.delete('/blocks/u2')).status).toBe(204);
    expect((await frank.delete('/blocks/never-blocked')).status).toBe(204);
    expect((await blocksOf(frank)).sort()).toEqual(['u1', 'u3']);
    // Nobody else sees frank's blocks.
    expect(await blocksOf(await t.as('u1'))).toEqual([]);
  });

  it('refuses bad input with the exact problem and stores nothing', async () => {
    const gina = await t.as('gina');
    expectProblem(await gina.put('/blocks/gina'), 400, 'VALIDATION_FAILED');
    expectProblem(await gina.delete('/blocks/gina'), 400, 'VALIDATION_FAILED');
    expectProblem(await gina.put('/blocks/a%01b'), 400, 'VALIDATION_FAILED');
    expectProblem(await gina.put(`/blocks/${'x'.repeat(129)}`), 400, 'VALIDATION_FAILED');
    expectProblem(await gina.delete('/blocks/a%7Fb'), 400, 'VALIDATION_FAILED');
    expectProblem(await gina.get('/blocks?limit=0'), 400, 'VALIDATION_FAILED');
    expectProblem(await gina.get('/blocks?limit=101'), 400, 'VALIDATION_FAILED');
    expectProblem(await gina.get('/blocks?cursor=not-a-cursor'), 400, 'VALIDATION_FAILED');
    const anonymous = await t.app.http.inject({ method: 'PUT', url: '/api/v1/chat/blocks/hank' });
    expect(anonymous.statusCode).toBe(401);
    expect(await blocksOf(gina)).toEqual([]);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await t.as('ivy')).get('/docs/json')).body;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/chat/blocks/{userId}', '/api/v1/chat/blocks']));
  });
});

describe('a block in direct rooms', () => {
  it('refuses opening, sending, editing and reacting both ways with one 403, keeps history readable, and unblocking restores it', async () => {
    const [alice, bob] = [await t.as('alice'), await t.as('bob')];
    const room = (await direct(alice, 'bob')).body;
    const earlier = (await send(alice, room.id, 'before the block')).body;
    const retracted = (await send(alice, room.id, 'taken back')).body;
    expect((await bob.put('/blocks/alice')).status).toBe(204);

    // Opening the pair's room: refused either way, the existing room not returned, and the same words whoever blocked.
    const byBlocked = await direct(alice, 'bob');
    const byBlocker = await direct(bob, 'alice');
    expectProblem(byBlocked, 403, 'FORBIDDEN');
    expectProblem(byBlocker, 403, 'FORBIDDEN');
    expect(byBlocked.body.detail).toBe(byBlocker.body.detail);
    expect(JSON.stringify(byBlocked.body)).not.toContain(room.id);

    const sent = await send(alice, room.id, 'refused');
    expectProblem(sent, 403, 'FORBIDDEN');
    expect(sent.body.detail).toBe(byBlocked.body.detail);
    expectProblem(await send(bob, room.id, 'refused too'), 403, 'FORBIDDEN');
    expectProblem(await alice.post(`/rooms/${room.id}/messages`, { content: 'with a mention', mentions: ['bob'] }), 403, 'FORBIDDEN');
    expectProblem(await alice.patch(`/messages/${earlier.id}`, { content: 'rewritten' }), 403, 'FORBIDDEN');
    expectProblem(await alice.put(`/messages/${earlier.id}/reactions/${encodeURIComponent('👍')}`), 403, 'FORBIDDEN');
    expectProblem(await bob.put(`/messages/${earlier.id}/reactions/${encodeURIComponent('👍')}`), 403, 'FORBIDDEN');
    expectProblem(await bob.put(`/rooms/${room.id}/pins/${earlier.id}`), 403, 'FORBIDDEN');
    // Taking one's own words back stays possible.
    expect((await alice.delete(`/messages/${retracted.id}`)).status).toBe(200);

    const socket = await connect(t.baseUrl, alice.token);
    sockets.push(socket);
    const ack = await call(socket, 'send_message', { chatRoomId: room.id, content: 'over the socket', clientMessageId: 'blk-1' });
    expect(ack).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: byBlocked.body.detail } });
    const reacted = await call(socket, 'add_reaction', { messageId: earlier.id, emoji: '🎉' });
    expect(reacted).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    const edited = await call(socket, 'edit_message', { messageId: earlier.id, content: 'over the socket' });
    expect(edited).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });

    // Nothing was stored; both still read what they had.
    expect(await historyOf(alice, room.id)).toEqual(['before the block', '']);
    expect(await historyOf(bob, room.id)).toEqual(['before the block', '']);
    const seen = (await alice.get(`/messages/${earlier.id}`)).body;
    expect({ content: seen.content, reactions: seen.reactions, editedAt: seen.editedAt, pinnedAt: seen.pinnedAt }).toEqual({
      content: 'before the block',
      reactions: [],
      editedAt: null,
      pinnedAt: null,
    });
    expect((await alice.get(`/rooms/${room.id}`)).status).toBe(200);

    expect((await bob.delete('/blocks/alice')).status).toBe(204);
    const reopened = await direct(alice, 'bob');
    expect({ status: reopened.status, id: reopened.body.id }).toEqual({ status: 200, id: room.id });
    expect((await send(alice, room.id, 'after the unblock')).status).toBe(201);
    expect((await alice.patch(`/messages/${earlier.id}`, { content: 'edited after' })).status).toBe(200);
    expect((await alice.put(`/messages/${earlier.id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
    expect(await call(socket, 'send_message', { chatRoomId: room.id, content: 'socket again' })).toMatchObject({ ok: true });
  });

  it('refuses opening a new direct room with no room created, whichever side blocked', async () => {
    const [dave, erin] = [await t.as('dave'), await t.as('erin')];
    expect((await dave.put('/blocks/erin')).status).toBe(204);
    expectProblem(await direct(erin, 'dave'), 403, 'FORBIDDEN');
    expectProblem(await direct(dave, 'erin'), 403, 'FORBIDDEN');
    expect((await erin.get('/rooms?type=direct')).body.data).toEqual([]);
    expect((await dave.get('/rooms?type=direct')).body.data).toEqual([]);
    expect((await dave.delete('/blocks/erin')).status).toBe(204);
    expect((await direct(erin, 'dave')).status).toBe(201);
  });

  it('leaves shared group rooms unchanged', async () => {
    const [kim, leo] = [await t.as('kim'), await t.as('leo')];
    const group = (await kim.post('/rooms', { type: 'group', name: 'shared', participantIds: ['leo'] })).body;
    expect((await leo.put('/blocks/kim')).status).toBe(204);
    const fromKim = await send(kim, group.id, 'kim in the group');
    expect(fromKim.status).toBe(201);
    expect((await send(leo, group.id, 'leo in the group')).status).toBe(201);
    expect((await kim.put(`/messages/${fromKim.body.id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
    expect((await leo.put(`/messages/${fromKim.body.id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
    expect(await historyOf(leo, group.id)).toEqual(['kim in the group', 'leo in the group']);
    expect(await historyOf(kim, group.id)).toEqual(['kim in the group', 'leo in the group']);
  });
});

describe('a block and notifications', () => {
  it('never notifies the blocker of the blocked user, mentions included, while others are notified', async () => {
    const [mia, ned, ola] = [await t.as('mia'), await t.as('ned'), await t.as('ola')];
    const group = (await mia.post('/rooms', { type: 'group', name: 'notify', participantIds: ['ned', 'ola'] })).body;
    expect((await ned.put('/blocks/mia')).status).toBe(204);
    const fromMia = (await mia.post(`/rooms/${group.id}/messages`, { content: 'hello @ned', mentions: ['ned'] })).body;
    // ola (not blocking) hears of mia's message: its notification has been queued by then.
    await until(() => hook.delivered('ola', group.id).some((n) => n.messageIds.includes(fromMia.id)), 'ola notified of mia');
    // A later message from ola reaches ned; mia's is in no notification of his, before it or with it.
    const fromOla = (await ola.post(`/rooms/${group.id}/messages`, { content: 'from ola' })).body;
    await until(() => hook.delivered('ned', group.id).some((n) => n.messageIds.includes(fromOla.id)), 'ned notified of ola');
    const toNed = hook.delivered('ned');
    expect(toNed.flatMap((n) => n.messageIds)).toEqual([fromOla.id]);
    expect(toNed.map((n) => ({ senderId: n.senderId, mentioned: n.mentioned }))).toEqual([{ senderId: 'ola', mentioned: false }]);
  });
});
