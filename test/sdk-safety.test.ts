import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_REASONS, type SuspendedEvent } from 'chat-service/client';
import { dbRows, type Client } from './helpers/app.js';
import { ChatError, ClientPool, eventually, settle, startSdkApp, type SdkApp } from './helpers/sdk.js';

/** Blocks, reports and suspensions through the SDK (`client.api`, the `suspended` event) against the real service. */

let s: SdkApp;
const pool = new ClientPool();

beforeAll(async () => {
  s = await startSdkApp();
});
afterEach(async () => pool.closeAll());
afterAll(async () => s?.close());

const ids = () => {
  const n = Math.random().toString(36).slice(2, 8);
  return { a: `safe-a-${n}`, b: `safe-b-${n}`, c: `safe-c-${n}` };
};

const rows = <T>(query: ReturnType<typeof sql>): Promise<T[]> => dbRows<T>(s.t, query);
const reportsOf = async (messageId: string) =>
  rows<{ reporter_id: string; reason: string }>(sql`select reporter_id, reason from message_report where message_id = ${messageId}`);
const contents = async (reader: Client, roomId: string): Promise<string[]> =>
  (await reader.get(`/rooms/${roomId}/messages`)).body.data.map((m: { content: string }) => m.content);

/** What the call rejected with, failing the test when it resolved. */
async function refusal(p: Promise<unknown>): Promise<ChatError> {
  const outcome = await settle(p);
  expect(outcome.ok, 'the call was expected to be refused').toBe(false);
  const err = (outcome as { error: unknown }).error;
  expect(err).toBeInstanceOf(ChatError);
  return err as ChatError;
}

describe('client.api blocks', () => {
  it('blocks, lists and unblocks, each idempotent', async () => {
    const { a, b, c } = ids();
    const { client } = await pool.live(s, a);
    expect(await client.api.blocks()).toEqual({ data: [], nextCursor: null });
    await client.api.block(b);
    await client.api.block(b);
    await client.api.block(c);
    const listed = await client.api.blocks();
    expect(listed.nextCursor).toBeNull();
    expect(listed.data.map((x) => x.userId).sort()).toEqual([b, c].sort());
    expect(listed.data.every((x) => !Number.isNaN(Date.parse(x.createdAt)))).toBe(true);
    const first = await client.api.blocks({ limit: 1 });
    expect(first.data).toEqual(listed.data.slice(0, 1));
    expect(await client.api.blocks({ limit: 1, cursor: first.nextCursor! })).toEqual({ data: listed.data.slice(1), nextCursor: null });

    await client.api.unblock(b);
    await client.api.unblock(b);
    expect((await client.api.blocks()).data.map((x) => x.userId)).toEqual([c]);
  });

  it('surfaces the refusals as ChatError with the server code, and a blocked write as FORBIDDEN with nothing stored', async () => {
    const { a, b } = ids();
    const { client: blocker, rest: blockerRest } = await pool.live(s, a);
    const { client: blocked } = await pool.live(s, b);
    const invalid = await refusal(blocker.api.block(a));
    expect({ code: invalid.code, status: invalid.status }).toEqual({ code: 'VALIDATION_FAILED', status: 400 });
    expect((await blocker.api.blocks()).data).toEqual([]);

    const room = await blocked.api.createRoom({ type: 'direct', participantIds: [a] });
    const opened = await blocked.openRoom(room.id);
    await opened.send({ content: 'before the block' });
    await blocker.api.block(b);

    const sent = await refusal(opened.send({ content: 'after the block' }));
    expect({ code: sent.code, status: sent.status }).toEqual({ code: 'FORBIDDEN', status: 403 });
    // The refused send's pending copy is gone; the server holds only what came before.
    expect(opened.messages.map((m) => m.content)).toEqual(['before the block']);
    const reopen = await refusal(blocked.api.createRoom({ type: 'direct', participantIds: [a] }));
    expect({ code: reopen.code, status: reopen.status }).toEqual({ code: 'FORBIDDEN', status: 403 });
    expect(await contents(blockerRest, room.id)).toEqual(['before the block']);

    await blocker.api.unblock(b);
    expect((await opened.send({ content: 'after the unblock' })).content).toBe('after the unblock');
    expect(await contents(blockerRest, room.id)).toEqual(['before the block', 'after the unblock']);
  });
});

