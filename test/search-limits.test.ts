import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { compileQuery, infixTerms, MAX_INFIX_TERMS, MAX_TERMS, parseQuery } from '../src/search/query.js';
import { AppError } from '../src/errors.js';
import { MemoryRateLimiter } from '../src/limits/rate-limiter.js';
import { MAX_WAITING_SEARCHES, SEARCH_SLOTS, SearchLimits } from '../src/search/search.limits.js';
import { SearchRepository } from '../src/search/search.repository.js';
import { documentVector } from '../src/text/tokenize.js';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';

const onPostgres = inject('template').kind === 'postgres';
const TIMEOUT_MS = 1000;

const search = (who: Client, params: Record<string, string>): Promise<Res> =>
  who.get(`/messages/search?${new URLSearchParams(params).toString()}`);

function expectProblem(res: Res, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body).toMatchObject({ status, code });
}

/** Retry-After as whole seconds within [1, max]. */
function expectRetryAfter(res: Res, max: number): void {
  const value = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(value)).toBe(true);
  expect(value).toBeGreaterThanOrEqual(1);
  expect(value).toBeLessThanOrEqual(max);
}

/** Holds every search that reaches the repository until released: a search "running" as long as the test wants. */
function holdSearches() {
  const original = SearchRepository.prototype.search;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let entered = 0;
  const spy = vi.spyOn(SearchRepository.prototype, 'search').mockImplementation(async function (this: SearchRepository, ...args) {
    entered++;
    await gate;
    return original.apply(this, args);
  });
  return {
    entered: () => entered,
    release() {
      spy.mockRestore();
      open();
    },
  };
}

const SYLLABLES = [
  'the',
  'ing',
  'ion',
  'ent',
  'and',
  'er',
  're',
  'on',
  'at',
  'es',
  'st',
  'en',
  'an',
  'ti',
  'or',
  'al',
  'ar',
  'te',
  'ed',
  'is',
];
/** Text whose 3-letter runs are few and common, the worst case for partial words (each matches much of the table). */
function wordySentence(i: number): string {
  const words: string[] = [];
  for (let w = 0; w < 5 + (i % 15); w++) {
    let word = '';
    for (let s = 0; s <= (i * 7 + w * 3) % 4; s++) word += SYLLABLES[(i * 31 + w * 17 + s * 7) % SYLLABLES.length];
    words.push(word);
  }
  return words.join(' ');
}

/** Messages stored straight in SQL (faster than thousands of sends); the room's sequence is moved past them. */
async function seedMessages(t: TestApp, roomId: string, sender: string, count: number): Promise<void> {
  const rows = [];
  for (let i = 0; i < count; i++) {
    const content = wordySentence(i);
    rows.push(sql`(${randomUUID()}, ${roomId}, ${i + 1}, ${sender}, 'text', ${content}, ${documentVector(content)}::tsvector)`);
  }
  const db = t.app.database.db;
  for (let i = 0; i < rows.length; i += 500) {
    await db.execute(
      sql`insert into chat_message (id, room_id, seq, sender_id, type, content, search_doc) values ${sql.join(rows.slice(i, i + 500), sql`, `)}`,
    );
  }
  await db.execute(sql`update chat_room set last_seq = ${count} where id = ${roomId}`);
}

