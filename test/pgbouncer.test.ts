import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { mintToken } from '../src/auth/tokens.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { MIGRATIONS_DIR, openDatabase } from '../src/db/client.js';
import { request, TEST_JWT_SECRET } from './helpers/app.js';
import { admin, postgresUrl } from './helpers/databases.js';
import { freePort } from './helpers/ports.js';
import { call, connect } from './helpers/sockets.js';

// Debian's pgbouncer (1.18: no protocol-level prepared statements); .ci/run installs it.
const BOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));
const runs = inject('template').kind === 'postgres' && BOUNCER !== undefined;

describe.runIf(runs)('behind PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer)', () => {
  const dbName = `chat_bouncer_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  let dir: string;
  let bouncer: ChildProcess;
  let bouncerLog = '';
  let url: string;
  const apps: App[] = [];
  const baseUrls: string[] = [];

  beforeAll(async () => {
    await admin((c) => c.query(`create database ${dbName}`));
    const upstream = new URL(postgresUrl());
    const port = await freePort();
    dir = mkdtempSync(path.join(tmpdir(), 'chat-pgbouncer-'));
    chmodSync(dir, 0o755); // read by the pgbouncer user when it switches from root
    // Three server connections for two instances of ten pool clients each: statements of one client keep moving
    // between server connections, which is what breaks named statements.
    writeFileSync(
      path.join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `* = host=${upstream.hostname} port=${upstream.port || 5432} user=${decodeURIComponent(upstream.username) || 'postgres'}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = any',
        'pool_mode = transaction',
        'default_pool_size = 3',
        'max_client_conn = 200',
        'ignore_startup_parameters = extra_float_digits',
      ].join('\n'),
      { mode: 0o644 },
    );
    const asRoot = process.getuid?.() === 0 ? ['-u', 'postgres'] : [];
    bouncer = spawn(BOUNCER!, [...asRoot, path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
    bouncer.stdout!.on('data', (b: Buffer) => (bouncerLog += b.toString()));
    bouncer.stderr!.on('data', (b: Buffer) => (bouncerLog += b.toString()));
    url = `postgres://postgres@127.0.0.1:${port}/${dbName}`;
    for (let i = 0; ; i++) {
      try {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.end();
        break;
      } catch (err) {
        if (i > 100) throw new Error(`pgbouncer did not answer:\n${bouncerLog}`, { cause: err });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    bouncer?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
    await admin((c) => c.query(`drop database if exists ${dbName} with (force)`));
  });

  it('the setup: a statement prepared by name on one server connection is unknown on the next (why names are dropped)', async () => {
    const run = async (client: pg.Client | pg.PoolClient) => {
      const holder = new pg.Client({ connectionString: url });
      await holder.connect();
      try {
        await client.query({ name: 'bouncer_probe', text: 'select 1::int as one' });
        // The server connection that statement was prepared on goes back to PgBouncer, and this transaction takes it.
        await holder.query('begin');
        await holder.query('select 1');
        return (await client.query({ name: 'bouncer_probe', text: 'select 1::int as one' })).rows;
      } finally {
        await holder.query('rollback').catch(() => {});
        await holder.end();
      }
    };
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    await expect(run(plain)).rejects.toThrow(/prepared statement "bouncer_probe" does not exist/);
    await plain.end();

    const database = await openDatabase({ url, pooler: 'pgbouncer', poolSize: 1 });
    const pool = (database.db as unknown as { $client: pg.Pool }).$client;
    const client = await pool.connect();
    try {
      expect(await run(client)).toEqual([{ one: 1 }]);
    } finally {
      client.release();
      await database.close();
    }
  });

  it('two instances starting together migrate the empty database once, then serve REST and sockets', async () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: dir,
      LOG_LEVEL: 'silent',
      PORT: '0',
      DATABASE_URL: url,
      DATABASE_POOLER: 'pgbouncer',
    });
    apps.push(...(await Promise.all([buildApp(config), buildApp(config)])));
    for (const app of apps) {
      await app.http.listen({ port: 0, host: '127.0.0.1' });
      baseUrls.push(`http://127.0.0.1:${(app.http.server.address() as net.AddressInfo).port}`);
    }
    const direct = new pg.Client({ connectionString: postgresUrl(dbName) });
    await direct.connect();
    const applied = (await direct.query<{ n: number }>('select count(*)::int as n from drizzle.__drizzle_migrations')).rows[0]!.n;
    await direct.end();
    expect(applied).toBe(readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).length);

    const alice = await mintToken(TEST_JWT_SECRET, 'alice', { name: 'Alice' });
    const bob = await mintToken(TEST_JWT_SECRET, 'bob', { name: 'Bob' });
    const as = (token: string, i: number) => (method: string, p: string, body?: unknown) =>
      request(baseUrls[i % 2]!, p, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    const room = (await as(alice, 0)('POST', '/rooms', { type: 'group', name: 'pooled', participantIds: ['bob'] })).body;
    expect(room.id).toEqual(expect.any(String));

    // Sends, history pages, room lists and searches at once, over both instances: the hot statements (sends, the
    // room check, history) keep landing on server connections that did not parse them.
    const sends = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        as(i % 3 ? alice : bob, i)('POST', `/rooms/${room.id}/messages`, { content: `pooled message ${i}` }),
      ),
    );
    expect(sends.map((r) => r.status)).toEqual(sends.map(() => 201));
    const reads = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 ? as(bob, i)('GET', `/rooms/${room.id}/messages?limit=100`) : as(alice, i)('GET', '/rooms'),
      ),
    );
    expect(reads.map((r) => r.status)).toEqual(reads.map(() => 200));
    const history = (await as(bob, 1)('GET', `/rooms/${room.id}/messages?limit=100`)).body.data as Array<{ seq: number }>;
    expect(history.map((m) => m.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const found = await as(alice, 0)('GET', `/messages/search?q=${encodeURIComponent('pooled')}`);
    expect(found.status).toBe(200);
    expect(found.body.data.length).toBeGreaterThan(0);

    const edited = await as(alice, 1)('PATCH', `/messages/${sends[1]!.body.id}`, { content: 'edited behind the pooler' });
    expect(edited.status).toBe(200);
    const changes = await as(bob, 0)('GET', `/rooms/${room.id}/changes?after=0`);
    expect(changes.status).toBe(200);

    const socket = await connect(baseUrls[1]!, bob);
    try {
      const ack = await call(socket, 'send_message', { chatRoomId: room.id, content: 'by socket', clientMessageId: 'pooled-1' });
      expect(ack).toMatchObject({ ok: true, data: { seq: 41, content: 'by socket' } });
    } finally {
      socket.close();
    }
    // PgBouncer did share its server connections among the instances' clients.
    const servers = await admin(
      async (c) =>
        (await c.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1', [dbName])).rows[0]!.n,
    );
    expect(servers).toBeGreaterThan(1);
    expect(servers).toBeLessThanOrEqual(3);
  });
});

describe.runIf(inject('template').kind === 'pglite')('DATABASE_POOLER', () => {
  it('is none by default, takes pgbouncer with a DATABASE_URL, and stops the start on anything else', () => {
    expect(loadConfig({}).databasePooler).toBe('none');
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h/db', DATABASE_POOLER: 'pgbouncer' }).databasePooler).toBe('pgbouncer');
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@h/db', DATABASE_POOLER: 'pgpool' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: 'postgres://u@h/db', DATABASE_POOLER: 'pgpool' })).toThrow(
      'DATABASE_POOLER must be none or pgbouncer',
    );
    // The embedded engine is reached over its own socket: a pooler setting there is a mistake, not a no-op.
    expect(() => loadConfig({ DATABASE_POOLER: 'pgbouncer' })).toThrow('DATABASE_POOLER needs DATABASE_URL');
  });
});
