import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbRows, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { MALFORMED_ID, ok, pin, react, recordMessageEvents, UNKNOWN_ID } from './helpers/changes.js';
import { buildMessages, buildRoom } from './helpers/factories.js';
import { connect, sleep, type ClientSocket } from './helpers/sockets.js';
import { png } from './media-fixtures.js';
import { fetchBytes, form } from './media-helpers.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client, agent: Client, root: Client;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000' });
  [alice, bob, carol, agent, root] = await Promise.all([
    t.as('alice', { name: 'Alice' }),
    t.as('bob', { name: 'Bob' }),
    t.as('carol'),
    t.as('agent', { role: 'support' }),
    t.as('root', { role: 'admin' }),
  ]);
});
afterAll(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await t?.close();
});

const purge = (c: Client, roomId: string, body: unknown) => c.post(`/admin/rooms/${roomId}/purge`, body);
const changesOf = async (roomId: string, after = 0) => ok(await alice.get(`/rooms/${roomId}/changes?after=${after}&limit=100`));
const rows = <T>(q: ReturnType<typeof sql>) => dbRows<T>(t, q);

describe('POST /admin/rooms/:id/purge', () => {
  it('turns every message of the user into tombstones in one contiguous changeSeq range, told live like deletes', async () => {
    const room = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const bobs = await buildMessages(bob, room, 4, (i) => `spam ${i}`);
    const alices = await buildMessages(alice, room, 2, (i) => `fine ${i}`);
    // Side data a delete erases: a reaction, a pin, an edit, a file.
    await react(alice, bobs[0]!.id, '👍');
    expect((await pin(alice, room, bobs[1]!.id)).status).toBe(200);
    expect((await bob.patch(`/messages/${bobs[2]!.id}`, { content: 'spam 2 edited' })).status).toBe(200);
    const fd = form([{ name: 'p.png', type: 'image/png', data: await png() }], { content: 'spam file' });
    const withFile = (await bob.raw(`/rooms/${room}/messages`, { method: 'POST', body: fd })).body;
    const fileUrl = String(withFile.media[0].url).replace(t.config.publicUrl, t.baseUrl);
    expect((await fetchBytes(fileUrl)).status).toBe(200);
    const before = await changesOf(room);

    const socket = await connect(t.baseUrl, carol.token);
    sockets.push(socket);
    const events = recordMessageEvents(socket);

    const res = await purge(root, room, { userId: 'bob' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted: 5, lastChangeSeq: before.lastChangeSeq + 5 });

    const after = await changesOf(room, before.lastChangeSeq);
    expect(after.lastChangeSeq).toBe(before.lastChangeSeq + 5);
    expect(after.data.map((m: any) => m.changeSeq)).toEqual([1, 2, 3, 4, 5].map((i) => before.lastChangeSeq + i));
    expect(after.data.map((m: any) => m.id)).toEqual([...bobs.map((m) => m.id), withFile.id]);
    for (const m of after.data) {
      expect(m).toMatchObject({ senderId: 'bob', content: '', deletedBy: 'root', reactions: [], pinnedAt: null, editedAt: null });
      expect(m.deletedAt).toEqual(expect.any(String));
    }
    // Everything a delete erases is gone with them.
    const [side] = await rows<{ reactions: number; edits: number; media: number; pinned: number }>(
      sql`select (select count(*)::int from chat_reaction r join chat_message m on m.id = r.message_id where m.room_id = ${room}) as reactions,
                 (select count(*)::int from chat_message_edit e join chat_message m on m.id = e.message_id where m.room_id = ${room}) as edits,
                 (select count(*)::int from chat_media where room_id = ${room}) as media,
                 (select pinned_count from chat_room where id = ${room}) as pinned`,
    );
    expect(side).toEqual({ reactions: 0, edits: 0, media: 0, pinned: 0 });
    expect((await fetchBytes(fileUrl)).status).toBe(404);

    // Alice's messages are untouched.
    const history = ok(await alice.get(`/rooms/${room}/messages?limit=50`)).data;
    for (const m of alices) expect(history.find((h: any) => h.id === m.id)).toMatchObject({ content: m.content, deletedAt: null });

    // Carol's socket got one message_deleted per tombstone, in changeSeq order.
    await expect.poll(() => events.filter((e) => e.event === 'message_deleted').length).toBe(5);
    expect(events.filter((e) => e.event === 'message_deleted').map((e) => e.payload)).toEqual(
      after.data.map((m: any) => ({
        chatRoomId: room,
        id: m.id,
        seq: m.seq,
        changeSeq: m.changeSeq,
        deletedAt: m.deletedAt,
        deletedBy: 'root',
      })),
    );

    // Again: nothing left, the room's current lastChangeSeq.
    expect(ok(await purge(root, room, { userId: 'bob' }))).toEqual({ deleted: 0, lastChangeSeq: before.lastChangeSeq + 5 });
  });

  it('from sinceSeq only; beyond the last seq deletes nothing', async () => {
    const room = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    const sent = await buildMessages(bob, room, 5);
    const res = ok(await purge(root, room, { userId: 'bob', sinceSeq: sent[3]!.seq }));
    expect(res.deleted).toBe(2);
    const history = ok(await alice.get(`/rooms/${room}/messages?limit=50`)).data;
    const deleted = history.filter((m: any) => m.deletedAt !== null).map((m: any) => m.seq);
    expect(deleted).toEqual([sent[3]!.seq, sent[4]!.seq]);
    expect(ok(await purge(root, room, { userId: 'bob', sinceSeq: 1000 }))).toEqual({ deleted: 0, lastChangeSeq: res.lastChangeSeq });
    // A user who never wrote there: nothing.
    expect(ok(await purge(root, room, { userId: 'nobody' }))).toEqual({ deleted: 0, lastChangeSeq: res.lastChangeSeq });
  });

  it('is for platform admins only, 404 for an unknown room, 400 for a bad body — and then nothing is deleted', async () => {
    const room = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    await buildMessages(bob, room, 2);
    for (const c of [alice, bob, agent]) expectProblem(await purge(c, room, { userId: 'bob' }), 403, 'FORBIDDEN');
    expectProblem(await purge(root, UNKNOWN_ID, { userId: 'bob' }), 404, 'NOT_FOUND');
    expectProblem(await purge(root, MALFORMED_ID, { userId: 'bob' }), 404, 'NOT_FOUND');
    for (const body of [
      {},
      { userId: '' },
      { userId: 'bob', sinceSeq: -1 },
      { userId: 'bob', sinceSeq: 'x' },
      { userId: 'bob', extra: 1 },
      { userId: 'a\u0000' },
    ]) {
      expectProblem(await purge(root, room, body), 400, 'VALIDATION_FAILED');
    }
    await sleep(10);
    const history = ok(await alice.get(`/rooms/${room}/messages?limit=50`)).data;
    expect(history.every((m: any) => m.deletedAt === null)).toBe(true);
  });

  it('documents the admin routes in OpenAPI, with their errors', async () => {
    const doc = (await alice.get('/docs/json')).body;
    const p = (path: string) => doc.paths[`/api/v1/chat${path}`];
    expect(Object.keys(p('/admin/rooms/{id}/purge').post.responses)).toEqual(expect.arrayContaining(['200', '400', '403', '404']));
    expect(Object.keys(p('/admin/users/{userId}/export').get.responses)).toEqual(expect.arrayContaining(['200', '403', '404']));
    expect(Object.keys(p('/admin/users/{userId}').delete.responses)).toEqual(expect.arrayContaining(['202', '403', '404']));
    expect(Object.keys(p('/admin/jobs/{id}').get.responses)).toEqual(expect.arrayContaining(['200', '403', '404']));
  });
});
