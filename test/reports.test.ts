import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLogRepository } from '../src/event-log/event-log.repository.js';
import { dbRows, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { deleteMessage, editMessage, getMessage, ISO, MALFORMED_ID, ok, UNKNOWN_ID } from './helpers/changes.js';
import { buildMessage, buildRoom } from './helpers/factories.js';
import { connect, waitFor, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client, stranger: Client, agent: Client, root: Client;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000' });
  [alice, bob, carol, stranger, agent, root] = await Promise.all([
    t.as('alice'),
    t.as('bob'),
    t.as('carol'),
    t.as('stranger'),
    t.as('agent', { role: 'support' }),
    t.as('root', { role: 'admin' }),
  ]);
  // A consumer of report.created, so the log keeps those events (with nobody listening, nothing is written).
  await new EventLogRepository(t.app.database.db).register('reports-test', ['report.created']);
});
afterAll(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await t?.close();
});

const rows = <T = any>(query: ReturnType<typeof sql>): Promise<T[]> => dbRows<T>(t, query);
const reportCount = async (messageId: string): Promise<number> =>
  (await rows<{ n: number }>(sql`select count(*)::int as n from message_report where message_id = ${messageId}`))[0]!.n;
const report = (c: Client, messageId: string, body: unknown) => c.post(`/messages/${messageId}/reports`, body);
const queue = (c: Client, query = '') => c.get(`/admin/reports${query}`);
const decide = (c: Client, id: string, body: unknown) => c.patch(`/admin/reports/${id}`, body);

/** A group of alice (owner), bob and carol, and a message of alice's there. */
async function scene(content = 'you are all idiots') {
  const room = await buildRoom(alice, { participantIds: ['bob', 'carol'] });
  const message = await buildMessage(alice, room.id, { content });
  return { roomId: room.id, message };
}

