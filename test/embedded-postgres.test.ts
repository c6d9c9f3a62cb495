import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, statSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, ConfigError } from '../src/config.js';
import { queryRows, type Database } from '../src/db/client.js';
import {
  binariesIn,
  closedOnTheWay,
  findBinaries,
  hydrateSymlinks,
  serverAccount,
  type PostgresBinaries,
} from '../src/db/embedded/binaries.js';
import { startEmbeddedPostgres } from '../src/db/embedded/postgres-server.js';
import { chooseEngine, openConfigured } from '../src/db/open.js';

// The server's lifecycle is engine-independent: run it once, in the embedded project.
const here = inject('template').kind === 'pglite';
const found = findBinaries();
const binaries = 'missing' in found ? undefined : (found as PostgresBinaries);

const dirs: string[] = [];
const tempDir = (prefix = 'chat-embedded-') => {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const postmasterPid = (dir: string) => Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
const settings = (dataDir: string) => ({ databaseUrl: undefined, embeddedEngine: 'postgres' as const, dataDir });
const one = async <T>(database: Database, query: ReturnType<typeof sql>) => (await queryRows<T>(database.db, query))[0]!;

describe.runIf(here)('embedded PostgreSQL', () => {
  it('has binaries for this machine', () => {
    expect(binaries, 'missing' in found ? found.missing : '').toBeDefined();
  });

  it('creates a cluster under DATA_DIR, runs the migrations, listens on a socket only, and keeps data across restarts', async () => {
    const dataDir = tempDir();
    let database = await openConfigured(settings(dataDir));
    await database.migrate();
    expect(database.kind).toBe('postgres');
    const info = await one<{ listen: string; socket: string; lower: string; similar: number; plain: string }>(
      database,
      sql`select current_setting('listen_addresses') as listen, current_setting('unix_socket_directories') as socket,
                 lower('ÉCOLE') as lower, similarity('hello', 'hallo') as similar, 'x' as plain`,
    );
    expect(info).toMatchObject({ listen: '', socket: path.join(dataDir, 'pg.run'), lower: 'école' });
    expect(info.similar).toBeGreaterThan(0);
    await database.db.execute(sql`create table keep_me (v text)`);
    await database.db.execute(sql`insert into keep_me values ('still here')`);
    const pid = postmasterPid(path.join(dataDir, 'pg'));
    await database.close();
    expect(alive(pid)).toBe(false);
    expect(existsSync(path.join(dataDir, 'pg.owner'))).toBe(false);

    database = await openConfigured(settings(dataDir));
    try {
      expect(await one<{ v: string }>(database, sql`select v from keep_me`)).toEqual({ v: 'still here' });
    } finally {
      await database.close();
    }
  });

  it('stops a server that a killed service left running, and starts its own on the same data', async () => {
    const dataDir = tempDir();
    const dir = path.join(dataDir, 'pg');
    // The first "service" never stops its server: as after a kill -9, the owner file names a process that is gone.
    await startEmbeddedPostgres({ dir, binaries: binaries! });
    const orphan = postmasterPid(dir);
    writeFileSync(`${dir}.owner`, String(await deadPid()));
    const warnings: string[] = [];
    const log = { info: () => {}, error: () => {}, warn: (_: object, msg: string) => void warnings.push(msg) };
    const second = await startEmbeddedPostgres({ dir, binaries: binaries!, log });
    try {
      expect(alive(orphan)).toBe(false);
      expect(postmasterPid(dir)).not.toBe(orphan);
      expect(warnings).toContain('stopping the embedded PostgreSQL a killed service left running');
    } finally {
      await second.stop();
    }
  });

  it('starts over a stale lock whose PID now belongs to another program, and leaves that program alone', async () => {
    const dir = path.join(tempDir(), 'pg');
    const first = await startEmbeddedPostgres({ dir, binaries: binaries! });
    await first.stop();
    // As after a container restart: the lock file survived, its PID is now some unrelated process.
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(path.join(dir, 'postmaster.pid'), `${other.pid}\n${dir}\n`);
      const second = await startEmbeddedPostgres({ dir, binaries: binaries! });
      try {
        expect(alive(other.pid!)).toBe(true);
        expect(postmasterPid(dir)).not.toBe(other.pid);
      } finally {
        await second.stop();
      }
    } finally {
      other.kill();
    }
  });

  it('refuses a data directory whose server belongs to another live service process', async () => {
    const dir = path.join(tempDir(), 'pg');
    const first = await startEmbeddedPostgres({ dir, binaries: binaries! });
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(`${dir}.owner`, String(other.pid));
      await expect(startEmbeddedPostgres({ dir, binaries: binaries! })).rejects.toThrow(
        `${dir} is in use by another service process (pid ${other.pid})`,
      );
      expect(alive(postmasterPid(dir))).toBe(true); // the first service's server was left alone
    } finally {
      other.kill();
      await first.stop();
    }
  });

  it('restarts a server that crashes under a running service; queries work again', async () => {
    const dataDir = tempDir();
    const errors: string[] = [];
    const log = { info: () => {}, warn: () => {}, error: (_: object, msg: string) => void errors.push(msg) };
    const database = await openConfigured(settings(dataDir), log);
    try {
      const pid = postmasterPid(path.join(dataDir, 'pg'));
      process.kill(pid, 'SIGKILL');
      await expect(database.ping()).rejects.toThrow();
      let answered = false;
      for (let i = 0; i < 300 && !answered; i++) {
        answered = await database.ping().then(
          () => true,
          () => new Promise<boolean>((r) => setTimeout(() => r(false), 50)),
        );
      }
      expect(answered).toBe(true);
      expect(postmasterPid(path.join(dataDir, 'pg'))).not.toBe(pid);
      expect(errors).toContain('embedded PostgreSQL exited; restarting');
    } finally {
      await database.close();
    }
  });

  it('puts the socket in a private tmp directory when DATA_DIR is too deep for a socket path', async () => {
    const base = tempDir();
    chmodSync(base, 0o711); // mkdtemp's 0700 would keep the server's account out (see the next test)
    const deep = path.join(base, 'd'.repeat(60), 'e'.repeat(40));
    mkdirSync(deep, { recursive: true });
    const database = await openConfigured(settings(deep));
    try {
      const { socket } = await one<{ socket: string }>(database, sql`select current_setting('unix_socket_directories') as socket`);
      expect(socket.startsWith(path.join(tmpdir(), 'chat-pg-'))).toBe(true);
    } finally {
      await database.close();
    }
  });

  it.runIf(process.getuid?.() === 0)('as root, opens DATA_DIR for the server account and names a closed directory above it', async () => {
    const base = tempDir(); // 0700, as mkdtemp makes it
    const ok = path.join(base, 'open');
    mkdirSync(ok, { mode: 0o700 });
    chmodSync(base, 0o711);
    const database = await openConfigured(settings(ok));
    await database.close();
    expect(statSync(ok).mode & 0o001).toBe(0o001);

    const closed = path.join(base, 'closed');
    mkdirSync(path.join(closed, 'data'), { recursive: true, mode: 0o700 });
    await expect(openConfigured(settings(path.join(closed, 'data')))).rejects.toThrow(
      `the embedded PostgreSQL runs as user "postgres", which cannot enter ${closed}: allow it (chmod o+x ${closed})`,
    );
    expect(existsSync(path.join(closed, 'data', 'pg'))).toBe(false);
  });
});

