/**
 * What the probes (bench/probes/) share: the service built in the probe's own process, as main.ts builds it, on a
 * database of its own (a fresh DATA_DIR's embedded PostgreSQL server, or a database created on a PostgreSQL server),
 * with rooms made through the API, and the CPU time its database spent.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildApp, type App } from '../../src/app.js';
import { mintToken, type AuthContext } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import { httpJson } from './processes.js';

export const PROBE_SECRET = 'probe-secret-probe-secret-probe-secret-0123';

const opt = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

/** `--engine=embedded|postgres`: the base URL to create databases on (postgres), or undefined (embedded). */
export function probeEngine(): string | undefined {
  const engine = opt('engine', 'embedded');
  const base = engine === 'postgres' ? process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] : undefined;
  if (engine === 'postgres' && !base) throw new Error('set BENCH_DATABASE_URL (a PostgreSQL server this probe may create databases on)');
  if (engine !== 'postgres' && engine !== 'embedded') throw new Error('--engine is embedded or postgres');
  return base;
}

/** `--name=value` of the probe's command line, or the fallback. */
export const probeOption = opt;

/**
 * Measures each variant once a round, the variants interleaved (so a change in the machine's speed falls on all of
 * them alike), printing each line as it comes, then a Markdown table: one row per variant, its rounds' lines joined.
 */
export async function interleaved<V>(
  variants: readonly V[],
  rounds: number,
  name: (v: V) => string,
  measure: (v: V) => Promise<string>,
  table: { head: string; joiner?: string },
): Promise<void> {
  const results = new Map<string, string[]>();
  for (let r = 0; r < rounds; r++)
    for (const v of variants) {
      const line = await measure(v);
      results.set(name(v), [...(results.get(name(v)) ?? []), line]);
      process.stdout.write(`round ${r + 1} ${name(v)}: ${line}\n`);
    }
  process.stdout.write(`\n${table.head}\n|---|---|\n`);
  for (const [n, lines] of results) process.stdout.write(`| ${n} | ${lines.join(table.joiner ?? '; ')} |\n`);
}

export interface ProbeApp {
  app: App;
  dataDir: string;
  /** How the probe itself reaches the service's database (its own connection, outside the service's pool). */
  connection: pg.ClientConfig;
  /** Whatever else the probe set up, stopped (last first) before the app and its database. */
  stops: Array<() => Promise<unknown> | void>;
  close(): Promise<void>;
}

/** The service on a database of its own, listening on a free port; `env` adds to (or overrides) the probe's settings. */
export async function probeApp(base: string | undefined, env: Record<string, string> = {}): Promise<ProbeApp> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-probe-'));
  // The embedded server runs as its own account when we are root, which must pass through DATA_DIR.
  chmodSync(dataDir, 0o755);
  const stops: Array<() => Promise<unknown> | void> = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  let connection: pg.ClientConfig = { host: path.join(dataDir, 'pg.run'), port: 5432, user: 'postgres', database: 'postgres' };
  try {
    if (base) {
      const name = `chat_probe_${process.pid}_${Date.now()}`;
      const admin = new pg.Client({ connectionString: base });
      await admin.connect();
      await admin.query(`create database ${name}`);
      stops.push(async () => {
        await admin.query(`drop database ${name} with (force)`);
        await admin.end();
      });
      const url = new URL(base);
      url.pathname = `/${name}`;
      connection = { connectionString: url.href };
    }
    const config = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET: PROBE_SECRET,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      PORT: '0',
      ...(connection.connectionString ? { DATABASE_URL: connection.connectionString } : {}),
      ...env,
    });
    const app = await buildApp(config);
    stops.push(() => app.close());
    await app.http.listen({ port: 0, host: '127.0.0.1' });
    const probe: ProbeApp = {
      app,
      dataDir,
      connection,
      stops: [],
      // The probe's own stops go first: they may still be using the app.
      close: async () => {
        for (const stop of [...probe.stops].reverse()) await stop();
        await close();
      },
    };
    return probe;
  } catch (err) {
    await close();
    throw err;
  }
}

/** Who calls a service method directly, as a token for `userId` with `role` and no other claims would make them. */
export function authOf(userId: string, role: AuthContext['role']): AuthContext {
  return { userId, name: null, picture: null, role, businessIds: [], exp: undefined };
}

/** `count` group rooms of `members`, made through the API as clients make them (each member's token seen once first). */
export async function makeRooms(
  app: App,
  count: number,
  members: number,
  prefix = 'probe',
): Promise<Array<{ id: string; members: string[] }>> {
  const address = app.http.server.address();
  const api = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api/v1/chat`;
  const call = async (userId: string, method: string, p: string, body?: unknown) => {
    const res = await httpJson(method, api + p, await mintToken(PROBE_SECRET, userId), body);
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as { id: string };
  };
  const rooms: Array<{ id: string; members: string[] }> = [];
  for (let r = 0; r < count; r++) {
    const ids = Array.from({ length: members }, (_, k) => `${prefix}-${r}-${k}`);
    for (const m of ids) await call(m, 'GET', '/rooms');
    const room = await call(ids[0]!, 'POST', '/rooms', { type: 'group', name: `${prefix} ${r}`, participantIds: ids.slice(1) });
    rooms.push({ id: room.id, members: ids });
  }
  return rooms;
}

/**
 * CPU time (ms) of the embedded server's processes (the postmaster and its children, from /proc): what the database
 * spent, whichever core it ran on. Children that exited since are not counted (the server keeps its backends).
 */
export function databaseCpuMs(dataDir: string): number | null {
  try {
    const postmaster = Number(readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    let ticks = 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      // Fields after the command (which may hold spaces): state, ppid, …; utime and stime are the 14th and 15th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(entry) === postmaster || Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}
