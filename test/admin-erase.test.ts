import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import { dbRows, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { jobEnded, MALFORMED_ID, ok, react, recordMessageEvents, UNKNOWN_ID } from './helpers/changes.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';
import { connect, type ClientSocket } from './helpers/sockets.js';
import { png } from './media-fixtures.js';
import { fetchBytes, form, leftoverFiles, upload } from './media-helpers.js';
import { partitionParent } from '../src/db/partitions.js';

const ERIN = 'u-erin-7f3a';
const NAME = 'Erin Q. Eraseme';
const SECRET = 'zebrasecret';

let t: TestApp;
let erin: Client, bob: Client, carol: Client, agent: Client, root: Client;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000', ERASE_BATCH_SIZE: '3', ADMIN_JOB_POLL_MS: '50' });
  [erin, bob, carol, agent, root] = await Promise.all([
    t.as(ERIN, { name: NAME, picture: 'https://example.com/erin.png' }),
    t.as('bob', { name: 'Bob' }),
    t.as('carol', { name: 'Carol' }),
    t.as('agent', { role: 'support' }),
    t.as('root', { role: 'admin' }),
  ]);
  await agent.get('/rooms');
});
afterAll(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await t?.close();
});

const rows = <T = any>(q: ReturnType<typeof sql>) => dbRows<T>(t, q);

const jobDone = (jobId: string) => jobEnded(root, jobId);