describe('choosing the embedded engine', () => {
  it('takes EMBEDDED_ENGINE, and refuses an unknown one at start', () => {
    expect(loadConfig({ EMBEDDED_ENGINE: 'pglite' }).embeddedEngine).toBe('pglite');
    expect(() => loadConfig({ EMBEDDED_ENGINE: 'sqlite' })).toThrow(ConfigError);
    expect(() => loadConfig({ EMBEDDED_ENGINE: 'sqlite' })).toThrow('EMBEDDED_ENGINE must be postgres or pglite');
  });

  it('defaults to the embedded server, keeps an older PGlite data directory on PGlite, and lets DATABASE_URL win', () => {
    const fresh = tempDir();
    expect(chooseEngine({ databaseUrl: undefined, embeddedEngine: undefined, dataDir: fresh }).engine).toBe(
      binaries ? 'embedded-postgres' : 'pglite',
    );
    const old = tempDir();
    mkdirSync(path.join(old, 'db'));
    writeFileSync(path.join(old, 'db', 'PG_VERSION'), '17\n');
    expect(chooseEngine({ databaseUrl: undefined, embeddedEngine: undefined, dataDir: old })).toEqual({
      engine: 'pglite',
      reason: `${old}/db holds a PGlite database`,
    });
    expect(chooseEngine({ databaseUrl: undefined, embeddedEngine: 'postgres', dataDir: old }).engine).toBe('embedded-postgres');
    expect(chooseEngine({ databaseUrl: 'postgres://h/db', embeddedEngine: 'pglite', dataDir: old }).engine).toBe('postgres-url');
  });

  it.runIf(process.getuid?.() === 0)(
    'as root, runs the binaries from a copy the server’s user can reach when the checkout is closed to it',
    () => {
      const account = serverAccount()!;
      const fakePackage = (parent: string) => {
        const root = path.join(parent, 'pkg');
        mkdirSync(path.join(root, 'native', 'bin'), { recursive: true });
        writeFileSync(path.join(root, 'package.json'), JSON.stringify({ version: `0.0.0-test-${process.pid}-${Date.now()}` }));
        for (const p of ['initdb', 'postgres']) writeFileSync(path.join(root, 'native', 'bin', p), '#!/bin/sh\n', { mode: 0o755 });
        return root;
      };
      const closed = tempDir(); // 0700, as a checkout under /root or in a mktemp
      const copied = binariesIn(fakePackage(closed), account);
      dirs.push(path.dirname(path.dirname(path.dirname(copied.postgres))));
      expect(copied.postgres.startsWith(path.join(tmpdir(), 'chat-embedded-postgres-0.0.0-test-'))).toBe(true);
      expect(existsSync(copied.initdb)).toBe(true);
      expect(closedOnTheWay(path.dirname(copied.postgres), account)).toBeUndefined();

      const open = tempDir();
      chmodSync(open, 0o755);
      const root = fakePackage(open);
      expect(binariesIn(root, account).postgres).toBe(path.join(root, 'native', 'bin', 'postgres'));
    },
  );

  it.runIf(process.getuid?.() === 0)(
    'as root, keeps PGlite by default when a directory above DATA_DIR is closed to the server’s user',
    () => {
      const closed = tempDir();
      expect(chooseEngine({ databaseUrl: undefined, embeddedEngine: undefined, dataDir: path.join(closed, 'data') })).toEqual({
        engine: 'pglite',
        reason: `the server's user "postgres" cannot enter ${closed}`,
      });
    },
  );

  it('recreates the binary package’s library links when an install skipped its script', () => {
    const root = tempDir();
    mkdirSync(path.join(root, 'native', 'lib'), { recursive: true });
    writeFileSync(path.join(root, 'native', 'lib', 'libx.so.1.2'), '');
    writeFileSync(
      path.join(root, 'native', 'pg-symlinks.json'),
      JSON.stringify([
        { source: 'native/lib/libx.so.1.2', target: 'native/lib/libx.so' },
        { source: 'native/lib/libx.so.1.2', target: 'native/lib/libx.so.1' },
      ]),
    );
    hydrateSymlinks(root);
    hydrateSymlinks(root); // a second start finds them in place
    expect(readlinkSync(path.join(root, 'native', 'lib', 'libx.so'))).toBe('libx.so.1.2');
    expect(readlinkSync(path.join(root, 'native', 'lib', 'libx.so.1'))).toBe('libx.so.1.2');
  });
});

/** A pid no process has: one that just exited. */
async function deadPid(): Promise<number> {
  const p = spawn('true');
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}
