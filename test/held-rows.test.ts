// A send moves its sender's participant row (read position) and a delivery flush moves recipients' rows (delivery
// position), so the two meet on rows. Neither waits for a row the other holds: the delivery mark goes in the next
// flush, and the sender's read position moves after the commit. Only PostgreSQL has a second transaction to hold one.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { connect, record, sleep, waitFor, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
let alice: Client;
let bob: Client;
const sockets: ClientSocket[] = [];

async function open(c: Client): Promise<ClientSocket> {
  const s = await connect(t.baseUrl, c.token);
  sockets.push(s);
  return s;
}

/** Holds `userId`'s participant row of `roomId` on a connection of its own, as another write would, until `release`. */
async function holdRow(roomId: string, userId: string): Promise<{ db: pg.Client; release: () => Promise<void> }> {
  const db = new pg.Client({ connectionString: t.db.url! });
  await db.connect();
  await db.query('begin');
  await db.query('select 1 from chat_participant where room_id = $1 and user_id = $2 for no key update', [roomId, userId]);
  let released = false;
  return {
    db,
    release: async () => {
      if (released) return;
      released = true;
      await db.query('commit');
      await db.end();
    },
  };
}

async function lockWaiters(db: pg.Client): Promise<number> {
  const { rows } = await db.query(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
  );
  return rows[0].n;
}

const participant = async (c: Client, roomId: string, userId: string) =>
  (await c.get(`/rooms/${roomId}`)).body.participants.find((p: any) => p.userId === userId);

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob] = await Promise.all([t.as('alice'), t.as('bob')]);
});
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});
afterAll(async () => t?.close());

describe.runIf(inject('template').kind === 'postgres')('rows another write holds', () => {
  it('a delivery flush does not wait for one, and moves the mark once it is free', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'held row', participantIds: ['bob'] })).body;
    const a = await open(alice);
    const delivered = record(a, 'message_delivered');
    const b = await open(bob);
    const acked = new Promise<void>((resolve) =>
      b.on('new_message', (m, ack) => {
        ack();
        if (m.chatRoomId === room.id) resolve();
      }),
    );
    const held = await holdRow(room.id, 'bob');
    try {
      await alice.post(`/rooms/${room.id}/messages`, { content: 'while the row is held' });
      await acked;
      // Several flushes (every 100 ms) have met the held row by now: none waited for it, and nothing moved.
      await sleep(400);
      expect(await lockWaiters(held.db)).toBe(0);
      expect(delivered).toEqual([]);
      expect((await participant(alice, room.id, 'bob')).lastDeliveredSeq).toBe(0);
      const moved = waitFor(a, 'message_delivered', (e) => e.chatRoomId === room.id);
      await held.release();
      // The mark was kept, not dropped: it moves with a flush after the row is free.
      expect(await moved).toMatchObject({ userId: 'bob', lastDeliveredSeq: 1 });
    } finally {
      await held.release();
    }
    expect((await participant(alice, room.id, 'bob')).lastDeliveredSeq).toBe(1);
    expect(delivered.filter((e) => e.chatRoomId === room.id)).toHaveLength(1);
  });

  it("a send does not wait for its sender's row: the room's other sends go on, and the sender is answered once it moved", async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'held sender', participantIds: ['bob'] })).body;
    const b = await open(bob);
    const heard = record(b, 'new_message');
    const held = await holdRow(room.id, 'alice');
    let answered = false;
    let sending!: Promise<{ status: number; body: any }>;
    try {
      sending = alice.post(`/rooms/${room.id}/messages`, { content: 'mine, while my row is held' }).then((r) => {
        answered = true;
        return r;
      });
      // Stored and delivered while alice's row is held...
      await waitFor(b, 'new_message', (m) => m.chatRoomId === room.id && m.senderId === 'alice');
      // ...and the room's (so the lane's) next send is written behind it rather than waiting with it.
      const next = await bob.post(`/rooms/${room.id}/messages`, { content: 'mine goes through' });
      expect(next.status).toBe(201);
      expect(next.body.seq).toBe(2);
      // Alice is answered only once her own message no longer counts as unread for her.
      await sleep(100);
      expect(answered).toBe(false);
      expect(await lockWaiters(held.db)).toBe(1);
    } finally {
      await held.release();
    }
    const sent = await sending;
    expect(sent.status).toBe(201);
    expect(sent.body.seq).toBe(1);
    expect(heard.filter((m) => m.senderId === 'alice').map((m) => m.seq)).toEqual([1]);
    const mine = await participant(alice, room.id, 'alice');
    expect(mine).toMatchObject({ lastReadSeq: 1, lastDeliveredSeq: 1 });
    expect((await alice.get(`/rooms/${room.id}`)).body.unreadCount).toBe(1); // bob's, not her own
    const receipts = (await alice.get(`/messages/${sent.body.id}/receipts`)).body.data;
    expect(receipts.find((r: any) => r.userId === 'alice')).toMatchObject({ readAt: expect.any(String) });
  });
});
