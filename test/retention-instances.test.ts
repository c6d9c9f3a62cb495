import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { del, ok } from './helpers/changes.js';
import { buildMessages, buildRoom } from './helpers/factories.js';
import { connect, record, type ClientSocket } from './helpers/sockets.js';
import { runsClustered } from './helpers/redis.js';

// Two instances of one deployment share one PostgreSQL database and one Redis. PGlite is an embedded database that
// one process opens from its data directory: a second instance cannot open the same one, so there is nothing to
// compete for on that run (as in cluster.test.ts).
const clustered = runsClustered();

const ROOMS = 4;
const PER_ROOM = 10;
/** Seqs 1–7 of every room are past the limit; 8 is younger than it; 9 and 10 are new. */
const EXPIRED = [1, 2, 3, 4, 5, 6, 7];

describe.runIf(clustered)('retention with two instances running the loop', () => {
  let a: TestApp, b: TestApp;
  let alice: Client, bob: Client;
  const sockets: ClientSocket[] = [];

  beforeAll(async () => {
    a = await startTestApp({
      RATE_LIMIT_WRITES_PER_MINUTE: '100000',
      RETENTION_DAYS: '30',
      // Both loops look all the time, batches are small and paused between: the rooms' batches interleave.
      RETENTION_INTERVAL_MS: '10',
      RETENTION_BATCH_SIZE: '2',
      RETENTION_PAUSE_MS: '20',
    });
    b = await startPeer(a);
    alice = await a.as('alice');
    bob = await b.as('bob');
  });
  afterAll(async () => {
    sockets.splice(0).forEach((s) => s.close());
    await b?.close();
    await a?.close();
  });

  it('tombstones each expired message once, one change each, and leaves newer ones alone', async () => {
    const rooms: string[] = [];
    const sent = new Map<string, Array<{ id: string; seq: number }>>();
    for (let r = 0; r < ROOMS; r++) {
      const room = (await buildRoom(alice, { name: `r${r}`, participantIds: ['bob'] })).id;
      rooms.push(room);
      sent.set(room, await buildMessages(alice, room, PER_ROOM, (i) => `r${r} m${i + 1}`));
    }
    // One expired message of the first room was deleted by its sender already: retention has nothing to do with it.
    const [first] = rooms as [string];
    const alreadyDeleted = sent.get(first)![2]!;
    expect((await del(alice, `/messages/${alreadyDeleted.id}`)).status).toBe(200);
    const before = new Map<string, number>();
    for (const room of rooms) before.set(room, ok(await bob.get(`/rooms/${room}`)).lastChangeSeq as number);
    const expected = rooms.flatMap((room) => sent.get(room)!.filter((m) => EXPIRED.includes(m.seq) && m.id !== alreadyDeleted.id));

    const socket = await connect(a.baseUrl, bob.token);
    sockets.push(socket);
    const live = record(socket, 'message_deleted');
    const onA: string[] = [];
    const onB: string[] = [];
    a.app.bus.on('message.deleted', (e) => void onA.push(e.id));
    b.app.bus.on('message.deleted', (e) => void onB.push(e.id));

    // Every room's messages age at once, in one statement: both loops find the same rooms due.
    await a.app.database.db.execute(
      sql`update chat_message set created_at = now() - (case when seq <= 7 then 40 else 10 end) * interval '1 day'
          where room_id in (select jsonb_array_elements_text(${JSON.stringify(rooms)}::jsonb)::uuid) and seq <= 8`,
    );
    await expect.poll(() => onA.length + onB.length, { timeout: 30_000, interval: 50 }).toBeGreaterThanOrEqual(expected.length);
    // Both loops stopped: any batch under way has committed and been announced.
    await Promise.all([a.app.services.admin.retention.stop(), b.app.services.admin.retention.stop()]);

    // Both instances did some of it, and each message was announced once, by one of them.
    expect(onA.length).toBeGreaterThan(0);
    expect(onB.length).toBeGreaterThan(0);
    expect([...onA, ...onB].sort()).toEqual(expected.map((m) => m.id).sort());

    for (const room of rooms) {
      const mine = sent.get(room)!;
      const changes = ok(await bob.get(`/rooms/${room}/changes?after=${before.get(room)}&limit=100`));
      const tombstoned = mine.filter((m) => EXPIRED.includes(m.seq) && m.id !== alreadyDeleted.id);
      // One change per tombstone, nothing else: no message changed twice, none of the newer ones changed.
      expect(changes.lastChangeSeq).toBe(before.get(room)! + tombstoned.length);
      expect(changes.data.map((m: any) => m.id)).toEqual(tombstoned.map((m) => m.id));
      for (const m of changes.data) expect(m).toMatchObject({ content: '', deletedBy: 'system' });
      const history = ok(await bob.get(`/rooms/${room}/messages?limit=100`)).data;
      expect(history.filter((m: any) => m.seq > 7).map((m: any) => [m.seq, m.content, m.deletedAt])).toEqual(
        [8, 9, 10].map((seq) => [seq, `r${rooms.indexOf(room)} m${seq}`, null]),
      );
      expect(history.filter((m: any) => m.seq <= 7).every((m: any) => m.deletedAt !== null)).toBe(true);
    }
    const deletedBySender = ok(await bob.get(`/messages/${alreadyDeleted.id}`));
    expect(deletedBySender.deletedBy).toBe('alice');
    const cursors = (await a.app.database.db.execute(
      sql`select retained_through_seq as c from chat_room where id in (select jsonb_array_elements_text(${JSON.stringify(rooms)}::jsonb)::uuid)`,
    )) as unknown as { rows: Array<{ c: number | string }> };
    expect(cursors.rows.map((r) => Number(r.c))).toEqual(Array(ROOMS).fill(7));

    // Live clients saw each tombstone once.
    await expect.poll(() => live.length, { timeout: 10_000 }).toBe(expected.length);
    expect(new Set(live.map((e) => e.id)).size).toBe(expected.length);
  }, 60_000);
});
