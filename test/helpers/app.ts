import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp, API_PREFIX, type App, type BuildOptions } from '../../src/app.js';
import { mintToken, type MintOptions } from '../../src/auth/tokens.js';
import { loadConfig, type Config } from '../../src/config.js';
import { redisConfigured } from '../../src/config/database.js';
import { openDatabase, type Database } from '../../src/db/client.js';
import type { SQL } from 'drizzle-orm';
import { inject } from 'vitest';
import { freshDatabase, type TestDatabase } from './databases.js';
import './global-setup.js';
import { dropRedisKeys, redisEnv } from './redis.js';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export interface Res<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface TestApp {
  app: App;
  config: Config;
  db: TestDatabase;
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  token(userId: string, opts?: MintOptions): Promise<string>;
  /** A client for one user: every call carries their token. */
  as(userId: string, opts?: MintOptions): Promise<Client>;
  close(): Promise<void>;
}

/** The rows of one statement on the app's own database (a test looking past the API at what is stored). */
export async function dbRows<T = any>(t: TestApp, query: SQL): Promise<T[]> {
  return ((await t.app.database.db.execute(query)) as unknown as { rows: T[] }).rows;
}

export interface Client {
  userId: string;
  token: string;
  get<T = any>(path: string): Promise<Res<T>>;
  post<T = any>(path: string, body?: unknown): Promise<Res<T>>;
  patch<T = any>(path: string, body?: unknown): Promise<Res<T>>;
  put<T = any>(path: string, body?: unknown): Promise<Res<T>>;
  delete<T = any>(path: string): Promise<Res<T>>;
  raw(path: string, init: RequestInit): Promise<Res>;
}

export async function request(baseUrl: string, path: string, init: RequestInit = {}): Promise<Res> {
  const res = await fetch(
    baseUrl +
      (path.startsWith('/api') || path.startsWith('/health') || path.startsWith('/docs') || path.startsWith('/metrics')
        ? path
        : API_PREFIX + path),
    init,
  );
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body };
}

/**
 * The real app, built as main.ts builds it, on a fresh database, listening on port 0. `opts.resolve`: DNS answers;
 * `opts.webDir`: a web app build to serve instead of web/dist.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  opts: Pick<BuildOptions, 'resolve' | 'webDir'> = {},
): Promise<TestApp> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'chat-data-'));
  const template = inject('template');
  const config = testConfig(dataDir, { ...redisEnv(template.kind), DATABASE_PARTITIONS: String(template.partitions), ...env });
  const db = await freshDatabase(template);
  return launch(
    config,
    db,
    async () => {
      if (config.redisUrl) await dropRedisKeys(config.redisUrl, config.redisPrefix);
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
    opts,
  );
}

/** A test's settings: quiet, on port 0, with its own DATA_DIR; `env` on top. */
function testConfig(dataDir: string, env: Record<string, string>): Config {
  return loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    PORT: '0',
    ...env,
  });
}

/** The real app on a PostgreSQL server the test started itself (`url`), migrated at start as main.ts does. */
export async function startAppOn(url: string, env: Record<string, string> = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'chat-data-'));
  const config = testConfig(dataDir, { DATABASE_URL: url, ...env });
  const database = await openDatabase({ url });
  await database.migrate();
  const db = { database, url, dataDir: undefined, drop: async () => {} };
  return launch(config, db, () => rm(dataDir, { recursive: true, force: true }));
}

/** The real app on a database the test opened itself (a restart on the same data), as main.ts builds it; closing it closes the database. */
export async function startAppWith(database: Database, env: Record<string, string> = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'chat-data-'));
  const config = testConfig(dataDir, env);
  return launch(config, { database, url: undefined, dataDir: undefined, drop: async () => {} }, () =>
    rm(dataDir, { recursive: true, force: true }),
  );
}

/**
 * A second instance of the same deployment: same PostgreSQL database, same Redis prefix, its own port and pool.
 * Only on the PostgreSQL run with TEST_REDIS_URL (PGlite is one process's database).
 */
export async function startPeer(of: TestApp): Promise<TestApp> {
  if (!of.db.url || !redisConfigured(of.config)) throw new Error('peers need PostgreSQL and Redis');
  const database = await openDatabase({ url: of.db.url });
  return launch(of.config, { ...of.db, database, drop: async () => {} }, async () => {});
}

async function launch(
  config: Config,
  db: TestDatabase,
  cleanup: () => Promise<void>,
  opts: Pick<BuildOptions, 'resolve' | 'webDir'> = {},
): Promise<TestApp> {
  const app = await buildApp(config, { database: db.database, ...opts });
  await app.http.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.http.server.address();
  const baseUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const token = (userId: string, opts?: MintOptions) => mintToken(TEST_JWT_SECRET, userId, opts);
  return {
    app,
    config,
    db,
    baseUrl,
    token,
    async as(userId, opts) {
      const t = await token(userId, opts);
      const call = (method: string) => (p: string, body?: unknown) =>
        request(baseUrl, p, {
          method,
          headers: { authorization: `Bearer ${t}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      return {
        userId,
        token: t,
        get: (p: string) => call('GET')(p),
        post: call('POST'),
        patch: call('PATCH'),
        put: call('PUT'),
        delete: (p: string) => call('DELETE')(p),
        raw: (p: string, init: RequestInit) =>
          request(baseUrl, p, { ...init, headers: { authorization: `Bearer ${t}`, ...(init.headers ?? {}) } }),
      };
    },
    async close() {
      await app.close();
      await cleanup();
    },
  };
}
