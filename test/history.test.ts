import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';

let t: TestApp;
let alice: Client;
let bob: Client;
let stranger: Client;
/** 120 messages, content `m<seq>`, alternating senders. */
let room: string;
let empty: string;
let otherRoom: string;
const ids: string[] = [];

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const seqs = (res: Res) => res.body.data.map((m: any) => m.seq);
const flags = (res: Res) => ({ hasMore: res.body.hasMore, hasOlder: res.body.hasOlder, hasNewer: res.body.hasNewer });
const page = (query = '', c: Client = bob, roomId = room) => c.get(`/rooms/${roomId}/messages${query}`);

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob, stranger] = await Promise.all([t.as('alice'), t.as('bob'), t.as('stranger')]);
  const create = async (c: Client, others: string[]) =>
    (await c.post('/rooms', { type: 'group', name: 'h', participantIds: others })).body.id as string;
  room = await create(alice, ['bob']);
  empty = await create(alice, ['bob']);
  otherRoom = await create(alice, ['stranger']);
  // Sequential, so content and seq line up.
  for (let seq = 1; seq <= 120; seq++) {
    const res = await (seq % 2 ? alice : bob).post(`/rooms/${room}/messages`, { content: `m${seq}` });
    expect(res.body.seq).toBe(seq);
    ids.push(res.body.id);
  }
}, 120_000);
afterAll(async () => t?.close());

