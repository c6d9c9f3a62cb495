import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { jobEnded as ended, ok, put } from './helpers/changes.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';

const ERIN = 'u-erin-fails';

let t: TestApp;
let erin: Client, bob: Client, root: Client;

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000', ERASE_BATCH_SIZE: '3', ADMIN_JOB_POLL_MS: '50' });
  [erin, bob, root] = await Promise.all([t.as(ERIN, { name: 'Erin' }), t.as('bob', { name: 'Bob' }), t.as('root', { role: 'admin' })]);
});
afterAll(async () => {
  await t?.close();
});

const db = () => t.app.database.db;

const jobEnded = (jobId: string) => ended(root, jobId);

describe('an erase job that fails', () => {
  it('ends failed with the error, keeps what it committed, and a later erase of the user carries on', async () => {
    const room = (await buildRoom(erin, { participantIds: ['bob'] })).id;
    const first = await buildMessages(erin, room, 6);
    // The message the database refuses to turn into a tombstone: a job ends failed at the first error a batch meets,
    // and no public request makes one fail, so a trigger stands in for any such error (a broken row, a constraint).
    const poison = await buildMessage(erin, room, { content: 'poison' });
    const rest = await buildMessages(erin, room, 2, (i) => `after ${i}`);
    expect((await put(erin, '/blocks/bob')).status).toBe(204);
    const before = ok(await bob.get(`/rooms/${room}`)).lastChangeSeq as number;
    await db().execute(
      sql.raw(`create function test_refuse_tombstone() returns trigger language plpgsql as $$
               begin raise exception 'poison message refused'; end $$`),
    );
    await db().execute(
      sql.raw(`create trigger test_refuse_tombstone before update on chat_message for each row
               when (old.content = 'poison' and new.deleted_at is not null) execute function test_refuse_tombstone()`),
    );

    const accepted = await root.delete(`/admin/users/${ERIN}`);
    expect(accepted.status).toBe(202);
    const jobId = accepted.body.jobId as string;
    const failed = await jobEnded(jobId);
    expect(failed).toMatchObject({
      id: jobId,
      type: 'erase_user',
      userId: ERIN,
      status: 'failed',
      finishedAt: expect.any(String),
      error: 'poison message refused',
    });
    // The two batches before the poisoned one committed; the poisoned batch and every later step did nothing.
    expect(failed.progress).toEqual({ messages: 6 });
    const mid = ok(await bob.get(`/rooms/${room}/messages?limit=100`)).data;
    expect(mid.filter((m: any) => m.deletedAt !== null).map((m: any) => m.id)).toEqual(first.map((m) => m.id));
    expect(mid.filter((m: any) => m.deletedAt === null).map((m: any) => m.content)).toEqual(['poison', 'after 0', 'after 1']);
    expect(
      ok(await bob.get(`/rooms/${room}`))
        .participants.map((p: any) => p.userId)
        .sort(),
    ).toEqual(['bob', ERIN].sort());
    expect(ok(await root.get(`/admin/users/${ERIN}/export`)).user).toMatchObject({ name: 'Erin', erasedAt: null });
    // The failure is the admin's to see.
    expectProblem(await bob.get(`/admin/jobs/${jobId}`), 403, 'FORBIDDEN');
    expectProblem(await erin.get(`/admin/jobs/${jobId}`), 403, 'FORBIDDEN');

    // Once the cause is gone, erasing again is a new job (a failed one is not answered again) that finishes the rest.
    await db().execute(sql.raw('drop trigger test_refuse_tombstone on chat_message'));
    await db().execute(sql.raw('drop function test_refuse_tombstone()'));
    const again = await root.delete(`/admin/users/${ERIN}`);
    expect(again.status).toBe(202);
    expect(again.body.jobId).not.toBe(jobId);
    const done = await jobEnded(again.body.jobId);
    expect(done).toMatchObject({ status: 'done', finishedAt: expect.any(String) });
    expect(done).not.toHaveProperty('error');
    expect(done.progress).toMatchObject({ messages: 3, rooms: 1, blocks: 1 });

    // Every message tombstoned once: one change each, one contiguous run (the refused batch took no changeSeq).
    const changes = ok(await bob.get(`/rooms/${room}/changes?after=${before}&limit=100`));
    expect(changes.lastChangeSeq).toBe(before + 9);
    expect(changes.data.map((m: any) => [m.id, m.changeSeq, m.deletedBy])).toEqual(
      [...first, poison, ...rest].map((m, i) => [m.id, before + 1 + i, 'system']),
    );
    expect(ok(await bob.get(`/rooms/${room}`)).participants.map((p: any) => [p.userId, p.role])).toEqual([['bob', 'owner']]);
    expect(ok(await root.get(`/admin/users/${ERIN}/export`)).user).toMatchObject({ name: null, erasedAt: expect.any(String) });
    // The failed job stays as it ended: no instance takes it up again.
    expect(ok(await root.get(`/admin/jobs/${jobId}`))).toEqual(failed);
    const jobs = (await db().execute(sql`select status from admin_job where subject = ${ERIN} order by created_at`)) as unknown as {
      rows: Array<{ status: string }>;
    };
    expect(jobs.rows.map((r) => r.status)).toEqual(['failed', 'done']);
  });

  it('does not fail on a passing error (a serialization failure): the same job carries on and ends done', async () => {
    const FRED = 'u-fred-passing';
    const fred = await t.as(FRED, { name: 'Fred' });
    const room = (await buildRoom(fred, { participantIds: ['bob'] })).id;
    const sent = await buildMessages(fred, room, 5);
    const before = ok(await bob.get(`/rooms/${room}`)).lastChangeSeq as number;
    // SQLSTATE 40001 is what PostgreSQL answers when it cannot serialize a transaction: trying again is the cure.
    // A sequence counts the tries: nextval survives the rollback of the transaction that called it.
    await db().execute(sql.raw('create sequence test_passing_tries'));
    await db().execute(
      sql.raw(`create function test_passing_failure() returns trigger language plpgsql as $$
               begin perform nextval('test_passing_tries'); raise exception 'could not serialize' using errcode = '40001'; end $$`),
    );
    await db().execute(
      sql.raw(`create trigger test_passing_failure before update on chat_message for each row
               when (old.sender_id = '${FRED}' and new.deleted_at is not null) execute function test_passing_failure()`),
    );
    const accepted = await root.delete(`/admin/users/${FRED}`);
    expect(accepted.status).toBe(202);
    const jobId = accepted.body.jobId as string;
    // Tried, and tried again (the trigger fired twice), still running, not failed, with nothing committed.
    const tries = async () =>
      Number(((await db().execute(sql.raw('select last_value, is_called from test_passing_tries'))) as any).rows[0].last_value);
    await expect.poll(tries, { timeout: 15_000, interval: 50 }).toBeGreaterThanOrEqual(2);
    const waiting = ok(await root.get(`/admin/jobs/${jobId}`));
    expect(waiting).toMatchObject({ status: 'running' });
    expect(waiting).not.toHaveProperty('error');
    expect(ok(await bob.get(`/rooms/${room}`)).lastChangeSeq).toBe(before);

    await db().execute(sql.raw('drop trigger test_passing_failure on chat_message'));
    await db().execute(sql.raw('drop function test_passing_failure()'));
    await db().execute(sql.raw('drop sequence test_passing_tries'));
    const done = await jobEnded(jobId);
    expect(done).toMatchObject({ id: jobId, status: 'done' });
    expect(done.progress).toMatchObject({ messages: 5, rooms: 1 });
    const changes = ok(await bob.get(`/rooms/${room}/changes?after=${before}&limit=100`));
    expect(changes.data.map((m: any) => [m.id, m.changeSeq])).toEqual(sent.map((m, i) => [m.id, before + 1 + i]));
  });
});