describe('POST /messages/:id/reports', () => {
  it('files one open report per reporter and message: 201, then 200 with the same report', async () => {
    const { message } = await scene();
    const first = await report(bob, message.id, { reason: 'abuse', details: 'insults everyone' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      id: expect.any(String),
      messageId: message.id,
      reporterId: 'bob',
      reason: 'abuse',
      details: 'insults everyone',
      status: 'open',
      createdAt: expect.stringMatching(ISO),
    });
    const again = await report(bob, message.id, { reason: 'spam' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    // Another participant has a report of their own.
    const byCarol = await report(carol, message.id, { reason: 'harassment' });
    expect(byCarol.status).toBe(201);
    expect(byCarol.body).toMatchObject({ reporterId: 'carol', details: null });
    expect(await reportCount(message.id)).toBe(2);
  });

  it('keeps one open report under concurrent repeats', async () => {
    const { message } = await scene();
    const all = await Promise.all(Array.from({ length: 5 }, () => report(carol, message.id, { reason: 'spam' })));
    expect(all.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(all.map((r) => r.body.id)).size).toBe(1);
    expect(await reportCount(message.id)).toBe(1);
  });

  it('is 404 for a message the caller cannot see, exactly as for one that does not exist', async () => {
    const { message } = await scene();
    const hidden = await report(stranger, message.id, { reason: 'spam' });
    expectProblem(hidden, 404, 'NOT_FOUND');
    const unknown = await report(stranger, UNKNOWN_ID, { reason: 'spam' });
    expect(hidden.body).toEqual(unknown.body);
    expectProblem(await report(bob, MALFORMED_ID, { reason: 'spam' }), 404, 'NOT_FOUND');
    // Support staff read support rooms only; a group's message stays hidden from them, and from a platform admin.
    expectProblem(await report(agent, message.id, { reason: 'spam' }), 404, 'NOT_FOUND');
    expectProblem(await report(root, message.id, { reason: 'spam' }), 404, 'NOT_FOUND');
    expect(await reportCount(message.id)).toBe(0);
  });

  it('refuses bad bodies with 400 and stores nothing', async () => {
    const { message } = await scene();
    for (const body of [
      {},
      { reason: 'rude' },
      { reason: 'SPAM' },
      { reason: 1 },
      { reason: 'spam', details: 'x'.repeat(1001) },
      { reason: 'spam', details: 5 },
      { reason: 'spam', details: 'bell\u0007' },
      { reason: 'spam', extra: true },
    ]) {
      expectProblem(await report(bob, message.id, body), 400, 'VALIDATION_FAILED');
    }
    expectProblem(await bob.raw(`/messages/${message.id}/reports`, { method: 'POST' }), 400, 'VALIDATION_FAILED');
    expect(await reportCount(message.id)).toBe(0);
    // The longest details pass.
    expect((await report(bob, message.id, { reason: 'other', details: 'x'.repeat(1000) })).status).toBe(201);
  });

  it('refuses your own message (400) and a deleted one (409)', async () => {
    const { roomId, message } = await scene();
    const own = await report(alice, message.id, { reason: 'spam' });
    expectProblem(own, 400, 'VALIDATION_FAILED');
    expect(own.body.detail).toBe('you cannot report your own message');
    const gone = await buildMessage(alice, roomId, { content: 'soon gone' });
    ok(await deleteMessage(alice, gone.id));
    const deleted = await report(bob, gone.id, { reason: 'spam' });
    expectProblem(deleted, 409, 'CONFLICT');
    expect(deleted.body.detail).toMatch(/deleted/);
    expect(await reportCount(message.id)).toBe(0);
    expect(await reportCount(gone.id)).toBe(0);
  });

  it('keeps the message as reported after it is edited, and logs report.created with the admin view', async () => {
    const { roomId, message } = await scene('the original words');
    const filed = (await report(bob, message.id, { reason: 'harassment' })).body;
    ok(await editMessage(alice, message.id, { content: 'something nicer' }));
    expect((await getMessage(bob, message.id)).content).toBe('something nicer');
    const item = (await queue(root, '?limit=100')).body.data.find((r: any) => r.id === filed.id);
    expect(item).toEqual({
      ...filed,
      chatRoomId: roomId,
      action: null,
      resolvedAt: null,
      resolvedBy: null,
      message: { ...message, content: 'the original words', editedAt: null },
    });
    const [logged] = await rows<{ type: string; room_id: string; payload: any }>(
      sql`select type, room_id, payload from domain_event where type = 'report.created' and payload->>'id' = ${filed.id}`,
    );
    expect(logged).toEqual({ type: 'report.created', room_id: roomId, payload: item });
  });
});

describe('the admin queue', () => {
  it('is for platform admins only: 403 for users and support staff', async () => {
    for (const c of [bob, agent]) {
      expectProblem(await queue(c), 403, 'FORBIDDEN');
      expectProblem(await decide(c, UNKNOWN_ID, { status: 'dismissed' }), 403, 'FORBIDDEN');
    }
  });

  it('lists open reports oldest first, keyset-paged, and filters by status', async () => {
    // The queue of this test alone: the reports of the tests before are gone.
    await t.app.database.db.execute(sql`delete from message_report`);
    const room = await buildRoom(alice, { participantIds: ['bob'] });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await buildMessage(alice, room.id, { content: `m${i}` });
      ids.push((await report(bob, m.id, { reason: 'spam' })).body.id);
    }
    const p1 = ok(await queue(root, '?limit=2'));
    expect(p1.data.map((r: any) => r.id)).toEqual(ids.slice(0, 2));
    expect(p1.nextCursor).toEqual(expect.any(String));
    const p2 = ok(await queue(root, `?limit=2&cursor=${p1.nextCursor}`));
    expect(p2).toEqual({ data: [expect.objectContaining({ id: ids[2] })], nextCursor: null });
    expect(ok(await queue(root, '?status=resolved')).data).toEqual([]);

    ok(await decide(root, ids[0]!, { status: 'dismissed' }));
    ok(await decide(root, ids[2]!, { status: 'dismissed' }));
    expect(ok(await queue(root)).data.map((r: any) => r.id)).toEqual([ids[1]]);
    // Closed reports newest first.
    expect(ok(await queue(root, '?status=dismissed')).data.map((r: any) => r.id)).toEqual([ids[2], ids[0]]);
    const d1 = ok(await queue(root, '?status=dismissed&limit=1'));
    expect(ok(await queue(root, `?status=dismissed&limit=1&cursor=${d1.nextCursor}`)).data.map((r: any) => r.id)).toEqual([ids[0]]);

    for (const q of [
      '?status=closed',
      '?limit=0',
      '?limit=101',
      '?cursor=nonsense',
      '?cursor=' + Buffer.from('{"at":1}').toString('base64url'),
    ]) {
      expectProblem(await queue(root, q), 400, 'VALIDATION_FAILED');
    }
  });
});

describe('PATCH /admin/reports/:id', () => {
  it('refuses bad decisions with 400/404 and changes nothing', async () => {
    const { message } = await scene();
    const filed = (await report(bob, message.id, { reason: 'spam' })).body;
    const future = new Date(Date.now() + 3_600_000).toISOString();
    for (const body of [
      {},
      { status: 'closed' },
      { status: 'dismissed', action: 'delete_message' },
      { status: 'open', action: 'suspend_sender' },
      { status: 'resolved', action: 'ban' },
      { status: 'resolved', until: future },
      { status: 'resolved', action: 'delete_message', reason: 'why' },
      { status: 'resolved', action: 'suspend_sender', until: '2001-01-01T00:00:00Z' },
      { status: 'resolved', action: 'suspend_sender', until: 'tomorrow' },
      { status: 'resolved', action: 'suspend_sender', reason: '   ' },
      { status: 'resolved', action: 'suspend_sender', reason: 'x'.repeat(501) },
      { status: 'resolved', extra: 1 },
    ]) {
      expectProblem(await decide(root, filed.id, body), 400, 'VALIDATION_FAILED');
    }
    expectProblem(await decide(root, UNKNOWN_ID, { status: 'resolved' }), 404, 'NOT_FOUND');
    expectProblem(await decide(root, MALFORMED_ID, { status: 'resolved' }), 404, 'NOT_FOUND');
    const [row] = await rows(sql`select status, action, resolved_at from message_report where id = ${filed.id}`);
    expect(row).toEqual({ status: 'open', action: null, resolved_at: null });
    expect((await getMessage(bob, message.id)).deletedAt).toBeNull();
    expect(ok(await root.get('/admin/suspensions')).data).toEqual([]);
  });

  it('delete_message deletes the message for everyone: the room sees the tombstone', async () => {
    const { roomId, message } = await scene();
    const filed = (await report(bob, message.id, { reason: 'abuse' })).body;
    const socket = await connect(t.baseUrl, carol.token);
    sockets.push(socket);
    const deleted = waitFor(socket, 'message_deleted', (e) => e.id === message.id);
    const decided = await decide(root, filed.id, { status: 'resolved', action: 'delete_message' });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({
      id: filed.id,
      status: 'resolved',
      action: 'delete_message',
      resolvedAt: expect.stringMatching(ISO),
      resolvedBy: 'root',
      message: { content: message.content },
    });
    expect(await deleted).toMatchObject({ chatRoomId: roomId, id: message.id, deletedBy: 'root' });
    expect(await getMessage(carol, message.id)).toMatchObject({ content: '', deletedBy: 'root', deletedAt: expect.stringMatching(ISO) });
    // Deciding again acts again harmlessly: the tombstone stays as it is.
    expect((await decide(root, filed.id, { status: 'resolved', action: 'delete_message' })).status).toBe(200);
  });

  it('suspend_sender suspends the sender (until given, or until lifted)', async () => {
    const { roomId, message } = await scene();
    const filed = (await report(bob, message.id, { reason: 'harassment' })).body;
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const decided = ok(await decide(root, filed.id, { status: 'resolved', action: 'suspend_sender', until, reason: 'harassing bob' }));
    expect(decided).toMatchObject({ status: 'resolved', action: 'suspend_sender', resolvedBy: 'root' });
    const refused = await alice.post(`/rooms/${roomId}/messages`, { content: 'let me speak' });
    expectProblem(refused, 403, 'FORBIDDEN');
    expect(refused.body.detail).toBe(`suspended until ${until}`);
    expect(ok(await root.get('/admin/suspensions')).data).toEqual([
      { userId: 'alice', until, reason: 'harassing bob', createdAt: expect.stringMatching(ISO), createdBy: 'root' },
    ]);

    // Without until and reason: indefinitely, with a reason naming the report's.
    const other = (await report(carol, message.id, { reason: 'spam' })).body;
    ok(await decide(root, other.id, { status: 'resolved', action: 'suspend_sender' }));
    expect(ok(await root.get('/admin/suspensions')).data).toEqual([expect.objectContaining({ userId: 'alice', until: null })]);
    expect((await alice.post(`/rooms/${roomId}/messages`, { content: 'still?' })).body.detail).toBe('suspended until lifted');

    expect((await root.delete('/admin/suspensions/alice')).status).toBe(204);
    expect((await alice.post(`/rooms/${roomId}/messages`, { content: 'back' })).status).toBe(201);
  });

  it('dismisses, reopens (clearing the resolution), and refuses a reopen that would make two open reports', async () => {
    const { message } = await scene();
    const filed = (await report(bob, message.id, { reason: 'spam' })).body;
    expect(ok(await decide(root, filed.id, { status: 'dismissed' }))).toMatchObject({
      status: 'dismissed',
      action: null,
      resolvedAt: expect.stringMatching(ISO),
      resolvedBy: 'root',
    });
    expect(ok(await decide(root, filed.id, { status: 'open' }))).toMatchObject({ status: 'open', resolvedAt: null, resolvedBy: null });
    ok(await decide(root, filed.id, { status: 'dismissed' }));
    // Once the first is closed, bob may report the message again: a new report.
    const second = await report(bob, message.id, { reason: 'other' });
    expect(second.status).toBe(201);
    expect(second.body.id).not.toBe(filed.id);
    expectProblem(await decide(root, filed.id, { status: 'open' }), 409, 'CONFLICT');
    const [row] = await rows(sql`select status from message_report where id = ${filed.id}`);
    expect(row).toEqual({ status: 'dismissed' });
  });
});