describe('GET /messages/search: caps on the query', () => {
  let t: TestApp;
  let alice: Client;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_SEARCHES_PER_MINUTE: '1000' });
    alice = await t.as('alice');
    await alice.post('/rooms', { type: 'group', name: 'Team', participantIds: ['bob'] });
  });
  afterAll(async () => t?.close());

  it(`refuses more than ${MAX_TERMS} terms (wanted and excluded together): 400 naming /q`, async () => {
    const words = 'a b c d e f g h i j k l m n o p q r s t'.split(' ');
    const res = await search(alice, { q: [...words.slice(0, MAX_TERMS), '-x'].join(' ') });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.body.errors).toEqual([{ path: '/q', message: expect.stringContaining(`at most ${MAX_TERMS} terms`) }]);
    expect((await search(alice, { q: words.slice(0, MAX_TERMS + 1).join(' ') })).status).toBe(400);
  });

  it(`refuses more than ${MAX_INFIX_TERMS} single CJK characters (each an ILIKE that cannot be dropped): 400 naming /q, with the way out`, async () => {
    for (const q of ['北 京 東 会 开', 'fox -北 -京 -東 -会 -开']) {
      const res = await search(alice, { q });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(res.body.errors, q).toEqual([
        { path: '/q', message: expect.stringContaining(`at most ${MAX_INFIX_TERMS} single CJK characters`) },
      ]);
      expect(res.body.detail).toContain('"quotes"');
    }
  });

  it(`searches a typed sentence: past ${MAX_INFIX_TERMS} partial words, the rest match as words or word beginnings (never more ILIKEs)`, async () => {
    const parsed = parseQuery('the and ing ent ion fox dog cat owl');
    expect(infixTerms(parsed)).toBe(MAX_INFIX_TERMS);
    expect(compileQuery(parsed).must.filter((m) => m.like !== null)).toHaveLength(MAX_INFIX_TERMS);
    const mixed = parseQuery('fox dog cat owl -北 -京');
    expect(infixTerms(mixed)).toBe(MAX_INFIX_TERMS);
    expect(mixed.negative.every((t) => t.infix !== null)).toBe(true); // the CJK characters keep theirs
    const room = (await alice.get('/rooms')).body.data[0];
    await alice.post(`/rooms/${room.id}/messages`, { content: 'Deployment finished for the staging cluster' });
    await alice.post(`/rooms/${room.id}/messages`, { content: 'Deployment finished for the production cluster' });
    for (const q of ['the and ing ent ion', 'fox dog cat owl -北 -京']) expect((await search(alice, { q })).status, q).toBe(200);
    const hits = await search(alice, { q: 'Deployment finished for the staging cluster' });
    expect(hits.status).toBe(200);
    expect(hits.body.data.map((h: { message: { content: string } }) => h.message.content)).toEqual([
      'Deployment finished for the staging cluster',
    ]);
  });

  it('accepts the most a query may hold, and whole words quoted beyond the partial-word cap', async () => {
    const most = ['the', 'and', 'ing', 'ent', ...'a b c d e f g h i j k l'.split(' ')];
    expect(most).toHaveLength(MAX_TERMS);
    expect((await search(alice, { q: most.join(' ') })).status).toBe(200);
    // Two-letter words and quoted words are whole-word or prefix matches (the index serves them): no partial word.
    expect((await search(alice, { q: '"the" "and" "ing" "ent" "ion" fox dog cat owl' })).status).toBe(200);
  });
});

describe('GET /messages/search: per-user rate limit', () => {
  let t: TestApp;
  let alice: Client, bob: Client;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_SEARCHES_PER_MINUTE: '3' });
    [alice, bob] = await Promise.all([t.as('alice'), t.as('bob')]);
  });
  afterAll(async () => t?.close());

  it('answers the 4th search of a minute 429 RATE_LIMITED with Retry-After; refused queries cost nothing', async () => {
    // Two refused queries first: they never reach the limiter, so all three searches of the budget remain.
    expect((await search(alice, { q: 'a b c d e f g h i j k l m n o p q' })).status).toBe(400);
    expect((await search(alice, { q: '北 京 東 会 开' })).status).toBe(400);
    for (let i = 0; i < 3; i++) expect((await search(alice, { q: `fox${i}` })).status).toBe(200);
    const res = await search(alice, { q: 'fox' });
    expectProblem(res, 429, 'RATE_LIMITED');
    expectRetryAfter(res, 60);
    expect(res.body.detail).toMatch(/Too many searches/);
  });

  it('counts per user: another user still searches', async () => {
    expect((await search(bob, { q: 'fox' })).status).toBe(200);
    expectProblem(await search(alice, { q: 'fox' }), 429, 'RATE_LIMITED');
  });
});