/** Erin's footprint: rooms, messages (edited, with files, replied to), reactions, reads, and the rows other features keep. */
async function erinEverywhere() {
  const group = (await buildRoom(erin, { name: 'erins group', participantIds: ['bob', 'carol'] })).id;
  const direct = (await erin.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body.id as string;
  const support = (await erin.post('/rooms', { type: 'support' })).body.id as string;
  const inGroup = await buildMessages(erin, group, 7, (i) => `${SECRET} group ${i}`);
  await buildMessages(erin, direct, 2, (i) => `${SECRET} direct ${i}`);
  await buildMessage(erin, support, { content: `${SECRET} support` });
  expect((await erin.patch(`/messages/${inGroup[0]!.id}`, { content: `${SECRET} edited` })).status).toBe(200);
  const fd = form([{ name: 'erin.png', type: 'image/png', data: await png() }], { content: `${SECRET} file` });
  const withFile = (await erin.raw(`/rooms/${group}/messages`, { method: 'POST', body: fd })).body;
  const fileUrl = String(withFile.media[0].url).replace(t.config.publicUrl, t.baseUrl);
  expect((await upload(erin, group, [{ name: 'pending.png', type: 'image/png', data: await png() }])).status).toBe(201);
  const bobs = await buildMessage(bob, group, { content: `hi @erin`, mentions: [ERIN] });
  // Where others' messages name her: an earlier version's mentions, her pin, her deletion as the room's owner.
  expect((await bob.patch(`/messages/${bobs.id}`, { content: `hi again @erin`, mentions: [ERIN] })).status).toBe(200);
  expect((await erin.put(`/rooms/${group}/pins/${bobs.id}`)).status).toBe(200);
  const carols = await buildMessage(carol, group, { content: 'off topic' });
  expect((await erin.delete(`/messages/${carols.id}`)).status).toBe(200);
  expect((await react(erin, bobs.id, '🎉')).status).toBe(200);
  expect((await react(carol, bobs.id, '🎉')).status).toBe(200);
  expect((await react(erin, bobs.id, '👀')).status).toBe(200);
  expect((await bob.raw(`/rooms/${group}/read`, { method: 'PATCH' })).status).toBeLessThan(300);
  expect((await erin.raw(`/rooms/${group}/read`, { method: 'PATCH' })).status).toBeLessThan(300);
  const db = t.app.database.db;
  await db.execute(sql`insert into user_block (blocker_id, blocked_id) values (${ERIN}, 'carol'), ('bob', ${ERIN})`);
  await db.execute(
    sql`insert into push_subscription (id, user_id, endpoint, p256dh, auth) values (${newId()}, ${ERIN}, 'https://push.example.com/erin', 'k', 'a')`,
  );
  await db.execute(
    sql`insert into message_report (id, message_id, room_id, reporter_id, reason, message)
        values (${newId()}, ${bobs.id}, ${group}, ${ERIN}, 'spam', ${JSON.stringify({ id: bobs.id, senderId: 'bob', content: 'hi' })}::jsonb),
               (${newId()}, ${inGroup[1]!.id}, ${group}, 'carol', 'abuse', ${JSON.stringify({ id: inGroup[1]!.id, senderId: ERIN, content: `${SECRET} group 1` })}::jsonb)`,
  );
  await db.execute(sql`insert into user_suspension (user_id, reason, created_by) values (${ERIN}, 'spam', 'root')`);
  return { group, direct, support, inGroup, bobs, fileUrl };
}

describe('export and erase of a user', () => {
  let setup: Awaited<ReturnType<typeof erinEverywhere>>;
  beforeAll(async () => {
    setup = await erinEverywhere();
  });

  it('exports everything stored about the user as one JSON download', async () => {
    const res = await root.get(`/admin/users/${ERIN}/export`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment;/);
    const doc = res.body;
    expect(doc.user).toMatchObject({ id: ERIN, name: NAME, picture: 'https://example.com/erin.png', erasedAt: null });
    expect(doc.rooms.map((r: any) => r.roomId).sort()).toEqual([setup.group, setup.direct, setup.support].sort());
    expect(doc.rooms.find((r: any) => r.roomId === setup.group)).toMatchObject({ type: 'group', role: 'owner' });
    expect(doc.messages).toHaveLength(11);
    const edited = doc.messages.find((m: any) => m.id === setup.inGroup[0]!.id);
    expect(edited).toMatchObject({ content: `${SECRET} edited`, edits: [{ content: `${SECRET} group 0` }] });
    expect(doc.messages.find((m: any) => m.content === `${SECRET} file`).files).toMatchObject([
      { fileName: 'erin.png', mimeType: 'image/png' },
    ]);
    expect(doc.reactions.map((r: any) => r.emoji).sort()).toEqual(['🎉', '👀'].sort());
    expect(doc.reads.some((r: any) => r.roomId === setup.group && r.kind === 'read')).toBe(true);
    expect(doc.reports).toMatchObject([{ messageId: setup.bobs.id, reason: 'spam' }]);
    expect(doc.blocks).toMatchObject([{ userId: 'carol' }]);
    expect(doc.pushSubscriptions).toMatchObject([{ endpoint: 'https://push.example.com/erin' }]);
    expect(doc.pushSubscriptions[0]).not.toHaveProperty('auth');
    expect(doc.suspension).toMatchObject({ reason: 'spam', until: null });
  });

  it('exports a long history page by page, every message once, in room and seq order', async () => {
    const prolific = await t.as('prolific', { name: 'P' });
    const rooms = [(await buildRoom(prolific)).id, (await buildRoom(prolific)).id];
    for (const room of rooms) {
      await t.app.database.db.execute(
        sql`insert into chat_message (id, room_id, seq, sender_id, type, content, search_doc)
            select gen_random_uuid(), ${room}, g, 'prolific', 'text', 'bulk ' || g, ''::tsvector from generate_series(1, 600) g`,
      );
    }
    const doc = ok(await root.get('/admin/users/prolific/export'));
    expect(doc.messages).toHaveLength(1200);
    const expected = [...rooms].sort().flatMap((room) => Array.from({ length: 600 }, (_, i) => `${room}:${i + 1}`));
    expect(doc.messages.map((m: any) => `${m.roomId}:${m.seq}`)).toEqual(expected);
    expect(doc.rooms).toHaveLength(2);
  });

  it('export and erase: admins only, unknown user 404, bad id 400', async () => {
    for (const c of [erin, bob, agent]) {
      expectProblem(await c.get(`/admin/users/${ERIN}/export`), 403, 'FORBIDDEN');
      expectProblem(await c.delete(`/admin/users/${ERIN}`), 403, 'FORBIDDEN');
      expectProblem(await c.get(`/admin/jobs/${UNKNOWN_ID}`), 403, 'FORBIDDEN');
    }
    expectProblem(await root.get('/admin/users/nobody-ever/export'), 404, 'NOT_FOUND');
    expectProblem(await root.delete('/admin/users/nobody-ever'), 404, 'NOT_FOUND');
    expectProblem(await root.get(`/admin/users/${encodeURIComponent('a\u0001b')}/export`), 400, 'VALIDATION_FAILED');
    for (const id of [UNKNOWN_ID, MALFORMED_ID]) expectProblem(await root.get(`/admin/jobs/${id}`), 404, 'NOT_FOUND');
    expect(await rows(sql`select * from admin_job`)).toEqual([]);
    expect((await rows(sql`select name from chat_user where id = ${ERIN}`))[0]).toEqual({ name: NAME });
  });

  it('erases: tombstones, reactions, rooms left with owners handed over, and no trace in any table', async () => {
    const socket = await connect(t.baseUrl, carol.token);
    sockets.push(socket);
    const events = recordMessageEvents(socket);
    const accepted = await root.delete(`/admin/users/${ERIN}`);
    expect(accepted.status).toBe(202);
    const { jobId } = accepted.body;
    expect(accepted.body).toEqual({ jobId: expect.any(String) });
    const job = await jobDone(jobId);
    expect(job).toMatchObject({ id: jobId, type: 'erase_user', userId: ERIN, status: 'done', finishedAt: expect.any(String) });
    expect(job.progress).toMatchObject({
      messages: 11,
      reactions: 2,
      rooms: 3,
      pushSubscriptions: 1,
      blocks: 2,
      reports: 2,
      suspensions: 1,
    });
    expect(job.progress.files).toBeGreaterThanOrEqual(2);

    // Tombstones by "system", seen live and in the change log; the group has a new owner; the support room closed.
    const history = ok(await bob.get(`/rooms/${setup.group}/messages?limit=100`)).data;
    const hers = history.filter((m: any) => m.senderId === ERIN);
    expect(hers).toHaveLength(8);
    for (const m of hers) expect(m).toMatchObject({ content: '', deletedBy: 'system', media: [], reactions: [] });
    const bobsNow = history.find((m: any) => m.id === setup.bobs.id);
    expect(bobsNow.reactions).toEqual([{ emoji: '🎉', count: 1, me: false }]);
    await expect.poll(() => events.filter((e) => e.event === 'message_deleted').length).toBe(8);
    await expect.poll(() => events.filter((e) => e.event === 'reaction_updated').length).toBe(1);
    const group = ok(await bob.get(`/rooms/${setup.group}`));
    expect(group.participants.map((p: any) => p.userId).sort()).toEqual(['bob', 'carol']);
    expect(group.participants.find((p: any) => p.userId === 'bob').role).toBe('owner');
    expect((await rows(sql`select status from chat_room where id = ${setup.support}`))[0]).toEqual({ status: 'closed' });
    expect((await fetchBytes(setup.fileUrl)).status).toBe(404);
    await expect.poll(async () => (await rows(sql`select * from media_garbage`)).length).toBe(0);
    expect(await leftoverFiles(t)).toEqual([]);

    // No trace: every table, every row, searched for her id, her name and her messages' text.
    const tables = await rows<{ table_name: string }>(
      sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
    );
    expect(tables.length).toBeGreaterThan(15);
    const found: Array<{ table: string; row: string }> = [];
    for (const { table_name } of tables) {
      const hits = await rows<{ r: string }>(
        sql`select row_to_json(x)::text as r from ${sql.identifier(table_name)} x
            where row_to_json(x)::text like ${'%' + ERIN + '%'} or row_to_json(x)::text like ${'%Eraseme%'}
               or row_to_json(x)::text like ${'%' + SECRET + '%'} or row_to_json(x)::text like ${'%erin.png%'}`,
      );
      for (const h of hits) found.push({ table: table_name, row: h.r });
    }
    const allowed = (f: { table: string; row: string }) => {
      const row = JSON.parse(f.row);
      // A partition of chat_message (DATABASE_PARTITIONS) holds the same rows as its parent, under the same rule.
      f = { ...f, table: partitionParent(f.table) };
      if (f.table === 'chat_user') return row.id === ERIN && row.name === null && row.picture === null && row.erased_at !== null;
      // Tombstones keep their sender (the id only): replies and seqs stay as they were.
      if (f.table === 'chat_message') return row.sender_id === ERIN && row.deleted_at !== null && row.content === '';
      // The erase job itself: who was erased, for GET /admin/jobs/:id.
      if (f.table === 'admin_job') return row.subject === ERIN;
      return false;
    };
    expect(found.filter((f) => !allowed(f))).toEqual([]);

    // A token of hers still seen later does not name her again.
    const again = await t.as(ERIN, { name: NAME });
    expect((await again.get('/me')).status).toBe(200);
    expect((await rows(sql`select name, picture from chat_user where id = ${ERIN}`))[0]).toEqual({ name: null, picture: null });

    // Erasing again: a new job that finds nothing left to do.
    const second = await root.delete(`/admin/users/${ERIN}`);
    expect(second.status).toBe(202);
    expect(second.body.jobId).not.toBe(jobId);
    const done = await jobDone(second.body.jobId);
    expect(done.status).toBe('done');
    expect(Object.values(done.progress).every((n) => n === 0)).toBe(true);
    const exported = ok(await root.get(`/admin/users/${ERIN}/export`));
    expect(exported.user).toMatchObject({ id: ERIN, name: null, picture: null, erasedAt: expect.any(String) });
    expect(exported.rooms).toEqual([]);
    expect(exported.messages.every((m: any) => m.content === '' && m.deletedBy === 'system')).toBe(true);
  });
});
