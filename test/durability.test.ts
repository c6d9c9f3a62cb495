import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import { request, TEST_JWT_SECRET } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/databases.js';
import { startService, type ServiceProcess } from './helpers/process.js';
import { call, connect } from './helpers/sockets.js';
import type { AckResponse } from '../src/contract/events.js';

const TOTAL = 150;
const SENDERS = 5;

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

/** Settings for service processes on fresh data of this run's engine (a data dir, or a database of their own). */
async function serviceEnv(engine: string | undefined): Promise<Record<string, string>> {
  const template = inject('template');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-process-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { DATA_DIR: dataDir, JWT_SECRET: TEST_JWT_SECRET, RATE_LIMIT_WRITES_PER_MINUTE: '100000' };
  if (template.kind === 'postgres') {
    const db: TestDatabase = await freshDatabase(template);
    await db.database.close(); // the service processes own the connections
    cleanups.push(() => db.drop());
    env['DATABASE_URL'] = db.url!;
  } else {
    env['EMBEDDED_ENGINE'] = engine!;
  }
  return env;
}

// Without DATABASE_URL, both embedded engines: the default server (whose orphan a kill -9 leaves) and PGlite.
const engines = inject('template').kind === 'postgres' ? ['url'] : ['postgres', 'pglite'];

describe.each(engines)('durability under kill -9 (%s)', (engine) => {
  it('stores every acknowledged message exactly once with a dense seq, after retries with the same ids', async () => {
    const env = await serviceEnv(engine);
    const token = await mintToken(TEST_JWT_SECRET, 'alice');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const send = (svc: ServiceProcess, roomId: string, i: number) =>
      request(svc.url, `/rooms/${roomId}/messages`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ content: `m${i}`, clientMessageId: `c${i}` }),
      });

    let svc = await startService(env);
    const room = (await request(svc.url, '/rooms', { method: 'POST', headers, body: JSON.stringify({ type: 'group', name: 'durable' }) }))
      .body;

    // Several senders stream messages; the process is killed mid-stream.
    const acked = new Map<number, { id: string; seq: number }>();
    let next = 0;
    const sender = async () => {
      for (let i = next++; i < TOTAL; i = next++) {
        try {
          const res = await send(svc, room.id, i);
          if (res.status === 201 || res.status === 200) acked.set(i, { id: res.body.id, seq: res.body.seq });
        } catch {
          return; // connection refused or reset: the process is gone
        }
      }
    };
    const senders = Array.from({ length: SENDERS }, sender);
    while (acked.size < TOTAL / 3) await new Promise((r) => setTimeout(r, 5));
    await svc.kill('SIGKILL');
    await Promise.all(senders);
    expect(acked.size).toBeGreaterThan(0);
    expect(acked.size).toBeLessThan(TOTAL);

    // Restart on the same data; retry everything not acknowledged, and some that were, with the same ids.
    svc = await startService(env);
    // The killed service's server outlived it; the new one stops that server before starting its own.
    if (engine === 'postgres') expect(svc.output()).toContain('stopping the embedded PostgreSQL a killed service left running');
    try {
      for (let i = 0; i < TOTAL; i++) {
        if (acked.has(i) && i % 10 !== 0) continue;
        const res = await send(svc, room.id, i);
        expect([200, 201]).toContain(res.status);
        const before = acked.get(i);
        if (before) expect({ id: res.body.id, seq: res.body.seq, status: res.status }).toEqual({ ...before, status: 200 });
        acked.set(i, { id: res.body.id, seq: res.body.seq });
      }
      const stored: Array<{ id: string; seq: number; content: string }> = [];
      for (let after = 0; ;) {
        const page = (await request(svc.url, `/rooms/${room.id}/messages?after=${after}&limit=100`, { headers })).body;
        stored.push(...page.data);
        if (!page.hasMore) break;
        after = page.data[page.data.length - 1].seq;
      }
      expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: TOTAL }, (_, k) => k + 1));
      expect(new Set(stored.map((m) => m.content)).size).toBe(TOTAL);
      for (const [i, { id, seq }] of acked) expect(stored[seq - 1]).toMatchObject({ id, content: `m${i}` });
    } finally {
      await svc.kill('SIGTERM');
    }
  }, 120_000);
});

describe.each(engines)('graceful shutdown (%s)', (engine) => {
  it('on SIGTERM answers sends as stored or UNAVAILABLE, exits 0, and a client that retries the rest by id loses nothing', async () => {
    const env = await serviceEnv(engine);
    const token = await mintToken(TEST_JWT_SECRET, 'alice');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    let svc = await startService(env);
    const room = (await request(svc.url, '/rooms', { method: 'POST', headers, body: JSON.stringify({ type: 'group', name: 'term' }) }))
      .body;
    const socket = await connect(svc.url, token);
    const N = 60;
    const answers = new Map<number, AckResponse<any>>();
    for (let i = 0; i < N; i++)
      void call(socket, 'send_message', { chatRoomId: room.id, content: `t${i}`, clientMessageId: `t${i}` }).then((a) => answers.set(i, a));
    while (answers.size < 5) await new Promise((r) => setTimeout(r, 2));
    const gone = new Promise<string>((resolve) => socket.on('disconnect', resolve));
    expect(await svc.kill('SIGTERM')).toBe(0);
    // A socket closed by the server's shutdown sees a transport close, so its client reconnects (elsewhere).
    expect(await gone).toBe('transport close');
    for (const a of answers.values()) if (!a.ok) expect(a.error.code).toBe('UNAVAILABLE');
    const stored = new Map([...answers].filter(([, a]) => a.ok).map(([i, a]: [number, any]) => [i, a.data]));
    expect(stored.size).toBeGreaterThanOrEqual(5);

    // Restarted, the client retries every send not answered ok with the same clientMessageId.
    svc = await startService(env);
    expect(svc.output()).not.toContain('left running'); // a clean exit stopped its embedded server
    try {
      for (let i = 0; i < N; i++) {
        if (stored.has(i)) continue;
        const res = await request(svc.url, `/rooms/${room.id}/messages`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ content: `t${i}`, clientMessageId: `t${i}` }),
        });
        expect([200, 201]).toContain(res.status);
      }
      const all = (await request(svc.url, `/rooms/${room.id}/messages?limit=100`, { headers })).body.data;
      expect(all.map((m: any) => m.seq)).toEqual(Array.from({ length: N }, (_, k) => k + 1));
      expect(new Set(all.map((m: any) => m.clientMessageId)).size).toBe(N);
      for (const [, m] of stored) expect(all[m.seq - 1]).toMatchObject({ id: m.id, clientMessageId: m.clientMessageId });
    } finally {
      await svc.kill('SIGTERM');
    }
    socket.close();
  }, 120_000);
});