describe('GET /messages/search: concurrency and time', () => {
  let t: TestApp;
  let alice: Client, bob: Client, carol: Client, mallory: Client;
  let team: string, den: string;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMIT_SEARCHES_PER_MINUTE: '1000000', SEARCH_TIMEOUT_MS: String(TIMEOUT_MS) });
    [alice, bob, carol, mallory] = await Promise.all([t.as('alice'), t.as('bob'), t.as('carol'), t.as('mallory')]);
    team = (await alice.post('/rooms', { type: 'group', name: 'Team', participantIds: ['bob', 'carol'] })).body.id;
    den = (await mallory.post('/rooms', { type: 'group', name: 'Den', participantIds: ['dave'] })).body.id;
    await seedMessages(t, den, 'mallory', 3000);
  });
  afterAll(async () => t?.close());

  it('answers a second search of the same user while the first runs 429 RATE_LIMITED with Retry-After', async () => {
    const held = holdSearches();
    try {
      const first = search(alice, { q: 'fox' });
      await vi.waitFor(() => expect(held.entered()).toBe(1));
      const second = await search(alice, { q: 'dog' });
      expectProblem(second, 429, 'RATE_LIMITED');
      expect(second.headers.get('retry-after')).toBe('1');
      expect(held.entered()).toBe(1);
      held.release();
      expect((await first).status).toBe(200);
    } finally {
      held.release();
    }
    expect((await search(alice, { q: 'fox' })).status).toBe(200);
  });

  it('lets searches beyond the free slots wait their turn, 503 after SEARCH_TIMEOUT_MS; sends go on meanwhile', async () => {
    const slots = SEARCH_SLOTS[t.app.database.kind];
    const holders = await Promise.all(Array.from({ length: slots }, (_, i) => t.as(`holder${i}`)));
    const held = holdSearches();
    try {
      const running = holders.map((h) => search(h, { q: 'fox' }));
      await vi.waitFor(() => expect(held.entered()).toBe(slots));

      const late = await search(bob, { q: 'fox' });
      expectProblem(late, 503, 'UNAVAILABLE');
      expectRetryAfter(late, Math.ceil(TIMEOUT_MS / 1000));
      expect(held.entered()).toBe(slots);

      const sent = await alice.post(`/rooms/${team}/messages`, { content: 'the fox is still here' });
      expect(sent.status).toBe(201);

      const queued = search(carol, { q: 'fox' });
      await new Promise((r) => setTimeout(r, 50));
      held.release();
      for (const res of await Promise.all(running)) expect(res.status).toBe(200);
      const answer = await queued;
      expect(answer.status).toBe(200);
      expect(answer.body.data.map((h: any) => h.message.id)).toEqual([sent.body.id]);
    } finally {
      held.release();
    }
  });

  it('keeps sends answered while one user hammers search with the costliest query allowed', async () => {
    const costliest = ['the', 'and', 'ing', 'ent', ...'e t a o i n s r h l d c'.split(' ')].join(' ');
    expect((await search(mallory, { q: costliest })).status).toBe(200);
    const statuses = new Map<number, number>();
    const until = Date.now() + 2000;
    const loop = async () => {
      while (Date.now() < until) {
        const { status } = await search(mallory, { q: costliest });
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    const sends = (async () => {
      const out: number[] = [];
      for (let i = 0; i < 20; i++) out.push((await bob.post(`/rooms/${team}/messages`, { content: `send ${i} under load` })).status);
      return out;
    })();
    const [sent] = await Promise.all([sends, ...Array.from({ length: 8 }, loop)]);
    expect(sent).toEqual(Array(20).fill(201));
    expect(
      [...statuses.keys()].every((s) => [200, 429, 503].includes(s)),
      JSON.stringify([...statuses]),
    ).toBe(true);
    expect(statuses.get(200)).toBeGreaterThan(0);
    const history = await bob.get(`/rooms/${team}/messages?limit=20`);
    expect(history.body.data.map((m: any) => m.content)).toEqual(expect.arrayContaining(['send 0 under load', 'send 19 under load']));
  });

  it.skipIf(!onPostgres)('cuts off a search running longer than SEARCH_TIMEOUT_MS: 503 UNAVAILABLE with Retry-After', async () => {
    const db = t.app.database.db;
    await db.transaction(async (tx) => {
      // With the table held, the search waits as a runaway one would run: the statement timeout counts both.
      await tx.execute(sql`lock table chat_message in access exclusive mode`);
      const res = await search(alice, { q: 'fox' });
      expectProblem(res, 503, 'UNAVAILABLE');
      expect(res.headers.get('retry-after')).toBe(String(Math.ceil(TIMEOUT_MS / 1000)));
      expect(res.body.detail).toContain(`${TIMEOUT_MS} ms`);
    });
    // The timeout was local to the search's transaction: no pooled connection keeps it.
    const settings = await Promise.all(
      Array.from({ length: 10 }, () => db.execute(sql`select current_setting('statement_timeout') as v, pg_sleep(0.05)`)),
    );
    for (const s of settings) expect((s as unknown as { rows: Array<{ v: string }> }).rows[0]!.v).toBe('0');
    expect((await search(alice, { q: 'fox' })).status).toBe(200);
  });
});

