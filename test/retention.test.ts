import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { ok, recordMessageEvents } from './helpers/changes.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';
import { connect, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client;
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  t = await startTestApp({
    RATE_LIMIT_WRITES_PER_MINUTE: '100000',
    RETENTION_DAYS: '30',
    RETENTION_DAYS_DIRECT: '2',
    RETENTION_INTERVAL_MS: '50',
    RETENTION_BATCH_SIZE: '2',
    RETENTION_PAUSE_MS: '0',
  });
  [alice, bob] = await Promise.all([t.as('alice'), t.as('bob')]);
});
afterAll(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await t?.close();
});

/** Messages of a room made `days` old, as if sent then. */
const backDate = (roomId: string, seqs: number[], days: number) =>
  t.app.database.db.execute(
    sql`update chat_message set created_at = now() - ${days}::int * interval '1 day'
        where room_id = ${roomId} and seq in (select jsonb_array_elements_text(${JSON.stringify(seqs)}::jsonb)::bigint)`,
  );
const deletedSeqs = async (c: Client, roomId: string) =>
  ok(await c.get(`/rooms/${roomId}/messages?limit=100`))
    .data.filter((m: any) => m.deletedAt !== null)
    .map((m: any) => m.seq)
    .sort((a: number, b: number) => a - b);

describe('retention', () => {
  it('turns messages older than the room type’s limit into tombstones by "system", live and in the change log; sends go on', async () => {
    const group = (await buildRoom(alice, { participantIds: ['bob'] })).id;
    const direct = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body.id as string;
    const socket = await connect(t.baseUrl, bob.token);
    sockets.push(socket);
    const events = recordMessageEvents(socket);
    await buildMessages(alice, group, 8, (i) => `group ${i}`);
    await buildMessages(alice, direct, 4, (i) => `direct ${i}`);
    const before = ok(await bob.get(`/rooms/${group}/changes?after=0&limit=1`)).lastChangeSeq;

    // Group: 1–5 are 40 days old (past 30), 6 is 10 days old (kept). Direct (2 days): 1–2 are 3 days old, 3 is 1 day old.
    await backDate(group, [1, 2, 3, 4, 5], 40);
    await backDate(group, [6], 10);
    await backDate(direct, [1, 2], 3);
    await backDate(direct, [3], 1);
    // Sends while retention works.
    const during = await Promise.all([0, 1, 2].map((i) => buildMessage(bob, group, { content: `during ${i}` })));
    expect(during.map((m) => m.seq)).toEqual([9, 10, 11]);

    await expect.poll(() => deletedSeqs(bob, group), { timeout: 10_000 }).toEqual([1, 2, 3, 4, 5]);
    await expect.poll(() => deletedSeqs(bob, direct), { timeout: 10_000 }).toEqual([1, 2]);

    const history = ok(await bob.get(`/rooms/${group}/messages?limit=100`)).data;
    for (const m of history.filter((h: any) => h.seq <= 5)) expect(m).toMatchObject({ content: '', deletedBy: 'system' });
    expect(history.filter((h: any) => h.seq > 5).map((h: any) => h.content)).toEqual([
      'group 5',
      'group 6',
      'group 7',
      'during 0',
      'during 1',
      'during 2',
    ]);
    const changes = ok(await bob.get(`/rooms/${group}/changes?after=${before}&limit=100`));
    const tombstones = changes.data.filter((m: any) => m.deletedAt !== null);
    expect(tombstones.map((m: any) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    await expect.poll(() => events.filter((e) => e.event === 'message_deleted').length).toBe(7);
    expect(events.filter((e) => e.event === 'message_deleted' && e.payload.chatRoomId === group).map((e) => e.payload)).toEqual(
      tombstones.map((m: any) => ({
        chatRoomId: group,
        id: m.id,
        seq: m.seq,
        changeSeq: m.changeSeq,
        deletedAt: m.deletedAt,
        deletedBy: 'system',
      })),
    );
    const cursor = (await t.app.database.db.execute(
      sql`select id, retained_through_seq from chat_room where id in (${group}, ${direct}) order by id`,
    )) as unknown as { rows: Array<{ id: string; retained_through_seq: number | string }> };
    expect(Object.fromEntries(cursor.rows.map((r) => [r.id, Number(r.retained_through_seq)]))).toEqual({ [group]: 5, [direct]: 2 });
    // Sending after it is as before.
    expect((await buildMessage(alice, group, { content: 'after' })).seq).toBe(12);
  });

  it('is validated at start: whole days from 1, per room type', () => {
    const base = { NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(40), DATA_DIR: t.config.dataDir };
    expect(loadConfig(base).retention.days).toEqual({ direct: undefined, group: undefined, business: undefined, support: undefined });
    expect(loadConfig({ ...base, RETENTION_DAYS: '7', RETENTION_DAYS_SUPPORT: '365' }).retention.days).toEqual({
      direct: 7,
      group: 7,
      business: 7,
      support: 365,
    });
    for (const [name, value] of [
      ['RETENTION_DAYS', '0'],
      ['RETENTION_DAYS', '1.5'],
      ['RETENTION_DAYS_GROUP', 'forever'],
      ['RETENTION_INTERVAL_MS', '-1'],
    ] as const) {
      expect(() => loadConfig({ ...base, [name]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ ...base, [name]: value })).toThrow(name);
    }
  });
});
