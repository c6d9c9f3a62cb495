import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { deleteMessage as remove, fullHistory as history, getMessage, okOf as ok, pin, react, UNKNOWN_ID } from './helpers/changes.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';

let t: TestApp;
let alice: Client, bob: Client, stranger: Client;

const lastChangeSeq = async (roomId: string) => (await alice.get(`/rooms/${roomId}`)).body.lastChangeSeq as number;

/**
 * Pages the change log from `after` to its end as a client must, checking every page against the contract on the
 * way; answers every page's items and the final position.
 */
async function changesSince(c: Client, roomId: string, after: number, limit?: number): Promise<{ items: any[]; position: number }> {
  const items: any[] = [];
  let position = after;
  for (;;) {
    const page = await ok(c.get(`/rooms/${roomId}/changes?after=${position}${limit ? `&limit=${limit}` : ''}`));
    expect(Object.keys(page).sort()).toEqual(['data', 'hasMore', 'lastChangeSeq']);
    const seqs: number[] = page.data.map((m: any) => m.changeSeq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    for (const s of seqs) expect(s > position && s <= page.lastChangeSeq).toBe(true);
    if (limit) expect(page.data.length).toBeLessThanOrEqual(limit);
    items.push(...page.data);
    if (!page.hasMore) return { items, position: page.lastChangeSeq };
    expect(page.data.length).toBeGreaterThan(0);
    position = page.data.at(-1).changeSeq;
  }
}

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '1000000' });
  [alice, bob, stranger] = await Promise.all([t.as('alice'), t.as('bob'), t.as('stranger')]);
});
afterAll(async () => t?.close());

describe('GET /rooms/:id/changes', () => {
  it('defaults to after=0: every message in its current state, the room position, nothing more', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    await buildMessages(alice, r, 3);
    const res = await bob.get(`/rooms/${r}/changes`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: await history(bob, r), lastChangeSeq: 3, hasMore: false });
    expect(res.body.data.map((m: any) => [m.seq, m.changeSeq])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(await lastChangeSeq(r)).toBe(3);
  });

  it('answers an empty room with no changes at position 0', async () => {
    const r = (await buildRoom(alice)).id;
    expect((await alice.get(`/rooms/${r}/changes`)).body).toEqual({ data: [], lastChangeSeq: 0, hasMore: false });
  });

  it('defaults to limit=100 and takes up to 200', async () => {
    const r = (await buildRoom(alice)).id;
    for (let i = 0; i < 201; i += 67)
      await Promise.all(Array.from({ length: 67 }, (_, j) => buildMessage(alice, r, { content: `c${i + j}` })));
    const page = await ok(alice.get(`/rooms/${r}/changes`));
    expect(page.data.map((m: any) => m.changeSeq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(page).toMatchObject({ lastChangeSeq: 201, hasMore: true });
    const big = await ok(alice.get(`/rooms/${r}/changes?limit=200`));
    expect(big.data).toHaveLength(200);
    expect(big.hasMore).toBe(true);
    const rest = await ok(alice.get(`/rooms/${r}/changes?after=200&limit=200`));
    expect(rest.data.map((m: any) => m.changeSeq)).toEqual([201]);
    expect(rest.hasMore).toBe(false);
  });

  it.each([
    ['limit=201', 'a limit over 200'],
    ['limit=0', 'a limit of 0'],
    ['after=-1', 'a negative position'],
    ['after=abc', 'a position that is not a number'],
    ['after=1.5', 'a fractional position'],
  ])('refuses %s (%s) with 400 VALIDATION_FAILED', async (query) => {
    const r = (await buildRoom(alice)).id;
    expectProblem(await alice.get(`/rooms/${r}/changes?${query}`), 400, 'VALIDATION_FAILED');
  });

  it('answers 404 to a non-participant, exactly as for a room that does not exist', async () => {
    const r = (await buildRoom(alice)).id;
    await buildMessage(alice, r);
    const unknown = await alice.get(`/rooms/${UNKNOWN_ID}/changes`);
    expectProblem(unknown, 404, 'NOT_FOUND');
    for (const res of [await stranger.get(`/rooms/${r}/changes`), await stranger.get(`/rooms/${r}/changes?after=0&limit=1`)]) {
      expectProblem(res, 404, 'NOT_FOUND');
      expect(res.body).toEqual(unknown.body);
    }
    expectProblem(await alice.get(`/rooms/nope/changes`), 404, 'NOT_FOUND');
  });

  it('takes the room id in any case: the same page as the id itself', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    const [m] = await buildMessages(alice, r, 2);
    await ok(alice.patch(`/messages/${m!.id}`, { content: 'changed' }));
    const upper = await bob.get(`/rooms/${r.toUpperCase()}/changes?after=0`);
    expect(upper.status).toBe(200);
    expect(upper.body.data).toHaveLength(2);
    expect(upper.body).toEqual((await bob.get(`/rooms/${r}/changes?after=0`)).body);
  });
});