describe('SearchLimits', () => {
  const limiter = new MemoryRateLimiter(1_000_000, 60_000);
  afterAll(() => limiter.close());

  /** A search that runs until its `done` is called. */
  function pending() {
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    let started = false;
    return { work: async () => ((started = true), await finished), done: () => done(), started: () => started };
  }

  it('gives the statement timeout to PostgreSQL searches only, and turns a cancelled statement into 503', async () => {
    const seen: Array<number | undefined> = [];
    await new SearchLimits(limiter, { engine: 'pglite', timeoutMs: 2500 }).run('u', async (ms) => seen.push(ms));
    const pg = new SearchLimits(limiter, { engine: 'postgres', timeoutMs: 2500 });
    await pg.run('u', async (ms) => seen.push(ms));
    expect(seen).toEqual([undefined, 2500]);
    const cancelled = Object.assign(new Error('wrapped'), {
      cause: Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
    });
    const err = await pg.run('u', async () => Promise.reject(cancelled)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', retryAfter: 3 });
    // Other failures pass through untouched.
    const other = new Error('boom');
    await expect(pg.run('u', async () => Promise.reject(other))).rejects.toBe(other);
  });

  it('on PGlite rests the slot after a search as long as the search held it', async () => {
    vi.useFakeTimers();
    try {
      const limits = new SearchLimits(limiter, { engine: 'pglite', timeoutMs: 3000 });
      const first = limits.run('a', () => new Promise<void>((resolve) => setTimeout(resolve, 200)));
      const next = pending();
      const second = limits.run('b', next.work);
      await vi.advanceTimersByTimeAsync(200);
      await first;
      await vi.advanceTimersByTimeAsync(199);
      expect(next.started()).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(next.started()).toBe(true);
      next.done();
      await second;
    } finally {
      vi.useRealTimers();
    }
  });

  it(`turns a search away at once (503) when ${MAX_WAITING_SEARCHES} already wait`, async () => {
    const limits = new SearchLimits(limiter, { engine: 'pglite', timeoutMs: 60_000 });
    const running = pending();
    const all = [limits.run('runner', running.work)];
    const waiters = Array.from({ length: MAX_WAITING_SEARCHES }, (_, i) => limits.run(`waiter${i}`, async () => i));
    const refused = await limits.run('one-too-many', async () => 0).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'UNAVAILABLE', retryAfter: 60 });
    running.done();
    await Promise.all(all);
    expect(await Promise.all(waiters)).toEqual(Array.from({ length: MAX_WAITING_SEARCHES }, (_, i) => i));
  });
});
