import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import { request, TEST_JWT_SECRET } from './helpers/app.js';
import { freshDatabase } from './helpers/databases.js';
import { startService, type ServiceProcess } from './helpers/process.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const MESSAGES = 30;

describe('an erase across kill -9', () => {
  it('is taken over after a restart and finishes, repeating nothing', async () => {
    const template = inject('template');
    const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-erase-kill-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      JWT_SECRET: TEST_JWT_SECRET,
      RATE_LIMIT_WRITES_PER_MINUTE: '100000',
      // Slow enough to be killed in the middle: batches of 3, a pause after each.
      ERASE_BATCH_SIZE: '3',
      ADMIN_JOB_PAUSE_MS: '100',
      ADMIN_JOB_LEASE_MS: '1000',
      ADMIN_JOB_POLL_MS: '100',
    };
    if (template.kind === 'postgres') {
      const db = await freshDatabase(template);
      await db.database.close();
      cleanups.push(() => db.drop());
      env['DATABASE_URL'] = db.url!;
    }
    const auth = async (userId: string, role?: 'admin') => ({
      authorization: `Bearer ${await mintToken(TEST_JWT_SECRET, userId, role ? { role } : {})}`,
      'content-type': 'application/json',
    });
    const [erin, bob, root] = await Promise.all([auth('erin'), auth('bob'), auth('root', 'admin')]);
    const call = (svc: ServiceProcess, method: string, p: string, headers: Record<string, string>, body?: unknown) =>
      request(svc.url, p, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

    let svc = await startService(env);
    let alive = true;
    cleanups.push(() => (alive ? svc.kill('SIGKILL').then(() => undefined) : undefined));
    const room = (await call(svc, 'POST', '/rooms', erin, { type: 'group', name: 'g', participantIds: ['bob'] })).body.id as string;
    const sent = await Promise.all(
      Array.from({ length: MESSAGES }, (_, i) => call(svc, 'POST', `/rooms/${room}/messages`, erin, { content: `m${i}` })),
    );
    expect(sent.map((r) => r.status)).toEqual(Array(MESSAGES).fill(201));
    const before = (await call(svc, 'GET', `/rooms/${room}/changes?after=0&limit=1`, bob)).body.lastChangeSeq as number;
    const accepted = await call(svc, 'DELETE', '/admin/users/erin', root);
    expect(accepted.status).toBe(202);
    const { jobId } = accepted.body;

    // Killed once a few batches have committed, well before the last.
    await expect
      .poll(async () => (await call(svc, 'GET', `/admin/jobs/${jobId}`, root)).body.progress.messages ?? 0, {
        timeout: 20_000,
        interval: 20,
      })
      .toBeGreaterThanOrEqual(6);
    await svc.kill('SIGKILL');
    alive = false;
    svc = await startService(env);
    alive = true;
    let job: any;
    await expect
      .poll(async () => (job = (await call(svc, 'GET', `/admin/jobs/${jobId}`, root)).body).status, { timeout: 30_000, interval: 100 })
      .toBe('done');
    expect(job.progress.messages).toBe(MESSAGES);

    // Each message became a tombstone once: one changeSeq each, one contiguous run, nothing else.
    const changes = (await call(svc, 'GET', `/rooms/${room}/changes?after=${before}&limit=100`, bob)).body;
    expect(changes.lastChangeSeq).toBe(before + MESSAGES);
    expect(changes.data).toHaveLength(MESSAGES);
    expect(changes.data.map((m: any) => m.changeSeq)).toEqual(Array.from({ length: MESSAGES }, (_, i) => before + 1 + i));
    expect(changes.data.every((m: any) => m.senderId === 'erin' && m.deletedBy === 'system' && m.content === '')).toBe(true);
    const view = (await call(svc, 'GET', `/rooms/${room}`, bob)).body;
    expect(view.participants.map((p: any) => [p.userId, p.role])).toEqual([['bob', 'owner']]);
  }, 120_000);
});
