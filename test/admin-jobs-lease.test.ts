import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { AdminRepository } from '../src/admin/admin.repository.js';
import { dbRows, startPeer, startTestApp, type Client, type TestApp } from './helpers/app.js';
import { jobEnded } from './helpers/changes.js';
import { buildMessages, buildRoom } from './helpers/factories.js';
import { runsClustered } from './helpers/redis.js';
import { sleep } from './helpers/sockets.js';

// Two instances share one PostgreSQL database (PGlite is one process's: nothing to compete for there).
const clustered = runsClustered();

const FAYE = 'u-faye-lease';
const LEASE_MS = 300;

/** Runs `hold` in a transaction of its own until `release` is called; resolves once `hold` has taken its lock. */
async function holding(
  t: TestApp,
  hold: (tx: Parameters<Parameters<TestApp['app']['database']['db']['transaction']>[0]>[0]) => Promise<unknown>,
) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const done = t.app.database.db.transaction(async (tx) => {
    await hold(tx);
    locked();
    await released;
  });
  await Promise.race([isLocked, done]);
  return async () => {
    release();
    await done;
  };
}

async function stepOf(t: TestApp, jobId: string): Promise<string | null | undefined> {
  const [row] = await dbRows<{ step: string | null }>(t, sql`select step from admin_job where id = ${jobId}`);
  return row?.step;
}

async function queued(res: { status: number; body: any }): Promise<string> {
  expect(res.status).toBe(202);
  return res.body.jobId as string;
}

describe.runIf(clustered)('an erase step that takes longer than the lease, rests longer than it, with two instances', () => {
  let a: TestApp, b: TestApp;
  let faye: Client, root: Client;
  /** Every job either instance's worker took, in order. */
  const claimed: string[] = [];

  beforeAll(async () => {
    // Two batches of messages, each followed by a rest twice the lease: the holder keeps the job through them too.
    a = await startTestApp({
      ADMIN_JOB_LEASE_MS: String(LEASE_MS),
      ADMIN_JOB_POLL_MS: '20',
      ADMIN_JOB_PAUSE_MS: String(2 * LEASE_MS),
      ERASE_BATCH_SIZE: '2',
    });
    b = await startPeer(a);
    [faye, root] = await Promise.all([a.as(FAYE, { name: 'Faye' }), a.as('root', { role: 'admin' })]);
    const claim = AdminRepository.prototype.claim;
    vi.spyOn(AdminRepository.prototype, 'claim').mockImplementation(async function (this: AdminRepository, leaseMs: number) {
      const job = await claim.call(this, leaseMs);
      if (job) claimed.push(job.id);
      return job;
    });
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('keeps the job with the instance working on it, and finishes it', async () => {
    const room = (await buildRoom(faye, { name: 'lease', participantIds: ['bob'] })).id;
    await buildMessages(faye, room, 3, (i) => `m${i}`);
    // The last step deletes the user's push subscriptions: held up here for five leases, as a walk over a large
    // table would hold it. The steps before it do not touch that table.
    const release = await holding(a, (tx) => tx.execute(sql`lock table push_subscription in access exclusive mode`));
    let jobId: string;
    try {
      jobId = await queued(await root.delete(`/admin/users/${FAYE}`));
      // Its rooms left, the job is in its last step, waiting on the lock.
      await expect.poll(() => stepOf(a, jobId), { timeout: 15_000, interval: 50 }).toBe('rooms');
      await sleep(5 * LEASE_MS);
    } finally {
      await release();
    }

    const job = await jobEnded(root, jobId, { timeout: 30_000 });
    expect(job).toMatchObject({ status: 'done' });
    expect(job.progress).toMatchObject({ messages: 3, rooms: 1 });
    // Taken once: the other instance never took it over while its holder rested or waited on the lock, renewing its
    // lease.
    expect(claimed.filter((id) => id === jobId)).toEqual([jobId]);
  });
});

describe.runIf(inject('template').kind === 'postgres')('an admin who erases themselves, the last step longer than the lease', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ADMIN_JOB_LEASE_MS: String(LEASE_MS), ADMIN_JOB_POLL_MS: '20' });
  });
  afterAll(async () => t?.close());

  it('finishes: the renewal beside the batch does not wait for the job row the batch rewrites', async () => {
    const gus = await t.as('u-gus-admin', { name: 'Gus', role: 'admin' });
    await buildMessages(gus, (await buildRoom(gus, { name: 'self', participantIds: ['bob'] })).id, 2, (i) => `g${i}`);
    // The last step rewrites the jobs Gus created (this one), then anonymises him. It is first held at its start (push
    // subscriptions), while his profile row is taken; let go, it rewrites the job row and waits on the profile with
    // that row locked, while renewals come due.
    const atStart = await holding(t, (tx) => tx.execute(sql`lock table push_subscription in access exclusive mode`));
    let profile: (() => Promise<void>) | undefined;
    let jobId: string;
    try {
      jobId = await queued(await gus.delete('/admin/users/u-gus-admin'));
      await expect.poll(() => stepOf(t, jobId), { timeout: 15_000, interval: 50 }).toBe('rooms');
      profile = await holding(t, (tx) => tx.execute(sql`select id from chat_user where id = 'u-gus-admin' for update`));
      await atStart();
      await sleep(5 * LEASE_MS);
    } finally {
      await atStart();
      await profile?.();
    }
    const root = await t.as('root', { role: 'admin' });
    expect(await jobEnded(root, jobId, { timeout: 30_000 })).toMatchObject({
      status: 'done',
      progress: expect.objectContaining({ messages: 2 }),
    });
  });
});
