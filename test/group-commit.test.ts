import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { literal } from '../src/db/prepared.js';
import { EventLogRepository } from '../src/event-log/event-log.repository.js';
import { newId } from '../src/ids.js';
import { GroupCommit, laneOf } from '../src/messages/messages.group-commit.js';
import { MessagesRepository, RETRIED, type StoredMessage, type Written } from '../src/messages/messages.repository.js';
import type { NewMessage } from '../src/messages/write.statements.js';
import { documentVector } from '../src/text/tokenize.js';
import { dbRows, startTestApp, type Client, type TestApp } from './helpers/app.js';

/** The seq of a send that was stored (a RETRIED answer has none). */
const seqOf = (w: Written | undefined) => (w as StoredMessage).seq;

const row = (roomId: string, senderId: string, content: string, clientMessageId: string | null = null): NewMessage => ({
  id: newId(),
  roomId,
  senderId,
  type: 'text',
  content,
  mentions: [],
  replyToSeq: null,
  clientMessageId,
  hasMedia: false,
  searchDoc: documentVector(content),
});

describe('GroupCommit', () => {
  /** A repository whose statements finish when the test says so, recording what each one wrote. */
  function fakeRepo(failWhen: (rows: NewMessage[]) => boolean = () => false) {
    const statements: string[][] = [];
    const finish: Array<() => void> = [];
    let seq = 0;
    const repo = {
      async insertMany(rows: NewMessage[]) {
        statements.push(rows.map((r) => r.content));
        await new Promise<void>((resolve) => finish.push(resolve));
        if (failWhen(rows)) throw new Error('batch refused');
        return new Map(rows.map((r) => [r.id, { seq: ++seq, createdAt: new Date() }]));
      },
      async insertNext(r: NewMessage) {
        return (await repo.insertMany([r])).get(r.id);
      },
    };
    const flush = async () => {
      for (let i = 0; i < 20 && finish.length === 0; i++) await new Promise((r) => setImmediate(r));
      finish.shift()?.();
    };
    return { repo: repo as unknown as MessagesRepository, statements, flush };
  }

  it('writes the first send alone and the sends that arrive meanwhile together, in arrival order', async () => {
    const { repo, statements, flush } = fakeRepo();
    const commits = new GroupCommit(repo, { spacingMs: 0 });
    const first = commits.insert(row('r', 'u', 'a'));
    const rest = ['b', 'c', 'd'].map((c) => commits.insert(row('r', 'u', c)));
    await flush();
    await flush();
    expect(statements).toEqual([['a'], ['b', 'c', 'd']]);
    expect(seqOf(await first)).toBe(1);
    expect((await Promise.all(rest)).map(seqOf)).toEqual([2, 3, 4]);
  });

  it('keeps a statement in flight per lane: rooms of another lane do not wait, a room stays in its lane and order', async () => {
    const { repo, statements, flush } = fakeRepo();
    const commits = new GroupCommit(repo, { lanes: 2, spacingMs: 0 });
    // Two rooms in different lanes, and a third in the first one's.
    const rooms = Array.from({ length: 50 }, (_, i) => `room-${i}`);
    const a = rooms.find((r) => laneOf(r, 2) === 0)!;
    const b = rooms.find((r) => laneOf(r, 2) === 1)!;
    const c = rooms.find((r) => r !== a && laneOf(r, 2) === 0)!;
    const sends = [commits.insert(row(a, 'u', 'a1')), commits.insert(row(b, 'u', 'b1'))];
    // Both lanes' first statements are in flight at once, before either finished.
    await new Promise((r) => setImmediate(r));
    expect(statements).toEqual([['a1'], ['b1']]);
    sends.push(commits.insert(row(a, 'u', 'a2')), commits.insert(row(c, 'u', 'c1')), commits.insert(row(b, 'u', 'b2')));
    for (let i = 0; i < 4; i++) await flush();
    expect(statements).toEqual([['a1'], ['b1'], ['a2', 'c1'], ['b2']]);
    expect((await Promise.all(sends)).every((w) => seqOf(w) > 0)).toBe(true);
    // Rooms spread over both lanes; with one lane every room is in it.
    expect(new Set(rooms.map((r) => laneOf(r, 2)))).toEqual(new Set([0, 1]));
    expect(rooms.every((r) => laneOf(r, 1) === 0)).toBe(true);
  });

  it("spaces a lane's statements: sends within the spacing of the last start share the next, a send after a quiet spell goes at once", async () => {
    const { repo, statements, flush } = fakeRepo();
    const commits = new GroupCommit(repo, { spacingMs: 200 });
    const tick = () => new Promise((r) => setImmediate(r));
    const started: number[] = [];
    const until = async (n: number) => {
      for (let i = 0; i < 1000 && statements.length < n; i++) await new Promise((r) => setTimeout(r, 1));
      started.push(performance.now());
    };
    const t0 = performance.now();
    const a = commits.insert(row('r', 'u', 'a'));
    await tick();
    expect(statements).toEqual([['a']]);
    await flush();
    await a;
    // The statement is done at once, but the next may start only 200 ms after it did: b and c wait and go together.
    const later = [commits.insert(row('r', 'u', 'b')), commits.insert(row('r', 'u', 'c'))];
    await tick();
    expect(statements).toEqual([['a']]);
    await until(2);
    expect(statements).toEqual([['a'], ['b', 'c']]);
    expect(started[0]! - t0).toBeGreaterThanOrEqual(190);
    await flush();
    await Promise.all(later);
    // A lane quiet for longer than the spacing writes the next send without waiting (no timer runs before a tick).
    await new Promise((r) => setTimeout(r, 250));
    const d = commits.insert(row('r', 'u', 'd'));
    await tick();
    expect(statements).toEqual([['a'], ['b', 'c'], ['d']]);
    await flush();
    expect(await d).toBeDefined();
  });

  it('writes a refused batch again one by one, in order, so only the bad send fails', async () => {
    const { repo, statements, flush } = fakeRepo((rows) => rows.some((r) => r.content === 'bad'));
    const commits = new GroupCommit(repo, { spacingMs: 0 });
    const first = commits.insert(row('r', 'u', 'a'));
    const later = ['b', 'bad', 'c'].map((c) =>
      commits.insert(row('r', 'u', c)).then(
        (s) => seqOf(s),
        (e: Error) => e.message,
      ),
    );
    for (let i = 0; i < 5; i++) await flush();
    expect(statements).toEqual([['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
    expect(seqOf(await first)).toBe(1);
    expect(await Promise.all(later)).toEqual([2, 'batch refused', 3]);
  });
});

describe('SQL literals of prepared statements', () => {
  it('quotes text by doubling quotes, writes numbers, booleans and null as such, and refuses NUL', () => {
    expect(literal("it's")).toBe("'it''s'");
    expect(literal("\\'")).toBe("'\\'''");
    expect(literal(42)).toBe('42');
    expect(literal(false)).toBe('false');
    expect(literal(null)).toBe('null');
    expect(literal({ a: "b'" })).toBe(`'{"a":"b''"}'`);
    expect(() => literal('a\0b')).toThrow(/NUL/);
    expect(() => literal(Number.NaN)).toThrow();
  });
});

describe('a batch of sends in one statement', () => {
  let t: TestApp;
  let alice: Client, bob: Client;
  beforeAll(async () => {
    t = await startTestApp();
    [alice, bob] = await Promise.all([t.as('alice'), t.as('bob')]);
    // A consumer of every message, as the webhooks are (the notifications with Web Push alone take fewer).
    await new EventLogRepository(t.app.database.db).register('test-every-message', ['message.created']);
  });
  afterAll(async () => t?.close());

  const rows = <T>(query: ReturnType<typeof sql>) => dbRows<T>(t, query);
  const group = async () => (await alice.post('/rooms', { type: 'group', name: 'g', participantIds: ['bob'] })).body.id as string;

  it('numbers each room densely in the batch order and moves each sender to their last message', async () => {
    const [r1, r2] = [await group(), await group()];
    await alice.post(`/rooms/${r1}/messages`, { content: 'already there' });
    const batch = [row(r1, 'alice', 'one'), row(r2, 'bob', 'x'), row(r1, 'bob', 'two'), row(r1, 'alice', 'three'), row(r2, 'alice', 'y')];
    const stored = await new MessagesRepository(t.app.database.db).insertMany(batch);
    expect(batch.map((m) => seqOf(stored.get(m.id)))).toEqual([2, 1, 3, 4, 2]);
    const rooms = await rows<{ id: string; last_seq: number }>(
      sql`select id, last_seq from chat_room where id in (${r1}, ${r2}) order by id`,
    );
    expect(Object.fromEntries(rooms.map((r) => [r.id, Number(r.last_seq)]))).toEqual({ [r1]: 4, [r2]: 2 });
    const positions = await rows<{ room_id: string; user_id: string; last_read_seq: number }>(
      sql`select room_id, user_id, last_read_seq from chat_participant where room_id in (${r1}, ${r2})`,
    );
    expect(Object.fromEntries(positions.map((p) => [`${p.room_id === r1 ? 'r1' : 'r2'}:${p.user_id}`, Number(p.last_read_seq)]))).toEqual({
      'r1:alice': 4,
      'r1:bob': 3,
      'r2:alice': 2,
      'r2:bob': 1,
    });
    const receipts = await rows<{ user_id: string; up_to_seq: number }>(
      sql`select user_id, up_to_seq from message_read_receipt where room_id = ${r1} and kind = 'read' order by up_to_seq`,
    );
    expect(receipts.map((r) => `${r.user_id}:${Number(r.up_to_seq)}`)).toEqual(['alice:1', 'bob:3', 'alice:4']);
    const history = (await bob.get(`/rooms/${r1}/messages`)).body.data.map((m: any) => `${m.seq}:${m.content}`);
    expect(history).toEqual(['1:already there', '2:one', '3:two', '4:three']);
    // The same statement logged one message.created per message (notifications read the log, not the bus).
    const events = await rows<{ type: string; payload: { messageId: string; roomId: string; senderId: string; seq: number } }>(
      sql`select type, payload from domain_event where payload->>'messageId' in (${sql.join(
        batch.map((m) => sql`${m.id}`),
        sql`, `,
      )})`,
    );
    expect(events.map((e) => ({ type: e.type, ...e.payload })).sort((a, b) => a.messageId.localeCompare(b.messageId))).toEqual(
      batch
        .map((m) => ({
          type: 'message.created',
          messageId: m.id,
          roomId: m.roomId,
          senderId: m.senderId,
          seq: seqOf(stored.get(m.id)),
          roomType: 'group',
        }))
        .sort((a, b) => a.messageId.localeCompare(b.messageId)),
    );
  });

  it('stores any text exactly: quotes, backslashes, SQL, line breaks and emoji', async () => {
    const r = await group();
    const tricky = ["it's", "''", "\\'; drop table chat_message; --", 'a\nb\tc', '$1 $$ :name ?', '😀 𝄞 東京', '\\x00 \\u0000'];
    const sent = await Promise.all(tricky.map((content) => alice.post(`/rooms/${r}/messages`, { content })));
    expect(sent.map((m) => m.status)).toEqual(tricky.map(() => 201));
    const stored = (await bob.get(`/rooms/${r}/messages?limit=100`)).body.data.map((m: any) => m.content);
    expect([...stored].sort()).toEqual([...tricky].sort());
  });

  it('writes no message of a sender who is not in the room, and keeps the others dense', async () => {
    const r = await group();
    const [stranger, member, gone] = [row(r, 'mallory', 'intrude'), row(r, 'bob', 'hello'), row(newId(), 'alice', 'nowhere')];
    const stored = await new MessagesRepository(t.app.database.db).insertMany([stranger, member, gone]);
    expect([stored.has(stranger.id), stored.get(member.id), stored.has(gone.id)]).toEqual([
      false,
      { seq: 1, changeSeq: 1, createdAt: expect.any(Date), roomType: 'group' },
      false,
    ]);
    const refused = await (await t.as('mallory')).post(`/rooms/${r}/messages`, { content: 'again' });
    expect(refused.status).toBe(404);
    expect(refused.body.code).toBe('NOT_FOUND');
    const [room] = await rows<{ last_seq: number; last_change_seq: number; n: number }>(
      sql`select last_seq, last_change_seq, (select count(*) from chat_message where room_id = ${r}) as n from chat_room where id = ${r}`,
    );
    expect({ lastSeq: Number(room!.last_seq), lastChangeSeq: Number(room!.last_change_seq), count: Number(room!.n) }).toEqual({
      lastSeq: 1,
      lastChangeSeq: 1,
      count: 1,
    });
  });

  it('writes a batch around a clientMessageId already stored: the retry is answered RETRIED and writes nothing', async () => {
    const r = await group();
    await alice.post(`/rooms/${r}/messages`, { content: 'kept', clientMessageId: 'k' });
    const batch = [row(r, 'bob', 'new'), row(r, 'alice', 'retry', 'k'), row(r, 'alice', 'after', 'k2')];
    const stored = await new MessagesRepository(t.app.database.db).insertMany(batch);
    expect(batch.map((m) => stored.get(m.id))).toEqual([
      { seq: 2, changeSeq: 2, createdAt: expect.any(Date), roomType: 'group' },
      RETRIED,
      { seq: 3, changeSeq: 3, createdAt: expect.any(Date), roomType: 'group' },
    ]);
    const [room] = await rows<{ last_seq: number; last_change_seq: number }>(
      sql`select last_seq, last_change_seq from chat_room where id = ${r}`,
    );
    expect({ lastSeq: Number(room!.last_seq), lastChangeSeq: Number(room!.last_change_seq) }).toEqual({ lastSeq: 3, lastChangeSeq: 3 });
    const messages = await rows<{ seq: number; content: string }>(
      sql`select seq, content from chat_message where room_id = ${r} order by seq`,
    );
    expect(messages.map((m) => `${Number(m.seq)}:${m.content}`)).toEqual(['1:kept', '2:new', '3:after']);
    // The retry logged no event: notifications and webhooks hear of the message once.
    const events = await rows<{ n: number }>(
      sql`select count(*)::int as n from domain_event where type = 'message.created' and room_id = ${r}`,
    );
    expect(events[0]!.n).toBe(3);
  });

  it('stores nothing of a batch holding one new clientMessageId twice, seqs included (the caller redoes it one by one)', async () => {
    const r = await group();
    await alice.post(`/rooms/${r}/messages`, { content: 'kept' });
    await expect(
      new MessagesRepository(t.app.database.db).insertMany([
        row(r, 'bob', 'new'),
        row(r, 'alice', 'a', 'twice'),
        row(r, 'alice', 'b', 'twice'),
      ]),
    ).rejects.toThrow();
    const [room] = await rows<{ last_seq: number; n: number }>(
      sql`select last_seq, (select count(*) from chat_message where room_id = ${r}) as n from chat_room where id = ${r}`,
    );
    expect({ lastSeq: Number(room!.last_seq), count: Number(room!.n) }).toEqual({ lastSeq: 1, count: 1 });
  });

  it('answers a burst of retries (an outbox re-sent after a reconnect) mixed with new sends: each retry with its stored message, the new ones densely', async () => {
    const r = await group();
    const keys = Array.from({ length: 20 }, (_, i) => `out${i}`);
    const first = await Promise.all(keys.map((key) => alice.post(`/rooms/${r}/messages`, { content: key, clientMessageId: key })));
    expect(first.map((x) => x.status)).toEqual(keys.map(() => 201));
    // The outbox again, with new messages of another sender in between: retries 200 with the stored message, the new ones 201.
    const again = await Promise.all(
      keys.flatMap((key, i) => [
        alice.post(`/rooms/${r}/messages`, { content: `${key} changed`, clientMessageId: key }),
        bob.post(`/rooms/${r}/messages`, { content: `bob ${i}` }),
      ]),
    );
    expect(again.filter((_, i) => i % 2 === 0).map((x) => [x.status, x.body.id])).toEqual(first.map((x) => [200, x.body.id]));
    expect(again.filter((_, i) => i % 2 === 1).map((x) => x.status)).toEqual(keys.map(() => 201));
    const seqs = again.filter((_, i) => i % 2 === 1).map((x) => x.body.seq as number);
    expect([...seqs].sort((a, b) => a - b)).toEqual(keys.map((_, i) => 21 + i));
  });

  it('answers every one of many concurrent sends, retries included, with dense seqs per room', async () => {
    const [r1, r2] = [await group(), await group()];
    const distinct = Array.from({ length: 36 }, (_, i) => ({ c: i % 2 ? bob : alice, roomId: i % 3 ? r1 : r2, key: `k${i}` }));
    // Four retries (same sender, room and key) sent at the same moment as their originals.
    const all = [...distinct];
    for (const i of [0, 9, 18, 27]) all.splice(all.indexOf(distinct[i]!) + 1, 0, distinct[i]!);
    const sends = all.map(({ c, roomId, key }) => c.post(`/rooms/${roomId}/messages`, { content: key, clientMessageId: key }));
    const results = await Promise.all(sends);
    expect(results.every((r) => r.status === 201 || r.status === 200)).toBe(true);
    expect(results.filter((r) => r.status === 200)).toHaveLength(4);
    for (const roomId of [r1, r2]) {
      const seqs = (await alice.get(`/rooms/${roomId}/messages?limit=100`)).body.data.map((m: any) => m.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    }
    const total =
      (await alice.get(`/rooms/${r1}/messages?limit=100`)).body.data.length +
      (await alice.get(`/rooms/${r2}/messages?limit=100`)).body.data.length;
    expect(total).toBe(36);
    const ids = new Set(results.map((r) => r.body.id));
    expect(ids.size).toBe(36);
  });
});
