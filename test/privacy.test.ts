import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chatUser } from '../src/db/schema.js';
import { request, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { connect, record, sleep, waitFor, type ClientSocket } from './helpers/sockets.js';

const GRACE_MS = 200;
/** Long enough for a grace period to end and the sweep after it to announce (or not). */
const PAST_GRACE_MS = GRACE_MS * 4;

let t: TestApp;
const sockets: ClientSocket[] = [];
const open = async (c: Client) => {
  const s = await connect(t.baseUrl, c.token);
  sockets.push(s);
  return s;
};
/** Closes one socket and waits until its user's grace period is over. */
const leave = async (s: ClientSocket) => {
  s.close();
  await sleep(PAST_GRACE_MS);
};
const storedUser = async (id: string) => (await t.app.database.db.select().from(chatUser).where(eq(chatUser.id, id)))[0];

beforeAll(async () => {
  t = await startTestApp({ PRESENCE_GRACE_MS: String(GRACE_MS) });
});
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await sleep(PAST_GRACE_MS);
});
afterAll(async () => t?.close());

/** An observer who put `target` in a group (anyone can: the finding), and whose socket records presence events. */
async function observe(observerId: string, target: string) {
  const observer = await t.as(observerId);
  expect((await observer.post('/rooms', { type: 'group', name: 'watch', participantIds: [target] })).status).toBe(201);
  const socket = await open(observer);
  return { observer, socket, online: record(socket, 'user_online'), offline: record(socket, 'user_offline') };
}

describe('GET /me, PATCH /me', () => {
  it('answers the profile of the latest token with showPresence true by default', async () => {
    const me = await t.as('me-default', { name: 'Dee', picture: 'https://example.com/dee.png' });
    expect(await me.get('/me')).toMatchObject({
      status: 200,
      body: { userId: 'me-default', name: 'Dee', picture: 'https://example.com/dee.png', showPresence: true },
    });
    const anon = await t.as('me-anon');
    expect((await anon.get('/me')).body).toEqual({ userId: 'me-anon', name: null, picture: null, showPresence: true });
  });

  it('is in the OpenAPI document under the "me" tag', async () => {
    const doc = (await request(t.baseUrl, '/docs/json')).body;
    const me = doc.paths['/api/v1/chat/me'];
    expect(me.get).toMatchObject({ tags: ['me'], summary: expect.any(String) });
    expect(me.patch).toMatchObject({ tags: ['me'], summary: expect.any(String) });
    expect(Object.keys(me.patch.responses)).toEqual(expect.arrayContaining(['200', '400', '401']));
  });

  it('refuses a request without a token', async () => {
    const res = await fetch(`${t.baseUrl}/api/v1/chat/me`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"showPresence":false}',
    });
    expect(res.status).toBe(401);
  });

  it('sets showPresence and answers the profile', async () => {
    const me = await t.as('me-set', { name: 'Set' });
    expect(await me.patch('/me', { showPresence: false })).toMatchObject({
      status: 200,
      body: { userId: 'me-set', name: 'Set', picture: null, showPresence: false },
    });
    expect((await me.get('/me')).body.showPresence).toBe(false);
    expect((await storedUser('me-set'))?.showPresence).toBe(false);
    expect((await me.patch('/me', { showPresence: true })).body.showPresence).toBe(true);
    expect((await me.get('/me')).body.showPresence).toBe(true);
  });

  it('refuses bad bodies with 400 VALIDATION_FAILED and keeps the setting, whichever it is', async () => {
    const me = await t.as('me-bad');
    const other = await t.as('me-bad-other');
    const bad: Array<[string, string | undefined]> = [
      ['empty object', '{}'],
      ['empty body', ''],
      ['no body', undefined],
      ['null', 'null'],
      ['array', '[{"showPresence":false}]'],
      ['a string', '"false"'],
      ['string value', '{"showPresence":"false"}'],
      ['number value', '{"showPresence":0}'],
      ['null value', '{"showPresence":null}'],
      ['other field', '{"name":"Mallory"}'],
      ['extra field', '{"showPresence":false,"name":"Mallory"}'],
      ['someone else', '{"showPresence":false,"userId":"me-bad-other"}'],
      ['not json', '{showPresence:false}'],
    ];
    for (const wanted of [true, false]) {
      expect((await me.patch('/me', { showPresence: wanted })).status).toBe(200);
      for (const [label, body] of bad) {
        // Each bad body asks for the opposite of the setting: one wrongly accepted would show in GET /me.
        const flipped = body?.replace('false', String(!wanted));
        const res = await me.raw('/me', {
          method: 'PATCH',
          ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: flipped } : {}),
        });
        expect({ label, status: res.status, code: res.body?.code }).toEqual({ label, status: 400, code: 'VALIDATION_FAILED' });
        expectProblem(res, 400, 'VALIDATION_FAILED');
        expect({ label, showPresence: (await me.get('/me')).body.showPresence }).toEqual({ label, showPresence: wanted });
      }
    }
    expect((await other.get('/me')).body.showPresence).toBe(true);
    expect(await storedUser('me-bad')).toMatchObject({ showPresence: false, name: null });
  });

  it('keeps the setting when a new token brings a new name, picture or role', async () => {
    const first = await t.as('me-keep', { name: 'Old' });
    await first.patch('/me', { showPresence: false });
    const renamed = await t.as('me-keep', { name: 'New', picture: 'https://example.com/new.png', role: 'support' });
    expect((await renamed.get('/me')).body).toEqual({
      userId: 'me-keep',
      name: 'New',
      picture: 'https://example.com/new.png',
      showPresence: false,
    });
    expect(await storedUser('me-keep')).toMatchObject({ name: 'New', role: 'support', showPresence: false });
  });
});

