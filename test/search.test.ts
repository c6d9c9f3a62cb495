import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client, mallory: Client;
let team: string, side: string, hideout: string;
const sent: Record<string, any> = {};

const search = (who: Client, params: Record<string, string | number | boolean>): Promise<Res> =>
  who.get(`/messages/search?${new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString()}`);
const contents = (res: Res): string[] => res.body.data.map((h: any) => h.message.content);
/** The marked text of each hit's highlight. */
const marked = (hit: any): string[] =>
  hit.highlight.ranges.map(([s, e]: [number, number]) => [...hit.highlight.snippet].slice(s, e).join(''));

async function post(who: Client, room: string, key: string, content: string, extra: Record<string, unknown> = {}) {
  const res = await who.post(`/rooms/${room}/messages`, { content, ...extra });
  expect(res.status).toBe(201);
  sent[key] = res.body;
  return res.body;
}

const LONG = `${'Lorem ipsum dolor sit amet, 😀 consectetur adipiscing elit. '.repeat(25)}Here is the haystackneedle we want. ${'Sed do eiusmod tempor. '.repeat(20)}`;

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob, carol, mallory] = await Promise.all([t.as('alice'), t.as('bob'), t.as('carol'), t.as('mallory')]);
  team = (await alice.post('/rooms', { type: 'group', name: 'Team', participantIds: ['bob', 'carol'] })).body.id;
  side = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body.id;
  hideout = (await mallory.post('/rooms', { type: 'group', name: 'Hideout', participantIds: ['dave'] })).body.id;

  await post(alice, team, 'quickFox', 'The quick fox jumps over the lazy dog');
  await post(bob, team, 'foxQuick', 'A fox quick as lightning');
  await post(alice, team, 'deploy', 'Deployment finished for the staging cluster');
  await post(bob, team, 'cafe', 'CAFÉ opens at nine');
  await post(alice, team, 'zh', '我们明天去北京开会');
  await post(bob, team, 'ja', '東京タワーに行きました');
  await post(alice, team, 'ko', '서울에서 만나요');
  await post(alice, team, 'long', LONG);
  await post(bob, team, 'reply', 'That looks good to me', { replyToId: sent['deploy'].id });
  await post(alice, side, 'sideFox', 'the fox in the side room');
  await post(mallory, hideout, 'secret', 'zanzibar fox plans, 100% secret_stuff');
});
afterAll(async () => t?.close());