describe('what the log holds', () => {
  it('holds each changed message once, in its latest state, with a changeSeq per change', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    const [m1, m2, m3] = await buildMessages(alice, r, 3);
    const n = await lastChangeSeq(r);
    const edited = await ok(alice.patch(`/messages/${m1!.id}`, { content: 'm0 edited' }));
    expect(edited.changeSeq).toBe(n + 1);
    const reacted = await ok(react(bob, m1!.id, '👍'));
    expect(reacted.changeSeq).toBe(n + 2);
    const m4 = await buildMessage(bob, r, { content: 'new' });
    expect(m4.changeSeq).toBe(n + 3);

    const { items, position } = await changesSince(alice, r, n);
    expect(position).toBe(n + 3);
    expect(items.map((m) => m.id)).toEqual([m1!.id, m4.id]);
    expect(items[0]).toEqual(await getMessage(alice, m1!.id));
    expect(items[0]).toMatchObject({ content: 'm0 edited', changeSeq: n + 2, reactions: [{ emoji: '👍', count: 1, me: false }] });
    expect(items[0].editedAt).not.toBeNull();
    // Untouched messages are not in it.
    expect(items.map((m) => m.id)).not.toContain(m2!.id);
    expect(items.map((m) => m.id)).not.toContain(m3!.id);
    expect(await changesSince(alice, r, position)).toEqual({ items: [], position });
  });

  it('holds deleted messages as tombstones and pinned messages with their pin', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    const [m1, m2] = await buildMessages(bob, r, 2);
    await ok(react(alice, m1!.id, '🎉'));
    const n = await lastChangeSeq(r);
    const tomb = await ok(remove(alice, m1!.id));
    const pinned = await ok(pin(alice, r, m2!.id));
    const { items, position } = await changesSince(bob, r, n);
    expect(position).toBe(n + 2);
    expect(items.map((m) => m.changeSeq)).toEqual([n + 1, n + 2]);
    expect(items[0]).toMatchObject({
      id: m1!.id,
      seq: m1!.seq,
      senderId: 'bob',
      content: '',
      mentions: [],
      media: [],
      reactions: [],
      deletedBy: 'alice',
      deletedAt: tomb.deletedAt,
      pinnedAt: null,
    });
    expect(items[0].deletedAt).not.toBeNull();
    expect(items[1]).toMatchObject({ id: m2!.id, pinnedBy: 'alice', pinnedAt: pinned.pinnedAt });
    expect(items[1].pinnedAt).not.toBeNull();
    // From the start, the tombstone is still there in its seq place.
    const all = await changesSince(bob, r, 0);
    expect(all.items.map((m) => m.seq).sort()).toEqual([1, 2]);
  });

  it('answers each change with the message as stored: what the log and a later read hold, to the millisecond', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    const ms = await buildMessages(alice, r, 10);
    const read = async (id: string) => {
      const logged = (await changesSince(alice, r, 0)).items.find((m) => m.id === id);
      expect(logged).toEqual(await getMessage(alice, id));
      return logged;
    };
    // Ten of each: a time taken in the database and rounded differently in the answer shows within a few.
    for (const m of ms) {
      expect(await ok(alice.patch(`/messages/${m.id}`, { content: 'edited' }))).toEqual(await read(m.id));
      expect(await ok(pin(alice, r, m.id))).toEqual(await read(m.id));
      expect(await ok(remove(alice, m.id))).toEqual(await read(m.id));
    }
  });

  it('pages by the last item’s changeSeq to the end; the final position is lastChangeSeq', async () => {
    const r = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    const ms = await buildMessages(alice, r, 12);
    for (const [i, m] of ms.entries()) {
      if (i % 3 === 0) await ok(alice.patch(`/messages/${m.id}`, { content: `e${i}` }));
      if (i % 4 === 0) await ok(react(bob, m.id, '👍'));
      if (i === 5) await ok(remove(alice, m.id));
    }
    const last = await lastChangeSeq(r);
    const paged = await changesSince(bob, r, 0, 5);
    expect(paged.position).toBe(last);
    expect(paged.items.map((m) => m.id).sort()).toEqual(ms.map((m) => m.id).sort());
    const byId = new Map(paged.items.map((m) => [m.id, m]));
    expect((await history(bob, r)).map((m) => byId.get(m.id))).toEqual(await history(bob, r));
    expect(Math.max(...paged.items.map((m) => m.changeSeq))).toBe(last);
  });
});
