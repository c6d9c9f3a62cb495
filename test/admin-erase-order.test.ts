import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { ok } from './helpers/changes.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';

/**
 * An erase goes room by room in id order, each batch starting past the one before (so it never walks the tombstones
 * it made). What that must not cost: a message the user sends meanwhile into a room already done is still erased.
 */
const FRED = 'u-fred-erase-order';
let t: TestApp;
let fred: Client, bob: Client, root: Client;

beforeAll(async () => {
  // Batches of 3 with a rest after each: the second room's 30 messages keep the job busy for seconds.
  t = await startTestApp({
    RATE_LIMIT_WRITES_PER_MINUTE: '100000',
    ERASE_BATCH_SIZE: '3',
    ADMIN_JOB_POLL_MS: '50',
    ADMIN_JOB_PAUSE_MS: '150',
  });
  [fred, bob, root] = await Promise.all([t.as(FRED), t.as('bob'), t.as('root', { role: 'admin' })]);
});
afterAll(async () => {
  await t?.close();
});

const live = async (roomId: string): Promise<number> => {
  const res = (await t.app.database.db.execute(
    sql`select count(*)::int as n from chat_message where room_id = ${roomId} and sender_id = ${FRED} and deleted_at is null`,
  )) as unknown as { rows: Array<{ n: number }> };
  return res.rows[0]!.n;
};

describe('erasing a user, room by room', () => {
  it('tombstones every message, those sent meanwhile into a room already done or passed included', async () => {
    // Ids are time-ordered: the first room created is the first erased.
    const first = (await buildRoom(fred, { name: 'first', participantIds: ['bob'] })).id;
    // Nothing of fred's in it when the erase starts: the walk goes past it.
    const between = (await buildRoom(fred, { name: 'between', participantIds: ['bob'] })).id;
    const second = (await buildRoom(fred, { name: 'second', participantIds: ['bob'] })).id;
    expect(first < between && between < second).toBe(true);
    await buildMessages(fred, first, 7, (i) => `first ${i}`);
    await buildMessages(fred, second, 30, (i) => `second ${i}`);
    await buildMessage(bob, second, { content: 'bob stays' });

    const accepted = await root.delete(`/admin/users/${FRED}`);
    expect(accepted.status).toBe(202);
    const { jobId } = accepted.body;
    await expect.poll(() => live(first), { timeout: 20_000, interval: 20 }).toBe(0);
    // The first room is done and the job is in the second (so past `between`): these land behind the erase's cursor.
    await expect.poll(() => live(second), { timeout: 20_000, interval: 20 }).toBeLessThan(30);
    expect(await live(second)).toBeGreaterThan(0);
    const late = await buildMessage(fred, first, { content: 'sent during the erase' });
    const passedBy = await buildMessage(fred, between, { content: 'sent where the erase went past' });
    expect(ok(await root.get(`/admin/jobs/${jobId}`)).status).toBe('running');

    await expect.poll(async () => ok(await root.get(`/admin/jobs/${jobId}`)).status, { timeout: 30_000, interval: 50 }).toBe('done');
    expect(await live(first)).toBe(0);
    expect(await live(between)).toBe(0);
    expect(await live(second)).toBe(0);
    for (const m of [late, passedBy]) expect(ok(await bob.get(`/messages/${m.id}`))).toMatchObject({ content: '', deletedBy: 'system' });
    const job = ok(await root.get(`/admin/jobs/${jobId}`));
    expect(job.progress.messages).toBe(39);
    // Others' messages are untouched.
    const history = ok(await bob.get(`/rooms/${second}/messages?limit=100`)).data;
    expect(history.find((m: any) => m.content === 'bob stays')).toBeDefined();
  });
});