describe('GET /messages/search: matching', () => {
  it('finds words in every room of the caller, newest first, with the full Message', async () => {
    const res = await search(alice, { q: 'fox' });
    expect(res.status).toBe(200);
    expect(res.body.data.map((h: any) => h.message.id)).toEqual([sent['sideFox'].id, sent['foxQuick'].id, sent['quickFox'].id]);
    expect(res.body.data[2].message).toEqual(sent['quickFox']);
    expect(res.body.nextCursor).toBeNull();
  });

  it('requires every word, in any order, unless quoted as a phrase', async () => {
    expect(contents(await search(alice, { q: 'quick fox' }))).toEqual([sent['foxQuick'].content, sent['quickFox'].content]);
    expect(contents(await search(alice, { q: '"quick fox"' }))).toEqual([sent['quickFox'].content]);
    expect(contents(await search(alice, { q: '"fox quick"' }))).toEqual([sent['foxQuick'].content]);
    expect(contents(await search(alice, { q: 'fox zebra' }))).toEqual([]);
  });

  it('excludes -words and -"phrases" (whole words only)', async () => {
    expect(contents(await search(alice, { q: 'fox -lazy' }))).toEqual([sent['sideFox'].content, sent['foxQuick'].content]);
    expect(contents(await search(alice, { q: 'fox -"quick fox"' }))).toEqual([sent['sideFox'].content, sent['foxQuick'].content]);
    expect(contents(await search(alice, { q: 'fox -laz' }))).toHaveLength(3);
  });

  it('matches partial words by prefix and, from 3 characters, inside words', async () => {
    expect(contents(await search(alice, { q: 'deplo' }))).toEqual([sent['deploy'].content]);
    expect(contents(await search(alice, { q: 'ployment' }))).toEqual([sent['deploy'].content]);
    expect(contents(await search(alice, { q: 'taging clus' }))).toEqual([sent['deploy'].content]);
    const hit = (await search(alice, { q: 'ployment' })).body.data[0];
    expect(marked(hit)).toEqual(['ployment']);
  });

  it('folds case and compatibility forms (NFKC + lower case)', async () => {
    for (const q of ['café', 'CAFÉ', 'Cafe\u0301', 'ｏｐｅｎｓ']) {
      expect(contents(await search(alice, { q })), q).toEqual([sent['cafe'].content]);
    }
    // Diacritics are kept: "cafe" is another word (but the infix fallback does not turn it into café either).
    expect(contents(await search(alice, { q: '"cafe"' }))).toEqual([]);
  });

  it('finds Chinese by any run of characters, single characters included', async () => {
    for (const q of ['北京', '开会', '明天去', '北', '会', '们明']) {
      expect(contents(await search(alice, { q })), q).toEqual([sent['zh'].content]);
    }
    expect(contents(await search(alice, { q: '北海' }))).toEqual([]);
    const hit = (await search(alice, { q: '北京' })).body.data[0];
    expect(hit.highlight).toEqual({ snippet: '我们明天去北京开会', ranges: [[5, 7]] });
  });

  it('finds Japanese and Korean by any run of characters', async () => {
    for (const q of ['東京', 'タワー', '行きました', '東京タワー']) {
      expect(contents(await search(alice, { q })), q).toEqual([sent['ja'].content]);
    }
    expect(contents(await search(alice, { q: '東京に' }))).toEqual([]);
    expect(contents(await search(alice, { q: '서울' }))).toEqual([sent['ko'].content]);
    expect(contents(await search(alice, { q: '만나' }))).toEqual([sent['ko'].content]);
    const hit = (await search(alice, { q: '東京タワー 行きました' })).body.data[0];
    expect(hit.highlight).toEqual({
      snippet: '東京タワーに行きました',
      ranges: [
        [0, 5],
        [6, 11],
      ],
    });
  });

  it('treats LIKE wildcards in the query as text', async () => {
    expect(contents(await search(mallory, { q: '100%' }))).toEqual([sent['secret'].content]);
    expect(contents(await search(mallory, { q: 'et_st' }))).toEqual([sent['secret'].content]);
    expect(contents(await search(mallory, { q: 'zan%bar' }))).toEqual([]);
    expect(contents(await search(mallory, { q: 'zanz_bar' }))).toEqual([]);
  });

  it('highlights a match far into a long message in a plain-text window', async () => {
    const res = await search(alice, { q: 'haystackneedle' });
    expect(res.body.data).toHaveLength(1);
    const { snippet, ranges } = res.body.data[0].highlight;
    expect([...snippet].length).toBeLessThanOrEqual(202);
    expect([...snippet].length).toBeLessThan([...LONG].length);
    expect(snippet.startsWith('…')).toBe(true);
    expect(LONG).toContain(snippet.replace(/^…|…$/g, ''));
    expect(ranges).toHaveLength(1);
    expect(marked(res.body.data[0])).toEqual(['haystackneedle']);
    expect(snippet).not.toMatch(/[<>]/);
  });

  it('returns replies with their replyTo preview, as history does', async () => {
    const res = await search(carol, { q: 'looks good' });
    expect(res.body.data).toHaveLength(1);
    expect(res.body.data[0].message).toEqual(sent['reply']);
    expect(res.body.data[0].message.replyTo).toMatchObject({ id: sent['deploy'].id, content: sent['deploy'].content });
  });
});

