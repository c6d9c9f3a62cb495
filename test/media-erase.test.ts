import { access } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { queryRows } from '../src/db/client.js';
import { GARBAGE_BACKOFF_BASE_S, GARBAGE_BACKOFF_MAX_S } from '../src/media/index.js';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { png } from './media-fixtures.js';
import { form, room } from './media-helpers.js';

let t: TestApp;
let alice: Client;
let bob: Client;
let roomId: string;

beforeAll(async () => {
  t = await startTestApp();
  alice = await t.as('alice');
  bob = await t.as('bob');
  await bob.get('/rooms');
  roomId = await room(alice);
});
afterAll(async () => t?.close());
// A failing test must not leave rows that fail the next one.
afterEach(async () => {
  vi.restoreAllMocks();
  await t.app.database.db.execute(sql`delete from media_garbage`);
});

const media = () => t.app.services.media;
const db = () => t.app.database.db;

interface Sent {
  id: string;
  url: string;
  thumbnailUrl: string;
  key: string;
  thumbKey: string;
}

/** Local URLs name PUBLIC_URL; the test reaches the app on its real port. */
const reach = (url: string) => url.replace(t.config.publicUrl, t.baseUrl);
const keyOf = (url: string) => new URL(url).pathname.replace(/^\/media\//, '');
const fileOf = (key: string) => path.join(t.config.dataDir, 'media', key);
const exists = (key: string) =>
  access(fileOf(key)).then(
    () => true,
    () => false,
  );

/** A message of alice with one PNG (which gets a thumbnail), both of its URLs readable. */
async function sendImage(): Promise<Sent> {
  const fd = form([{ name: 'photo.png', type: 'image/png', data: await png() }], { content: 'look' });
  const res = await alice.raw(`/rooms/${roomId}/messages`, { method: 'POST', body: fd });
  expect(res.status).toBe(201);
  const [view] = res.body.media;
  expect(view.thumbnailUrl).toEqual(expect.any(String));
  const sent = {
    id: res.body.id,
    url: view.url,
    thumbnailUrl: view.thumbnailUrl,
    key: keyOf(view.url),
    thumbKey: keyOf(view.thumbnailUrl),
  };
  for (const url of [sent.url, sent.thumbnailUrl]) expect((await fetchFile(url)).status).toBe(200);
  expect([await exists(sent.key), await exists(sent.thumbKey)]).toEqual([true, true]);
  return sent;
}

async function fetchFile(url: string, method = 'GET'): Promise<Res> {
  const res = await fetch(reach(url), { method });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
  };
}

/** Both URLs of `sent`: 404 NOT_FOUND for GET and HEAD, whatever their (valid) signature says. */
async function expectUnreadable(sent: Sent): Promise<void> {
  for (const url of [sent.url, sent.thumbnailUrl]) {
    expectProblem(await fetchFile(url), 404, 'NOT_FOUND');
    expect((await fetchFile(url, 'HEAD')).status).toBe(404);
  }
}

interface GarbageRow {
  key: string;
  attempts: number;
  /** Seconds from now (the database's clock) to the next attempt. */
  dueIn: number;
}

const garbage = () =>
  queryRows<GarbageRow>(
    db(),
    sql`select storage_key as key, attempts, extract(epoch from next_attempt_at - now())::float8 as "dueIn"
        from media_garbage order by storage_key`,
  );
const mediaRowsOf = async (messageId: string) =>
  (await queryRows<{ n: number }>(db(), sql`select count(*)::int as n from chat_media where message_id = ${messageId}`))[0]!.n;
/** What the passing of time does to a waiting row. */
const makeDue = (key: string) =>
  db().execute(sql`update media_garbage set next_attempt_at = now() - interval '1 second' where storage_key = ${key}`);

/** The lead's delete transaction, reduced to the media part. */
async function eraseAndPurge(messageId: string): Promise<string[]> {
  const keys = await db().transaction((tx) => media().erase(tx, messageId));
  await media().purge(keys);
  return keys;
}

/** storage.delete fails for the keys in `failing` (a store that is down for them), and works for the others. */
function failDeletes(failing: Set<string>) {
  const storage = media().storage;
  const real = storage.delete.bind(storage);
  return vi.spyOn(storage, 'delete').mockImplementation(async (key) => {
    if (failing.has(key)) throw new Error(`storage unavailable for ${key}`);
    await real(key);
  });
}