describe('client.api.reportMessage', () => {
  it('files a report, answers the open one again (one row), and refuses own messages and unknown reasons with nothing stored', async () => {
    const { a, b, c } = ids();
    const { client: author } = await pool.live(s, a);
    const { client: reporter } = await pool.live(s, b);
    const group = await author.api.createRoom({ type: 'group', name: 'reports', participantIds: [b, c] });
    const message = await (await author.openRoom(group.id)).send({ content: 'you are all idiots' });

    const report = await reporter.api.reportMessage(message.id, { reason: 'abuse', details: 'insults everyone' });
    expect(report).toEqual({
      id: expect.any(String),
      messageId: message.id,
      reporterId: b,
      reason: 'abuse',
      details: 'insults everyone',
      status: 'open',
      createdAt: expect.any(String),
    });
    // A second report while the first is open is that first one (the server answers 200 with it).
    expect(await reporter.api.reportMessage(message.id, { reason: 'spam' })).toEqual(report);
    expect(await reportsOf(message.id)).toEqual([{ reporter_id: b, reason: 'abuse' }]);

    const own = await refusal(author.api.reportMessage(message.id, { reason: 'spam' }));
    expect({ code: own.code, status: own.status, message: own.message }).toEqual({
      code: 'VALIDATION_FAILED',
      status: 400,
      message: 'you cannot report your own message',
    });
    const { client: other } = await pool.live(s, c);
    // A reason outside the contract's list, as an untyped caller could send it.
    const unknown = await refusal(other.api.reportMessage(message.id, { reason: 'boring' } as never));
    expect({ code: unknown.code, status: unknown.status }).toEqual({ code: 'VALIDATION_FAILED', status: 400 });
    expect(await reportsOf(message.id)).toEqual([{ reporter_id: b, reason: 'abuse' }]);
    expect([...REPORT_REASONS]).toEqual(['spam', 'abuse', 'harassment', 'other']);
  });
});

describe('the suspended event', () => {
  it('reaches a live client when an admin suspends its user; writes are refused until lifted', async () => {
    const { a, b } = ids();
    const { client: user, rest } = await pool.live(s, a);
    const admin = await s.t.as(b, { role: 'admin' });
    const room = await user.api.createRoom({ type: 'group', name: 'suspension' });
    const opened = await user.openRoom(room.id);
    expect(user.suspension).toBeNull();

    const heard: SuspendedEvent[] = [];
    user.on('suspended', (e) => heard.push(e));
    const until = new Date(Date.now() + 3_600_000).toISOString();
    expect((await admin.put(`/admin/suspensions/${a}`, { until, reason: 'cool down' })).status).toBe(200);
    await eventually(() => heard.length > 0, 10_000, 'the suspended event');
    expect(heard).toEqual([{ until, reason: 'cool down' }]);
    expect(user.suspension).toEqual({ until, reason: 'cool down' });

    const refused = await refusal(opened.send({ content: 'while suspended' }));
    expect({ code: refused.code, status: refused.status, message: refused.message }).toEqual({
      code: 'FORBIDDEN',
      status: 403,
      message: `suspended until ${until}`,
    });
    const blockRefused = await refusal(user.api.block(b));
    expect(blockRefused.code).toBe('FORBIDDEN');
    expect(await user.api.blocks()).toEqual({ data: [], nextCursor: null });
    // Reads still work, and nothing was written.
    expect(await contents(rest, room.id)).toEqual([]);

    // A client that connects while the suspension lasts learns of it too.
    const { client: again } = await pool.live(s, a);
    await eventually(() => again.suspension !== null, 10_000, 'the suspension on connect');
    expect(again.suspension).toEqual({ until, reason: 'cool down' });

    expect((await admin.delete(`/admin/suspensions/${a}`)).status).toBe(204);
    expect((await opened.send({ content: 'free again' })).content).toBe('free again');
    expect(await contents(rest, room.id)).toEqual(['free again']);
  });
});
