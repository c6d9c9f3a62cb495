import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdminRepository } from '../src/admin/admin.repository.js';
import type { EventName } from '../src/events.js';
import { startPeer, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { jobEnded, ok, react } from './helpers/changes.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';
import { connect, record, type ClientSocket } from './helpers/sockets.js';
import { runsClustered } from './helpers/redis.js';

// Two instances of one deployment share one PostgreSQL database and one Redis. PGlite is an embedded database that
// one process opens from its data directory: a second instance cannot open the same one, so there is nothing to
// compete for on that run (as in cluster.test.ts).
const clustered = runsClustered();

const ERIN = 'u-erin-2inst';
const IN_G1 = 12;
const IN_G2 = 9;

/** Every publish of `events` on one instance's bus: who announced what, after its commit. */
function announced(t: TestApp, events: EventName[]): Array<{ event: EventName; payload: any }> {
  const seen: Array<{ event: EventName; payload: any }> = [];
  for (const event of events) t.app.bus.on(event, (payload) => void seen.push({ event, payload }));
  return seen;
}
const EVENTS: EventName[] = ['message.deleted', 'reaction.updated', 'participant.removed', 'room.updated'];

describe.runIf(clustered)('an erase job with two instances running their job workers', () => {
  let a: TestApp, b: TestApp;
  let erin: Client, bob: Client, carol: Client, rootA: Client, rootB: Client;
  const sockets: ClientSocket[] = [];

  beforeAll(async () => {
    a = await startTestApp({
      RATE_LIMIT_WRITES_PER_MINUTE: '100000',
      ERASE_BATCH_SIZE: '3',
      // Each instance pauses after every batch for longer than its lease, and its renewals do not get through (below):
      // the other one takes the job over meanwhile, and the paused one's next batch finds its lease gone and rolls
      // back. So the job keeps changing hands.
      ADMIN_JOB_LEASE_MS: '300',
      ADMIN_JOB_PAUSE_MS: '700',
      ADMIN_JOB_POLL_MS: '20',
    });
    b = await startPeer(a);
    // As from an instance whose renewals stall (a busy connection pool, a slow network): the lease runs out in a rest.
    vi.spyOn(AdminRepository.prototype, 'renew').mockResolvedValue(undefined);
    [erin, bob, carol, rootA] = await Promise.all([
      a.as(ERIN, { name: 'Erin' }),
      a.as('bob', { name: 'Bob' }),
      a.as('carol', { name: 'Carol' }),
      a.as('root', { role: 'admin' }),
    ]);
    rootB = await b.as('root', { role: 'admin' });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    sockets.splice(0).forEach((s) => s.close());
    await b?.close();
    await a?.close();
  });

  it('finishes once: every message tombstoned once, each reaction removed once, each room left once, the counts right', async () => {
    const g1 = (await buildRoom(erin, { name: 'g1', participantIds: ['bob', 'carol'] })).id;
    const g2 = (await buildRoom(erin, { name: 'g2', participantIds: ['carol'] })).id;
    const hers1 = await buildMessages(erin, g1, IN_G1, (i) => `g1 ${i}`);
    const hers2 = await buildMessages(erin, g2, IN_G2, (i) => `g2 ${i}`);
    const bobs = [await buildMessage(bob, g1, { content: 'b0' }), await buildMessage(bob, g1, { content: 'b1' })];
    for (const [m, emoji] of [
      [bobs[0]!, '🎉'],
      [bobs[0]!, '👀'],
      [bobs[1]!, '🎉'],
    ] as const)
      expect((await react(erin, m.id, emoji)).status).toBe(200);
    expect((await react(carol, bobs[1]!.id, '🎉')).status).toBe(200);
    const before1 = ok(await bob.get(`/rooms/${g1}`)).lastChangeSeq as number;
    const before2 = ok(await carol.get(`/rooms/${g2}`)).lastChangeSeq as number;

    // Clients on both instances; every publish on each instance's bus.
    const bobSocket = await connect(b.baseUrl, bob.token);
    const carolSocket = await connect(a.baseUrl, carol.token);
    sockets.push(bobSocket, carolSocket);
    const bobDeleted = record(bobSocket, 'message_deleted');
    const carolDeleted = record(carolSocket, 'message_deleted');
    const onA = announced(a, EVENTS);
    const onB = announced(b, EVENTS);

    // Asked on both instances at once: one job.
    const [fromA, fromB] = await Promise.all([rootA.delete(`/admin/users/${ERIN}`), rootB.delete(`/admin/users/${ERIN}`)]);
    expect([fromA.status, fromB.status]).toEqual([202, 202]);
    expect(fromB.body.jobId).toBe(fromA.body.jobId);
    const jobId = fromA.body.jobId as string;
    const job = await jobEnded(rootB, jobId, { timeout: 60_000, interval: 100 });
    expect(job).toMatchObject({ id: jobId, userId: ERIN, status: 'done', finishedAt: expect.any(String) });
    expect(job).not.toHaveProperty('error');
    expect(job.progress).toMatchObject({ messages: IN_G1 + IN_G2, reactions: 3, rooms: 2 });
    // Both workers stopped: whatever either had left to announce after its last commit has been announced.
    await Promise.all([a.app.services.admin.jobs.stop(), b.app.services.admin.jobs.stop()]);
    const jobs = (await a.app.database.db.execute(sql`select id, status from admin_job where subject = ${ERIN}`)) as unknown as {
      rows: Array<{ id: string; status: string }>;
    };
    expect(jobs.rows).toEqual([{ id: jobId, status: 'done' }]);

    // The job changed hands: both instances committed batches of it (each announces only what it committed).
    const deletedOn = (seen: typeof onA) => seen.filter((e) => e.event === 'message.deleted').length;
    expect(deletedOn(onA)).toBeGreaterThan(0);
    expect(deletedOn(onB)).toBeGreaterThan(0);
    // Announced once each, by one instance or the other.
    const all = [...onA, ...onB];
    const ids = (event: EventName) => all.filter((e) => e.event === event);
    const deletedIds = ids('message.deleted').map((e) => e.payload.id as string);
    expect(deletedIds.sort()).toEqual([...hers1, ...hers2].map((m) => m.id).sort());
    expect(
      ids('reaction.updated')
        .map((e) => e.payload.messageId as string)
        .sort(),
    ).toEqual(bobs.map((m) => m.id).sort());
    expect(ids('participant.removed').map((e) => [e.payload.roomId, e.payload.userId])).toEqual(
      expect.arrayContaining([
        [g1, ERIN],
        [g2, ERIN],
      ]),
    );
    expect(ids('participant.removed')).toHaveLength(2);
    expect(
      ids('room.updated')
        .map((e) => e.payload.roomId as string)
        .sort(),
    ).toEqual([g1, g2].sort());

    // The change log: one change per tombstone, in one contiguous run per room, then one per unreacted message.
    const changes1 = ok(await bob.get(`/rooms/${g1}/changes?after=${before1}&limit=100`));
    expect(changes1.lastChangeSeq).toBe(before1 + IN_G1 + bobs.length);
    const tombs1 = changes1.data.filter((m: any) => m.senderId === ERIN);
    expect(tombs1.map((m: any) => m.changeSeq)).toEqual(Array.from({ length: IN_G1 }, (_, i) => before1 + 1 + i));
    expect(tombs1.map((m: any) => m.id)).toEqual(hers1.map((m) => m.id));
    for (const m of tombs1) expect(m).toMatchObject({ content: '', deletedBy: 'system' });
    expect(changes1.data.filter((m: any) => m.senderId === 'bob').map((m: any) => [m.content, m.reactions])).toEqual([
      ['b0', []],
      ['b1', [{ emoji: '🎉', count: 1, me: false }]],
    ]);
    const changes2 = ok(await carol.get(`/rooms/${g2}/changes?after=${before2}&limit=100`));
    expect(changes2.lastChangeSeq).toBe(before2 + IN_G2);
    expect(changes2.data.map((m: any) => [m.id, m.changeSeq, m.deletedBy])).toEqual(hers2.map((m, i) => [m.id, before2 + 1 + i, 'system']));

    // Live clients on either instance saw each tombstone of their room once.
    await expect.poll(() => bobDeleted.length, { timeout: 10_000 }).toBe(IN_G1);
    await expect.poll(() => carolDeleted.length, { timeout: 10_000 }).toBe(IN_G1 + IN_G2);
    expect(new Set(bobDeleted.map((e) => e.id)).size).toBe(IN_G1);
    expect(new Set(carolDeleted.map((e) => e.id)).size).toBe(IN_G1 + IN_G2);

    // Each room handed over once: one owner, erin gone.
    const room1 = ok(await bob.get(`/rooms/${g1}`));
    expect(room1.participants.map((p: any) => [p.userId, p.role]).sort()).toEqual([
      ['bob', 'owner'],
      ['carol', 'member'],
    ]);
    const room2 = ok(await carol.get(`/rooms/${g2}`));
    expect(room2.participants.map((p: any) => [p.userId, p.role])).toEqual([['carol', 'owner']]);
    const profile = ok(await rootA.get(`/admin/users/${ERIN}/export`)).user;
    expect(profile).toMatchObject({ id: ERIN, name: null, erasedAt: expect.any(String) });
  }, 90_000);
});