describe('erase and purge', () => {
  it('erase lists the files in the caller transaction; from the commit on they are unreadable; purge removes them', async () => {
    const sent = await sendImage();
    const keys = await db().transaction((tx) => media().erase(tx, sent.id));
    expect(keys).toEqual([sent.key, sent.thumbKey]);
    expect(await mediaRowsOf(sent.id)).toBe(0);
    expect((await garbage()).map((g) => g.key)).toEqual([sent.key, sent.thumbKey].sort());
    // Still on disk (no purge yet), yet no longer served.
    expect([await exists(sent.key), await exists(sent.thumbKey)]).toEqual([true, true]);
    await expectUnreadable(sent);

    await media().purge(keys);
    expect([await exists(sent.key), await exists(sent.thumbKey)]).toEqual([false, false]);
    expect(await garbage()).toEqual([]);
    await expectUnreadable(sent);
    // A second erase of the same message finds nothing left to let go of.
    expect(await db().transaction((tx) => media().erase(tx, sent.id))).toEqual([]);
  });

  it('a rolled-back transaction erases nothing: rows, files and URLs stay', async () => {
    const sent = await sendImage();
    const rollback = new Error('rollback');
    await expect(
      db().transaction(async (tx) => {
        expect(await media().erase(tx, sent.id)).toEqual([sent.key, sent.thumbKey]);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await mediaRowsOf(sent.id)).toBe(1);
    expect(await garbage()).toEqual([]);
    for (const url of [sent.url, sent.thumbnailUrl]) expect((await fetchFile(url)).status).toBe(200);
    expect((await alice.get(`/rooms/${roomId}/messages`)).body.data.find((m: any) => m.id === sent.id).media).toHaveLength(1);
    await eraseAndPurge(sent.id);
  });

  it('a message without files erases to nothing', async () => {
    const text = await alice.post(`/rooms/${roomId}/messages`, { content: 'no files' });
    expect(await eraseAndPurge(text.body.id)).toEqual([]);
    expect(await garbage()).toEqual([]);
  });

  it('an object already missing from storage is not a failure', async () => {
    const sent = await sendImage();
    await media().storage.delete(sent.thumbKey);
    await eraseAndPurge(sent.id);
    expect(await garbage()).toEqual([]);
    expect(await exists(sent.key)).toBe(false);
  });
});

describe('a removal that fails', () => {
  it('keeps its row with a backed-off retry, stays unreadable, and the next due sweep removes object and row', async () => {
    const sent = await sendImage();
    const spy = failDeletes(new Set([sent.thumbKey]));
    await expect(eraseAndPurge(sent.id)).resolves.toEqual([sent.key, sent.thumbKey]);
    // The file that could be removed went; the other waits, counted and backed off.
    expect(await exists(sent.key)).toBe(false);
    expect(await exists(sent.thumbKey)).toBe(true);
    const [row, ...rest] = await garbage();
    expect(rest).toEqual([]);
    expect(row).toMatchObject({ key: sent.thumbKey, attempts: 1 });
    expect(row!.dueIn).toBeGreaterThan(GARBAGE_BACKOFF_BASE_S - 10);
    expect(row!.dueIn).toBeLessThanOrEqual(GARBAGE_BACKOFF_BASE_S);
    // The thumbnail is still on disk and its URL carries a valid signature: it is not served.
    await expectUnreadable(sent);

    // A sweep before the row is due leaves it alone.
    spy.mockClear();
    await media().cleanupPending();
    expect(spy).not.toHaveBeenCalled();
    expect(await garbage()).toMatchObject([{ key: sent.thumbKey, attempts: 1 }]);

    // Due and failing again: the wait doubles.
    await makeDue(sent.thumbKey);
    await media().cleanupPending();
    expect(spy).toHaveBeenCalledWith(sent.thumbKey);
    const [again] = await garbage();
    expect(again).toMatchObject({ key: sent.thumbKey, attempts: 2 });
    expect(again!.dueIn).toBeGreaterThan(2 * GARBAGE_BACKOFF_BASE_S - 10);
    expect(again!.dueIn).toBeLessThanOrEqual(2 * GARBAGE_BACKOFF_BASE_S);
    expect(await exists(sent.thumbKey)).toBe(true);

    // The storage is back: the next due sweep removes the object, then the row.
    spy.mockRestore();
    await makeDue(sent.thumbKey);
    await media().cleanupPending();
    expect(await exists(sent.thumbKey)).toBe(false);
    expect(await garbage()).toEqual([]);
    await expectUnreadable(sent);
  });

  it('never waits more than the cap, however often it failed', async () => {
    const sent = await sendImage();
    failDeletes(new Set([sent.key, sent.thumbKey]));
    await eraseAndPurge(sent.id);
    await db().execute(sql`update media_garbage set attempts = 40, next_attempt_at = now() - interval '1 second'`);
    await media().cleanupPending();
    const rows = await garbage();
    expect(rows.map((r) => [r.key, r.attempts])).toEqual([sent.key, sent.thumbKey].sort().map((k) => [k, 41]));
    for (const r of rows) {
      expect(r.dueIn).toBeGreaterThan(GARBAGE_BACKOFF_MAX_S - 10);
      expect(r.dueIn).toBeLessThanOrEqual(GARBAGE_BACKOFF_MAX_S);
    }
    await expectUnreadable(sent);
    vi.restoreAllMocks();
    await db().execute(sql`update media_garbage set next_attempt_at = now() - interval '1 second'`);
    await media().cleanupPending();
    expect(await garbage()).toEqual([]);
    expect([await exists(sent.key), await exists(sent.thumbKey)]).toEqual([false, false]);
  });

  it('purge never throws, even when the database fails under it; the rows stay for the sweep', async () => {
    const sent = await sendImage();
    const keys = await db().transaction((tx) => media().erase(tx, sent.id));
    const repo = (media() as unknown as { repo: { removeGarbage(keys: string[]): Promise<void> } }).repo;
    vi.spyOn(repo, 'removeGarbage').mockRejectedValueOnce(new Error('database gone'));
    await expect(media().purge(keys)).resolves.toBeUndefined();
    expect((await garbage()).map((g) => g.key)).toEqual([sent.key, sent.thumbKey].sort());
    await expectUnreadable(sent);
    await db().execute(sql`update media_garbage set next_attempt_at = now() - interval '1 second'`);
    await media().cleanupPending();
    expect(await garbage()).toEqual([]);
  });

  it('the sweep takes due rows oldest first, in batches, and leaves rows not yet due', async () => {
    const fake = (i: number) => `00000000-0000-7000-8000-${String(i).padStart(12, '0')}/11111111-0000-7000-8000-000000000000.png`;
    // 250 due rows for objects that no longer exist, inserted newest first (row i waited i seconds); one not yet due.
    const due = Array.from({ length: 250 }, (_, n) => n + 1).map((i) => sql`(${fake(i)}, now() - make_interval(secs => ${i}))`);
    await db().execute(sql`insert into media_garbage (storage_key, next_attempt_at) values ${sql.join(due, sql`, `)}`);
    const later = fake(999);
    await db().execute(sql`insert into media_garbage (storage_key, next_attempt_at) values (${later}, now() + interval '10 minutes')`);
    const storage = media().storage;
    const spy = vi.spyOn(storage, 'delete');
    await media().cleanupPending();
    const order = spy.mock.calls.map(([k]) => Number(k.slice(24, 36)));
    expect(order).toEqual(Array.from({ length: 250 }, (_, i) => 250 - i));
    expect((await garbage()).map((g) => g.key)).toEqual([later]);
  });
});

/** DELETE /messages/:id (the lead's route); `media.erase` and `media.purge` run inside it. */
describe('DELETE /messages/:id', () => {
  const del = (client: Client, id: string) => client.raw(`/messages/${id}`, { method: 'DELETE' });

  it('by the sender: when it answers, both URLs are 404 and the files are gone from DATA_DIR/media', async () => {
    const sent = await sendImage();
    const res = await del(alice, sent.id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: sent.id, media: [], deletedBy: 'alice' });
    await expectUnreadable(sent);
    expect([await exists(sent.key), await exists(sent.thumbKey)]).toEqual([false, false]);
    expect(await mediaRowsOf(sent.id)).toBe(0);
    expect(await garbage()).toEqual([]);
    // Deleting the tombstone again changes nothing.
    expect((await del(alice, sent.id)).status).toBe(200);
    expect(await garbage()).toEqual([]);
  });

  it('a refused delete (not the sender, plain member) keeps the files readable', async () => {
    const sent = await sendImage();
    expectProblem(await del(bob, sent.id), 403, 'FORBIDDEN');
    for (const url of [sent.url, sent.thumbnailUrl]) expect((await fetchFile(url)).status).toBe(200);
    expect(await mediaRowsOf(sent.id)).toBe(1);
    expect(await garbage()).toEqual([]);
    expect((await del(alice, sent.id)).status).toBe(200);
  });

  it('when the storage fails, the delete still answers, the URLs are 404, and the sweep finishes the job', async () => {
    const sent = await sendImage();
    failDeletes(new Set([sent.key, sent.thumbKey]));
    const res = await del(alice, sent.id);
    expect(res.status).toBe(200);
    await expectUnreadable(sent);
    expect([await exists(sent.key), await exists(sent.thumbKey)]).toEqual([true, true]);
    expect((await garbage()).map((g) => [g.key, g.attempts])).toEqual([sent.key, sent.thumbKey].sort().map((k) => [k, 1]));
    vi.restoreAllMocks();
    await db().execute(sql`update media_garbage set next_attempt_at = now() - interval '1 second'`);
    await media().cleanupPending();
    expect([await exists(sent.key), await exists(sent.thumbKey)]).toEqual([false, false]);
    expect(await garbage()).toEqual([]);
    await expectUnreadable(sent);
  });
});
