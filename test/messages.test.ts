import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';

let t: TestApp;
let alice: Client;
let bob: Client;
let carol: Client;
let stranger: Client;
/** alice (owner), bob, carol */
let room: string;
/** alice and stranger: a room bob and carol are not in */
let otherRoom: string;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** What the database holds for a room: the seq counter and the number of stored messages. */
async function stored(roomId: string): Promise<{ lastSeq: number; count: number }> {
  const res = await t.app.database.db.execute(
    sql`select last_seq, (select count(*) from chat_message where room_id = ${roomId}) as n from chat_room where id = ${roomId}`,
  );
  const row = (res as unknown as { rows: Array<{ last_seq: unknown; n: unknown }> }).rows[0]!;
  return { lastSeq: Number(row.last_seq), count: Number(row.n) };
}

async function newGroup(owner: Client, others: string[]): Promise<string> {
  const res = await owner.post('/rooms', { type: 'group', name: 'g', participantIds: others });
  expect(res.status).toBe(201);
  return res.body.id;
}

const send = (c: Client, roomId: string, body: unknown) => c.post(`/rooms/${roomId}/messages`, body);

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob, carol, stranger] = await Promise.all([
    t.as('alice', { name: 'Alice' }),
    t.as('bob', { name: 'Bob' }),
    t.as('carol'),
    t.as('stranger'),
  ]);
  room = await newGroup(alice, ['bob', 'carol']);
  otherRoom = await newGroup(alice, ['stranger']);
});
afterAll(async () => t?.close());

