import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** Debian's PostgreSQL programs (the system server's own version), which have pg_basebackup. */
const BIN = existsSync('/usr/lib/postgresql')
  ? readdirSync('/usr/lib/postgresql')
      .map((v) => path.join('/usr/lib/postgresql', v, 'bin'))
      .find((dir) => existsSync(path.join(dir, 'pg_basebackup')) && existsSync(path.join(dir, 'initdb')))
  : undefined;
export const haveReplicationBinaries = BIN !== undefined;

export interface TestReplication {
  primaryUrl: string;
  replicaUrl: string;
  /** Sets recovery_min_apply_delay on the replica (a reload): it applies each commit this long after the primary did. */
  setApplyDelay(ms: number): Promise<void>;
  /** Resolves once the replica has replayed everything the primary had written when this was called. */
  caughtUp(timeoutMs?: number): Promise<void>;
  stopReplica(): Promise<void>;
  startReplica(): Promise<void>;
  logs(): string;
  close(): Promise<void>;
}

/**
 * A primary of its own (the system server's pg_hba has no replication line) and a streaming replica of it from
 * pg_basebackup, both from the local PostgreSQL's programs on spare ports in a temp dir. Run by root, they run as the
 * `postgres` user, as PostgreSQL requires.
 */
export async function startReplication(): Promise<TestReplication> {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-replication-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres']).toString().trim()));
    chownSync(dir, uid!, gid!);
  }
  const tool = (name: string, ...args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(BIN!, name), ...args]) : run(path.join(BIN!, name), args);
  const primaryDir = path.join(dir, 'primary');
  const replicaDir = path.join(dir, 'replica');
  const [primaryPort, replicaPort] = [await freePort(), await freePort()];
  const options = (port: number) =>
    `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c wal_level=replica -c max_wal_senders=4`;
  const start = (data: string, port: number) =>
    tool('pg_ctl', '-D', data, '-l', `${data}.log`, '-w', '-t', '30', '-o', options(port), 'start');

  // The default pg_hba of initdb --auth=trust lets local replication connections in.
  await tool('initdb', '-D', primaryDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8');
  await start(primaryDir, primaryPort);
  await tool('pg_basebackup', '-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', replicaDir, '-R', '-X', 'stream');
  await start(replicaDir, replicaPort);

  const primaryUrl = `postgres://postgres@127.0.0.1:${primaryPort}/postgres`;
  const replicaUrl = `postgres://postgres@127.0.0.1:${replicaPort}/postgres`;
  const query = async (url: string, text: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(text)).rows as Array<Record<string, unknown>>;
    } finally {
      await c.end();
    }
  };
  const lsn = async (url: string, fn: string) => String((await query(url, `select ${fn}()::text as lsn`))[0]!['lsn']);
  const caughtUp = async (timeoutMs = 20_000) => {
    const target = await lsn(primaryUrl, 'pg_current_wal_lsn');
    for (const until = Date.now() + timeoutMs; ;) {
      const rows = await query(replicaUrl, `select pg_last_wal_replay_lsn() >= '${target}'::pg_lsn as done`).catch(() => []);
      if (rows[0]?.['done'] === true) return;
      if (Date.now() > until) throw new Error(`the replica did not replay ${target}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  await caughtUp();
  return {
    primaryUrl,
    replicaUrl,
    async setApplyDelay(ms) {
      // The last setting in postgresql.auto.conf wins; pg_basebackup -R wrote primary_conninfo there.
      appendFileSync(path.join(replicaDir, 'postgresql.auto.conf'), `recovery_min_apply_delay = '${ms}ms'\n`);
      await tool('pg_ctl', '-D', replicaDir, 'reload');
      for (let i = 0; ; i++) {
        const shown = String((await query(replicaUrl, 'show recovery_min_apply_delay'))[0]!['recovery_min_apply_delay']);
        if (shown === (ms === 0 ? '0' : `${ms}ms`) || (ms % 1000 === 0 && shown === `${ms / 1000}s`)) return;
        if (i > 200) throw new Error(`recovery_min_apply_delay stayed ${shown}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    caughtUp,
    stopReplica: async () => void (await tool('pg_ctl', '-D', replicaDir, '-m', 'immediate', '-w', 'stop')),
    startReplica: async () => void (await start(replicaDir, replicaPort)),
    logs: () =>
      [primaryDir, replicaDir]
        .map((d) => `--- ${path.basename(d)}\n${existsSync(`${d}.log`) ? readFileSync(`${d}.log`, 'utf8').slice(-4000) : ''}`)
        .join('\n'),
    async close() {
      for (const d of [replicaDir, primaryDir]) await tool('pg_ctl', '-D', d, '-m', 'immediate', '-w', 'stop').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