describe('GET /messages/search: filters', () => {
  it('narrows to one room, one sender, one type', async () => {
    expect(contents(await search(alice, { q: 'fox', chatRoomId: side }))).toEqual([sent['sideFox'].content]);
    expect(contents(await search(alice, { q: 'fox', senderId: 'bob' }))).toEqual([sent['foxQuick'].content]);
    expect(contents(await search(alice, { q: 'fox', type: 'text' }))).toHaveLength(3);
    expect(contents(await search(alice, { q: 'fox', type: 'image' }))).toEqual([]);
  });

  it('bounds by date (a date `to` covers that whole day) and by date-time (`to` exclusive)', async () => {
    const created = new Date(sent['quickFox'].createdAt as string);
    const iso = (ms: number) => new Date(ms).toISOString();
    const day = created.toISOString().slice(0, 10);
    const nextDay = iso(created.getTime() + 86_400_000).slice(0, 10);
    const found = async (params: Record<string, string>) => contents(await search(alice, { q: 'jumps', ...params })).length;
    expect(await found({ from: day, to: day })).toBe(1);
    expect(await found({ from: nextDay })).toBe(0);
    expect(await found({ to: iso(created.getTime() - 86_400_000).slice(0, 10) })).toBe(0);
    expect(await found({ from: created.toISOString() })).toBe(1);
    expect(await found({ from: iso(created.getTime() + 1) })).toBe(0);
    expect(await found({ to: created.toISOString() })).toBe(0);
    expect(await found({ to: iso(created.getTime() + 1) })).toBe(1);
    // The same instant written with an offset.
    const shifted = new Date(created.getTime() + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
    expect(await found({ from: shifted })).toBe(1);
  });

  it('filters on media, and never returns deleted messages', async () => {
    // No upload path is needed to test the filter: mark a stored message as carrying media.
    await t.app.database.db.execute(sql`update chat_message set has_media = true, type = 'image' where id = ${sent['sideFox'].id}`);
    expect(contents(await search(alice, { q: 'fox', hasMedia: true }))).toEqual([sent['sideFox'].content]);
    expect(contents(await search(alice, { q: 'fox', hasMedia: false }))).toEqual([sent['foxQuick'].content, sent['quickFox'].content]);
    expect(contents(await search(alice, { q: 'fox', type: 'image' }))).toEqual([sent['sideFox'].content]);
    await t.app.database.db.execute(sql`update chat_message set deleted_at = now() where id = ${sent['sideFox'].id}`);
    expect(contents(await search(alice, { q: 'fox' }))).toEqual([sent['foxQuick'].content, sent['quickFox'].content]);
  });
});

describe('GET /messages/search: paging', () => {
  it('walks all matches with the cursor, without duplicates or gaps', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push((await post(i % 2 ? alice : bob, team, `page${i}`, `paging message number ${i}`)).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await search(carol, { q: 'paging', limit: 10, ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((h: any) => h.message.id));
      cursor = res.body.nextCursor ?? undefined;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('ends with a null cursor when the last page is exactly full', async () => {
    const first = await search(carol, { q: 'paging', limit: 25 });
    expect(first.body.data).toHaveLength(25);
    expect(first.body.nextCursor).toBeNull();
  });
});

describe('GET /messages/search: privacy', () => {
  it("never returns other people's rooms", async () => {
    expect(contents(await search(alice, { q: 'zanzibar' }))).toEqual([]);
    expect(contents(await search(mallory, { q: 'fox' }))).toEqual([sent['secret'].content]);
    expect(contents(await search(mallory, { q: 'deployment' }))).toEqual([]);
  });

  it('answers 404 for a chatRoomId the caller is not in, malformed or unknown', async () => {
    for (const chatRoomId of [hideout, 'not-a-room', newId()]) {
      const res = await search(alice, { q: 'fox', chatRoomId });
      expect(res.status, chatRoomId).toBe(404);
      expect(res.body.code).toBe('NOT_FOUND');
    }
  });

  it('stops finding a room once the caller has left it', async () => {
    expect(contents(await search(carol, { q: 'deplo' }))).toHaveLength(1);
    expect((await carol.patch(`/rooms/${team}/participants/carol/remove`)).status).toBe(204);
    expect(contents(await search(carol, { q: 'deplo' }))).toEqual([]);
    expect((await search(carol, { q: 'deplo', chatRoomId: team })).status).toBe(404);
  });
});

describe('GET /messages/search: bad input', () => {
  const cases: Array<[string, Record<string, string | number>]> = [
    ['missing q', {}],
    ['empty q', { q: '' }],
    ['emoji only', { q: '🙂🎉' }],
    ['punctuation only', { q: '?!... --' }],
    ['only exclusions', { q: '-fox -"quick fox"' }],
    ['limit over 100', { q: 'fox', limit: 101 }],
    ['limit 0', { q: 'fox', limit: 0 }],
    ['garbage cursor', { q: 'fox', cursor: 'not a cursor' }],
    ['cursor without an id', { q: 'fox', cursor: Buffer.from(JSON.stringify({ id: 'x' })).toString('base64url') }],
    ['impossible date', { q: 'fox', from: '2024-02-30' }],
    ['not a date', { q: 'fox', to: 'yesterday' }],
    ['date-time without zone', { q: 'fox', from: '2024-03-01T10:00:00' }],
    ['unknown type', { q: 'fox', type: 'sticker' }],
    ['hasMedia not a boolean', { q: 'fox', hasMedia: 'maybe' }],
  ];
  it.each(cases)('%s → 400 VALIDATION_FAILED', async (_name, params) => {
    const res = await search(alice, params);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('refuses callers without a token', async () => {
    const res = await fetch(`${t.baseUrl}/api/v1/chat/messages/search?q=fox`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).code).toBe('UNAUTHORIZED');
  });
});