describe('POST /rooms/:id/messages', () => {
  it('answers 201 with exactly the Message of the contract, and history serves the same object', async () => {
    const r = await newGroup(alice, ['bob']);
    const res = await send(alice, r, { content: 'hello' });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(res.body).sort()).toEqual([
      'changeSeq',
      'chatRoomId',
      'clientMessageId',
      'content',
      'createdAt',
      'deletedAt',
      'deletedBy',
      'editedAt',
      'id',
      'media',
      'mentions',
      'pinnedAt',
      'pinnedBy',
      'reactions',
      'replyTo',
      'replyToId',
      'senderId',
      'seq',
      'type',
    ]);
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID),
      chatRoomId: r,
      seq: 1,
      senderId: 'alice',
      type: 'text',
      content: 'hello',
      mentions: [],
      replyToId: null,
      replyTo: null,
      media: [],
      clientMessageId: null,
      createdAt: expect.stringMatching(ISO),
      editedAt: null,
      deletedAt: null,
      deletedBy: null,
      changeSeq: 1,
      pinnedAt: null,
      pinnedBy: null,
      reactions: [],
    });
    const hist = await bob.get(`/rooms/${r}/messages`);
    expect(hist.body.data).toEqual([res.body]);
  });

  it('hands out seq 1, 2, 3 … per room', async () => {
    const r1 = await newGroup(alice, ['bob']);
    const r2 = await newGroup(alice, ['bob']);
    const seqs = [];
    for (const [c, r] of [
      [alice, r1],
      [bob, r1],
      [alice, r2],
      [alice, r1],
      [bob, r2],
    ] as const)
      seqs.push((await send(c, r, { content: 'x' })).body.seq);
    expect(seqs).toEqual([1, 2, 1, 3, 2]);
    expect(await stored(r1)).toEqual({ lastSeq: 3, count: 3 });
  });

  it('keeps seq dense under 30 concurrent sends', async () => {
    const r = await newGroup(alice, ['bob']);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => send(i % 2 ? bob : alice, r, { content: `m${i}` })));
    expect(results.map((x) => x.status)).toEqual(Array(30).fill(201));
    expect(results.map((x) => x.body.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(results.map((x) => x.body.id)).size).toBe(30);
    expect(await stored(r)).toEqual({ lastSeq: 30, count: 30 });
    const hist = await alice.get(`/rooms/${r}/messages?limit=100`);
    expect(hist.body.data.map((m: any) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  describe('clientMessageId', () => {
    it('a retry by the same sender in the same room answers 200 with the first message and stores nothing', async () => {
      const r = await newGroup(alice, ['bob']);
      const first = await send(alice, r, { content: 'once', clientMessageId: 'c-1' });
      expect(first.status).toBe(201);
      expect(first.body.clientMessageId).toBe('c-1');
      const again = await send(alice, r, { content: 'once', clientMessageId: 'c-1' });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      // A retry whose content changed is still the same message: the key decides, as in Stream Chat.
      const changed = await send(alice, r, { content: 'edited retry', clientMessageId: 'c-1' });
      expect({ status: changed.status, body: changed.body }).toEqual({ status: 200, body: first.body });
      expect(await stored(r)).toEqual({ lastSeq: 1, count: 1 });
    });

    it('a retry answers with the stored message even when its checks would now fail; a new key is refused', async () => {
      const r = await newGroup(alice, ['bob']);
      const first = await send(alice, r, { content: 'hi @bob', mentions: ['bob'], clientMessageId: 'm-1' });
      expect(first.status).toBe(201);
      expect((await alice.patch(`/rooms/${r}/participants/bob/remove`)).status).toBe(200);
      const again = await send(alice, r, { content: 'hi @bob', mentions: ['bob'], clientMessageId: 'm-1' });
      expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: first.body });
      const blank = await send(alice, r, { content: ' ', clientMessageId: 'm-1' });
      expect({ status: blank.status, body: blank.body }).toEqual({ status: 200, body: first.body });
      const fresh = await send(alice, r, { content: 'hi @bob', mentions: ['bob'], clientMessageId: 'm-2' });
      expectProblem(fresh, 400, 'VALIDATION_FAILED');
      expect(await stored(r)).toEqual({ lastSeq: 1, count: 1 });
    });

    it('5 concurrent sends with one clientMessageId store exactly one message and seq stays dense', async () => {
      const r = await newGroup(alice, ['bob']);
      const results = await Promise.all(Array.from({ length: 5 }, () => send(alice, r, { content: 'dup', clientMessageId: 'same' })));
      expect(results.map((x) => x.status).sort()).toEqual([200, 200, 200, 200, 201]);
      expect(new Set(results.map((x) => x.body.id)).size).toBe(1);
      expect(results[0]!.body.seq).toBe(1);
      expect(await stored(r)).toEqual({ lastSeq: 1, count: 1 });
      expect((await send(alice, r, { content: 'next' })).body.seq).toBe(2);
    });

    it('is scoped to sender and room', async () => {
      const r = await newGroup(alice, ['bob']);
      const a = await send(alice, r, { content: 'a', clientMessageId: 'k' });
      const b = await send(bob, r, { content: 'b', clientMessageId: 'k' });
      const other = await send(alice, otherRoom, { content: 'c', clientMessageId: 'k' });
      expect([a.status, b.status, other.status]).toEqual([201, 201, 201]);
      expect(new Set([a.body.id, b.body.id, other.body.id]).size).toBe(3);
      expect(b.body).toMatchObject({ senderId: 'bob', seq: 2, content: 'b', clientMessageId: 'k' });
      expect(await stored(r)).toEqual({ lastSeq: 2, count: 2 });
    });
  });

  describe('replies', () => {
    it('carries a preview of the first 200 code points of the target', async () => {
      const r = await newGroup(alice, ['bob']);
      const long = '😀'.repeat(150) + '𝄞é'.repeat(100);
      const target = await send(alice, r, { content: long });
      const res = await send(bob, r, { content: 'answer', replyToId: target.body.id });
      expect(res.status).toBe(201);
      const preview = Array.from(long).slice(0, 200).join('');
      expect(preview).toBe('😀'.repeat(150) + '𝄞é'.repeat(25));
      expect(res.body.replyToId).toBe(target.body.id);
      expect(res.body.replyTo).toEqual({ id: target.body.id, seq: 1, senderId: 'alice', type: 'text', content: preview, deletedAt: null });
      const hist = await alice.get(`/rooms/${r}/messages`);
      expect(hist.body.data[1]).toEqual(res.body);
      expect(hist.body.data[0].content).toBe(long);
    });

    it('a short target is previewed whole', async () => {
      const r = await newGroup(alice, ['bob']);
      const target = await send(alice, r, { content: 'short' });
      const res = await send(alice, r, { content: 'self reply', replyToId: target.body.id });
      expect(res.body.replyTo).toEqual({ id: target.body.id, seq: 1, senderId: 'alice', type: 'text', content: 'short', deletedAt: null });
    });

    it('refuses a message of another room, a nonexistent id and a malformed id with 400, storing nothing', async () => {
      const r = await newGroup(alice, ['bob']);
      await send(alice, r, { content: 'one' });
      const elsewhere = await send(alice, otherRoom, { content: 'elsewhere' });
      for (const replyToId of [elsewhere.body.id, '01890a5d-ac96-774b-bcce-b302099a8057', 'not-an-id', '']) {
        const res = await send(alice, r, { content: 'reply', replyToId });
        expectProblem(res, 400, 'VALIDATION_FAILED');
      }
      expect(await stored(r)).toEqual({ lastSeq: 1, count: 1 });
    });
  });

  describe('mentions', () => {
    it('accepts participants, the sender included, and duplicates collapse', async () => {
      const res = await send(alice, room, { content: 'hi @bob @carol', mentions: ['bob', 'carol', 'alice', 'bob'] });
      expect(res.status).toBe(201);
      expect(res.body.mentions).toEqual(['bob', 'carol', 'alice']);
    });

    it('refuses anyone outside the room with 400, storing nothing', async () => {
      const before = await stored(room);
      for (const mentions of [['stranger'], ['bob', 'nobody-at-all'], [''], 'bob']) {
        expectProblem(await send(alice, room, { content: 'hey', mentions }), 400, 'VALIDATION_FAILED');
      }
      expect(await stored(room)).toEqual(before);
    });
  });

  describe('content', () => {
    it('refuses empty, blank, too long and control characters with 400, storing nothing', async () => {
      const before = await stored(room);
      const bad: unknown[] = [
        { content: '' },
        { content: '   \n\t\r  ' },
        { content: '\u00a0\u3000' },
        { content: '😀'.repeat(10_001) },
        { content: 'a'.repeat(10_001) },
        ...['\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u009f', '\u000b', '\u000c'].map((c) => ({ content: `bad${c}char` })),
        // A lone surrogate would be stored as U+FFFD: not "as sent".
        { content: 'half \ud83d pair' },
        { content: 'ok', clientMessageId: 'id-\udc00' },
        { content: 123 },
        { content: null },
        { content: ['x'] },
        {},
        { content: 'ok', clientMessageId: '' },
        { content: 'ok', clientMessageId: 7 },
        { content: 'ok', replyToId: 5 },
        { content: 'ok', mentions: [1] },
      ];
      for (const body of bad) {
        const res = await send(alice, room, body);
        expectProblem(res, 400, 'VALIDATION_FAILED');
      }
      expect(await stored(room)).toEqual(before);
    });

    it('accepts exactly 10,000 code points even when that is 20,000 UTF-16 units', async () => {
      const content = '😀'.repeat(10_000);
      expect(content.length).toBe(20_000);
      const res = await send(alice, room, { content });
      expect(res.status).toBe(201);
      expect(res.body.content).toBe(content);
    });

    it('keeps \\n, \\r, \\t, HTML and any script exactly as sent', async () => {
      for (const content of [
        'line1\nline2\r\n\tindented',
        '<b>x</b> & <script>alert("x")</script>',
        '  padded  ',
        'مرحبا 你好 👩‍👩‍👧 e\u0301',
      ]) {
        const res = await send(alice, room, { content });
        expect(res.status).toBe(201);
        expect(res.body.content).toBe(content);
        const hist = await bob.get(`/rooms/${room}/messages?after=${res.body.seq - 1}&limit=1`);
        expect(hist.body.data[0].content).toBe(content);
      }
    });
  });

  describe('malformed requests', () => {
    const raw = (body: string, type = 'application/json') =>
      alice.raw(`/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': type }, body });

    it('malformed JSON is 400, a body over the size limit 413, a non-JSON body 415; nothing stored', async () => {
      const before = await stored(room);
      expectProblem(await raw('{"content": "x"'), 400, 'VALIDATION_FAILED');
      expectProblem(await raw('not json'), 400, 'VALIDATION_FAILED');
      expectProblem(await raw(''), 400, 'VALIDATION_FAILED');
      expectProblem(await raw('"just a string"'), 400, 'VALIDATION_FAILED');
      expectProblem(await raw(JSON.stringify({ content: 'x'.repeat(300_000) })), 413, 'PAYLOAD_TOO_LARGE');
      expectProblem(await raw('content=x', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectProblem(await raw('<content>x</content>', 'application/xml'), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(await stored(room)).toEqual(before);
    });

    it('a stranger, a nonexistent room and a malformed id are the same 404', async () => {
      const before = await stored(room);
      const answers = [
        await send(stranger, room, { content: 'let me in' }),
        await send(alice, '01890a5d-ac96-774b-bcce-b302099a8057', { content: 'x' }),
        await send(alice, 'nope', { content: 'x' }),
      ];
      for (const res of answers) expectProblem(res, 404, 'NOT_FOUND');
      expect(answers[1]!.body).toEqual(answers[0]!.body);
      expect(answers[2]!.body).toEqual(answers[0]!.body);
      expect(await stored(room)).toEqual(before);
      // Rules about the content are judged after access, so they reveal nothing about a room either.
      expectProblem(await send(stranger, room, { content: '' }), 404, 'NOT_FOUND');
    });
  });

  it('sending marks the room read for the sender while the others’ unread count grows', async () => {
    const r = await newGroup(alice, ['bob', 'carol']);
    await send(alice, r, { content: '1' });
    await send(alice, r, { content: '2' });
    const mine = await send(bob, r, { content: '3' });
    const asBob = (await bob.get(`/rooms/${r}`)).body;
    const asAlice = (await alice.get(`/rooms/${r}`)).body;
    const asCarol = (await carol.get(`/rooms/${r}`)).body;
    expect([asBob.unreadCount, asAlice.unreadCount, asCarol.unreadCount]).toEqual([0, 1, 3]);
    const seqOf = (v: any) => Object.fromEntries(v.participants.map((p: any) => [p.userId, p.lastReadSeq]));
    expect(seqOf(asBob)).toEqual({ alice: 2, bob: 3, carol: 0 });
    expect(asBob.lastSeq).toBe(3);
    expect(asBob.lastMessage).toEqual(mine.body);
  });
});
