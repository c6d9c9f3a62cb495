import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { mintToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { request, TEST_JWT_SECRET } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/databases.js';
import { startProxy, type Proxy } from './helpers/proxy.js';
import { dropRedisKeys, runsClustered, uniquePrefix } from './helpers/redis.js';

const withServers = runsClustered();

/** Polls until `check` holds: outages are noticed and recovered from by the service itself, not instantly. */
async function eventually(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.runIf(withServers)('outages of PostgreSQL and Redis', () => {
  let db: TestDatabase, pgProxy: Proxy, redisProxy: Proxy, app: App, baseUrl: string, prefix: string;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-outage-'));
  let headers: Record<string, string>;

  beforeAll(async () => {
    db = await freshDatabase(inject('template'));
    const pgUrl = new URL(db.url!);
    pgProxy = await startProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    pgUrl.host = `127.0.0.1:${pgProxy.port}`;
    const redisUrl = new URL(process.env['TEST_REDIS_URL']!);
    redisProxy = await startProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
    redisUrl.host = `127.0.0.1:${redisProxy.port}`;
    prefix = uniquePrefix();
    const config = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      DATABASE_URL: pgUrl.toString(),
      REDIS_URL: redisUrl.toString(),
      REDIS_PREFIX: prefix,
    });
    app = await buildApp(config, { database: await openDatabase({ url: config.databaseUrl }) });
    await app.http.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(app.http.server.address() as { port: number }).port}`;
    headers = { authorization: `Bearer ${await mintToken(TEST_JWT_SECRET, 'alice')}`, 'content-type': 'application/json' };
  });
  afterAll(async () => {
    await pgProxy?.restore().catch(() => {});
    await redisProxy?.restore().catch(() => {});
    await app?.close();
    await pgProxy?.close();
    await redisProxy?.close();
    await dropRedisKeys(process.env['TEST_REDIS_URL']!, prefix);
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const health = async () => (await request(baseUrl, '/health')).status;
  const count = async () =>
    ((await db.database.db.execute('select count(*)::int as n from chat_message' as never)) as unknown as { rows: Array<{ n: number }> })
      .rows[0]!.n;

  it('answers 503 while PostgreSQL is away, stores nothing half-written, and recovers by itself', async () => {
    const room = (await request(baseUrl, '/rooms', { method: 'POST', headers, body: JSON.stringify({ type: 'group', name: 'outage' }) }))
      .body;
    expect(await health()).toBe(200);
    await pgProxy.cut();
    await eventually(async () => (await health()) === 503);
    const during = await request(baseUrl, `/rooms/${room.id}/messages`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ content: 'during', clientMessageId: 'd1' }),
    });
    expect(during.status).toBe(503);
    expect(during.body.code).toBe('UNAVAILABLE');
    expect(during.headers.get('retry-after')).not.toBeNull();
    expect(await count()).toBe(0);
    await pgProxy.restore();
    await eventually(async () => (await health()) === 200);
    const after = await request(baseUrl, `/rooms/${room.id}/messages`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ content: 'after', clientMessageId: 'd1' }),
    });
    expect(after.status).toBe(201);
    expect(after.body.seq).toBe(1);
  }, 60_000);

  it('reports 503 while Redis is away and recovers by itself', async () => {
    expect(await health()).toBe(200);
    await redisProxy.cut();
    await eventually(async () => (await health()) === 503);
    const res = await request(baseUrl, '/health');
    // A problem like every other error: the same type, title and code as an UNAVAILABLE from any route.
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toEqual({
      type: 'urn:chat:error:unavailable',
      title: 'Service Unavailable',
      status: 503,
      code: 'UNAVAILABLE',
      detail: 'redis not answering',
    });
    await redisProxy.restore();
    await eventually(async () => (await health()) === 200);
  }, 60_000);
});

describe.runIf(!withServers)('outages', () => {
  it('are staged against PostgreSQL and Redis (TEST_DATABASE_URL and TEST_REDIS_URL); skipped on this run', () => {
    expect(withServers).toBe(false);
  });
});