describe('GET /rooms/:id/messages', () => {
  it('without a cursor serves the latest 50, ascending', async () => {
    const res = await page();
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['data', 'hasMore', 'hasNewer', 'hasOlder']);
    expect(seqs(res)).toEqual(range(71, 120));
    expect(res.body.data.map((m: any) => m.content)).toEqual(range(71, 120).map((s) => `m${s}`));
    expect(res.body.data[49].id).toBe(ids[119]);
    expect(flags(res)).toEqual({ hasMore: true, hasOlder: true, hasNewer: false });
  });

  it('honours limit up to 100 and refuses bad paging parameters with 400', async () => {
    expect(seqs(await page('?limit=1'))).toEqual([120]);
    const hundred = await page('?limit=100');
    expect(seqs(hundred)).toEqual(range(21, 120));
    expect(flags(hundred)).toEqual({ hasMore: true, hasOlder: true, hasNewer: false });
    const all = await page('?limit=100&after=20');
    expect(flags(all)).toEqual({ hasMore: false, hasOlder: true, hasNewer: false });
    for (const q of [
      '?limit=101',
      '?limit=0',
      '?limit=-1',
      '?limit=abc',
      '?limit=1.5',
      '?before=-1',
      '?after=x',
      '?before=1&after=2',
      '?before=99999999999999999999',
      '?after=1e300',
      '?after=9007199254740992',
      `?after=1&around=${ids[0]}`,
    ]) {
      expectProblem(await page(q), 400, 'VALIDATION_FAILED');
    }
  });

  it('walks the whole room backwards page by page without gaps or repeats', async () => {
    const seen: number[] = [];
    let res = await page('?limit=25');
    for (let pages = 1; ; pages++) {
      expect(res.status).toBe(200);
      seen.unshift(...seqs(res));
      expect(res.body.hasMore).toBe(res.body.hasOlder);
      expect(res.body.hasNewer).toBe(pages > 1);
      if (!res.body.hasMore) break;
      expect(pages).toBeLessThan(10);
      res = await page(`?limit=25&before=${res.body.data[0].seq}`);
    }
    expect(seqs(res)).toEqual(range(1, 20));
    expect(flags(res)).toEqual({ hasMore: false, hasOlder: false, hasNewer: true });
    expect(seen).toEqual(range(1, 120));
  });

  it('walks the whole room forwards from after=0 without gaps or repeats', async () => {
    const seen: number[] = [];
    let res = await page('?limit=25&after=0');
    for (let pages = 1; ; pages++) {
      seen.push(...seqs(res));
      expect(res.body.hasMore).toBe(res.body.hasNewer);
      expect(res.body.hasOlder).toBe(pages > 1);
      if (!res.body.hasMore) break;
      expect(pages).toBeLessThan(10);
      res = await page(`?limit=25&after=${res.body.data.at(-1).seq}`);
    }
    expect(seqs(res)).toEqual(range(101, 120));
    expect(flags(res)).toEqual({ hasMore: false, hasOlder: true, hasNewer: false });
    expect(seen).toEqual(range(1, 120));
  });

  it('answers the edges with empty pages and exact flags', async () => {
    const caughtUp = await page('?after=120');
    expect({ data: caughtUp.body.data, ...flags(caughtUp) }).toEqual({ data: [], hasMore: false, hasOlder: true, hasNewer: false });
    const beyond = await page('?after=500');
    expect({ data: beyond.body.data, ...flags(beyond) }).toEqual({ data: [], hasMore: false, hasOlder: true, hasNewer: false });
    const start = await page('?before=1');
    expect({ data: start.body.data, ...flags(start) }).toEqual({ data: [], hasMore: false, hasOlder: false, hasNewer: true });
    const exact = await page('?before=121&limit=20');
    expect(seqs(exact)).toEqual(range(101, 120));
    expect(flags(exact)).toEqual({ hasMore: true, hasOlder: true, hasNewer: false });
    const justBefore = await page('?before=120&limit=2');
    expect(seqs(justBefore)).toEqual([118, 119]);
    expect(flags(justBefore)).toEqual({ hasMore: true, hasOlder: true, hasNewer: true });
    const firstTwo = await page('?after=0&limit=2');
    expect(flags(firstTwo)).toEqual({ hasMore: true, hasOlder: false, hasNewer: true });
  });

  it('an empty room has an empty latest page with every flag false', async () => {
    for (const q of ['', '?before=5', '?after=0']) {
      const res = await page(q, alice, empty);
      expect({ data: res.body.data, ...flags(res) }).toEqual({ data: [], hasMore: false, hasOlder: false, hasNewer: false });
    }
  });

  describe('around', () => {
    it('centres the page on the message, which it includes', async () => {
      const res = await page(`?around=${ids[59]}&limit=11`);
      expect(seqs(res)).toEqual(range(55, 65));
      expect(flags(res)).toEqual({ hasMore: true, hasOlder: true, hasNewer: true });
      expect(seqs(await page(`?around=${ids[59]}&limit=10`))).toEqual(range(56, 65));
      expect(seqs(await page(`?around=${ids[59]}&limit=1`))).toEqual([60]);
      expect(seqs(await page(`?around=${ids[59]}`))).toEqual(range(36, 85));
    });

    it('near either end fills the page from the other side', async () => {
      const first = await page(`?around=${ids[0]}&limit=10`);
      expect(seqs(first)).toEqual(range(1, 10));
      expect(flags(first)).toEqual({ hasMore: true, hasOlder: false, hasNewer: true });
      const third = await page(`?around=${ids[2]}&limit=10`);
      expect(seqs(third)).toEqual(range(1, 10));
      const last = await page(`?around=${ids[119]}&limit=10`);
      expect(seqs(last)).toEqual(range(111, 120));
      expect(flags(last)).toEqual({ hasMore: true, hasOlder: true, hasNewer: false });
      const centred = await page(`?around=${ids[60]}&limit=100`);
      expect(seqs(centred)).toEqual(range(12, 111));
      expect(flags(centred)).toEqual({ hasMore: true, hasOlder: true, hasNewer: true });
      const all = await page(`?around=${ids[100]}&limit=100`);
      expect(seqs(all)).toEqual(range(21, 120));
      expect(flags(all)).toEqual({ hasMore: true, hasOlder: true, hasNewer: false });
    });

    it('a message of another room, a nonexistent and a malformed id are 404', async () => {
      const elsewhere = await alice.post(`/rooms/${otherRoom}/messages`, { content: 'secret' });
      for (const id of [elsewhere.body.id, '01890a5d-ac96-774b-bcce-b302099a8057', 'garbage', '%20']) {
        expectProblem(await page(`?around=${id}`, alice), 404, 'NOT_FOUND');
      }
    });
  });

  it('a stranger gets the same 404 as a nonexistent or malformed room, for every kind of page', async () => {
    const unknown = await page('', bob, '01890a5d-ac96-774b-bcce-b302099a8057');
    expectProblem(unknown, 404, 'NOT_FOUND');
    for (const q of ['', '?before=10', '?after=0', `?around=${ids[5]}`]) {
      const res = await page(q, stranger);
      expectProblem(res, 404, 'NOT_FOUND');
      expect(res.body).toEqual(unknown.body);
    }
    expect((await page('', bob, 'not-a-room')).body).toEqual(unknown.body);
    // Paging rules are judged after access: a stranger learns nothing from them either.
    expect((await page('?before=1&after=2', stranger)).body).toEqual(unknown.body);
  });

  it('takes the room id in any case: the same pages as the id itself', async () => {
    for (const q of ['?limit=5', '?before=10&limit=5', '?after=115']) {
      const upper = await page(q, bob, room.toUpperCase());
      expect(upper.status).toBe(200);
      expect(upper.body).toEqual((await page(q)).body);
    }
  });

  it('a participant who joins later reads the history from the start', async () => {
    const added = await alice.post(`/rooms/${room}/participants`, { userId: 'carol' });
    expect(added.status).toBe(201);
    const carol = await t.as('carol');
    expect(seqs(await page('?after=0&limit=3', carol))).toEqual([1, 2, 3]);
    expect((await carol.get(`/rooms/${room}`)).body.unreadCount).toBe(0);
  });
});