describe('hidden presence', () => {
  it('announces nothing for a hidden user and shows them offline with no last-seen time', async () => {
    const celebrity = await t.as('celebrity', { name: 'Celebrity' });
    expect((await celebrity.patch('/me', { showPresence: false })).status).toBe(200);
    const { observer, socket, online, offline } = await observe('stalker', 'celebrity');
    // A visible room mate in the same room proves the observer does hear presence.
    const fan = await t.as('fan');
    await observer.post('/rooms', { type: 'group', name: 'control', participantIds: ['fan'] });

    const c = await open(celebrity);
    const fanOnline = waitFor(socket, 'user_online', (e) => e.userId === 'fan');
    const f = await open(fan);
    await fanOnline;
    await sleep(200);
    expect(online.filter((e) => e.userId === 'celebrity')).toEqual([]);

    // Connected, yet offline to others; the user themself sees the truth.
    expect((await observer.get('/presence?userIds=celebrity,fan')).body.data).toEqual([
      { userId: 'celebrity', online: false, lastSeenAt: null },
      { userId: 'fan', online: true, lastSeenAt: null },
    ]);
    expect((await celebrity.get('/presence?userIds=celebrity')).body.data).toEqual([
      { userId: 'celebrity', online: true, lastSeenAt: null },
    ]);

    const fanOffline = waitFor(socket, 'user_offline', (e) => e.userId === 'fan');
    f.close();
    await leave(c);
    await fanOffline;
    expect(offline.filter((e) => e.userId === 'celebrity')).toEqual([]);

    // The departure is recorded, but never shown while hidden.
    expect((await storedUser('celebrity'))?.lastSeenAt).toBeInstanceOf(Date);
    expect((await observer.get('/presence?userIds=celebrity')).body.data).toEqual([
      { userId: 'celebrity', online: false, lastSeenAt: null },
    ]);
    expect((await celebrity.get('/presence?userIds=celebrity')).body.data[0].lastSeenAt).toEqual(expect.any(String));
  });

  it('announces again from the next connect once shown again', async () => {
    const shy = await t.as('shy');
    await shy.patch('/me', { showPresence: false });
    const { observer, socket, online, offline } = await observe('watcher', 'shy');
    await leave(await open(shy));
    expect([...online, ...offline]).toEqual([]);

    expect((await shy.patch('/me', { showPresence: true })).body.showPresence).toBe(true);
    // The change itself announces nothing.
    await sleep(200);
    expect([...online, ...offline]).toEqual([]);
    const stored = (await storedUser('shy'))!.lastSeenAt!.toISOString();
    expect((await observer.get('/presence?userIds=shy')).body.data).toEqual([{ userId: 'shy', online: false, lastSeenAt: stored }]);

    const cameOnline = waitFor(socket, 'user_online', (e) => e.userId === 'shy');
    const s = await open(shy);
    await cameOnline;
    expect((await observer.get('/presence?userIds=shy')).body.data[0].online).toBe(true);
    const wentOffline = waitFor(socket, 'user_offline', (e) => e.userId === 'shy');
    s.close();
    expect(Date.parse((await wentOffline).lastSeenAt)).toBeGreaterThan(Date.parse(stored));
  });

  it('hides a user who turns it off while online: offline at once to GET /presence, and no user_offline later', async () => {
    const quiet = await t.as('quiet');
    const { observer, socket, offline } = await observe('neighbour', 'quiet');
    const cameOnline = waitFor(socket, 'user_online', (e) => e.userId === 'quiet');
    const q = await open(quiet);
    await cameOnline;
    await quiet.patch('/me', { showPresence: false });
    expect((await observer.get('/presence?userIds=quiet')).body.data).toEqual([{ userId: 'quiet', online: false, lastSeenAt: null }]);
    await leave(q);
    expect(offline).toEqual([]);
    expect((await observer.get('/presence?userIds=quiet')).body.data).toEqual([{ userId: 'quiet', online: false, lastSeenAt: null }]);
  });
});
