import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Log } from '../../log.js';
import { binariesIn, closedOnTheWay, serverAccount, type PostgresBinaries, type RunAs } from './binaries.js';

/**
 * A real PostgreSQL server the service runs itself from the npm-shipped binaries, as the embedded default (issue 16
 * chose it by measurement over PGlite: faster, durable with fsync on, and off the event loop). It listens on a unix
 * socket inside DATA_DIR only, so it never clashes with another server's port and nothing outside can reach it.
 */
export interface EmbeddedServer {
  /** pg connection settings (socket directory as host). */
  connection: { host: string; port: number; user: string; database: string };
  /** Fast shutdown (open transactions are aborted: stop it after the pool has ended). */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** The cluster's directory, e.g. DATA_DIR/pg. */
  dir: string;
  binaries: PostgresBinaries;
  log?: Pick<Log, 'info' | 'warn' | 'error'> | undefined;
  /** Extra `-c name=value` settings (tests, benches). */
  settings?: Record<string, string>;
}

const PORT = 5432; // only names the socket file: the server opens no TCP port
const SOCKET_PATH_MAX = 100; // sun_path is 108 bytes on Linux, 104 on macOS; the file name takes 13
const READY_TIMEOUT_MS = 5 * 60_000; // crash recovery of a large WAL can take minutes; it is not a hang
const STOP_GRACE_MS = 10_000;

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedServer> {
  const { dir } = opts;
  const log = opts.log ?? quietLog;
  const account = serverAccount();
  // Root hands the server to an account that may not reach the package's own copy (see binariesIn).
  const binaries = account ? binariesIn(path.resolve(path.dirname(opts.binaries.postgres), '..', '..'), account) : opts.binaries;
  const socketDir = socketDirectory(dir);
  mkdirSync(path.dirname(dir), { recursive: true });
  if (account) reachable(dir, account, log);
  if (!existsSync(path.join(dir, 'PG_VERSION'))) await initCluster(dir, binaries, account, log);
  prepareDir(socketDir, account);
  await stopOrphan(dir, log);
  const ownerFile = `${dir}.owner`;
  writeFileSync(ownerFile, String(process.pid));

  const connection = { host: socketDir, port: PORT, user: 'postgres', database: 'postgres' };
  const args = ['-D', dir, '-p', String(PORT), ...settingsArgs(socketDir, opts.settings)];
  let child: ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;

  const launch = async (): Promise<void> => {
    // What the server says before its log collector takes over: why a start failed.
    const tail: string[] = [];
    const proc = spawn(binaries.postgres, args, {
      ...(account ? { uid: account.uid, gid: account.gid } : {}),
      // Its own process group: a terminal's Ctrl+C reaches the service, which drains and then stops the server, instead
      // of the server going down mid-drain.
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    child = proc;
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (!line) continue;
        tail.push(line);
        if (tail.length > 30) tail.shift();
      }
    });
    let gone: string | undefined;
    const exited = new Promise<string>((resolve) =>
      proc.once('exit', (code, signal) => resolve((gone = signal ? `signal ${signal}` : `code ${code}`))),
    );
    proc.once('error', (err) => tail.push(String(err)));
    void exited.then((how) => {
      if (stopping || child !== proc) return;
      // A crash of the server (or someone killing it) must not leave the service up without a database: restart it.
      // Until it answers again, /health says 503 and requests fail fast on the pool's connect timeout.
      log.error({ exit: how, output: tail.join('\n'), serverLog: path.join(dir, 'log') }, 'embedded PostgreSQL exited; restarting');
      restart();
    });
    const ready = await waitReady(connection, () => gone);
    if (ready !== 'ready') {
      if (!gone) proc.kill('SIGQUIT');
      throw new Error(`embedded PostgreSQL (${dir}) ${ready}:\n${tail.join('\n')}`);
    }
  };
  const restart = () => {
    const delay = Math.min(30_000, 250 * 2 ** restarts++);
    setTimeout(() => {
      if (stopping) return;
      launch().then(
        () => {
          restarts = 0;
          log.info({ dir }, 'embedded PostgreSQL restarted');
        },
        (err: unknown) => {
          log.error({ err }, 'embedded PostgreSQL restart failed');
          restart();
        },
      );
    }, delay).unref();
  };

  await launch();
  log.info({ dir, socket: socketDir }, 'embedded PostgreSQL started');
  return {
    connection,
    stop: async () => {
      stopping = true;
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) await terminate(proc);
      rmSync(ownerFile, { force: true });
    },
  };
}

const quietLog: Pick<Log, 'info' | 'warn' | 'error'> = { info: () => {}, warn: () => {}, error: () => {} };

function settingsArgs(socketDir: string, extra: Record<string, string> = {}): string[] {
  const settings: Record<string, string> = {
    listen_addresses: '',
    unix_socket_directories: socketDir,
    unix_socket_permissions: '0700',
    // The server's own log goes to files in the cluster (DATA_DIR/pg/log, a week of daily files), not through a pipe
    // to the service: a busy event loop must never hold up a backend writing a log line.
    logging_collector: 'on',
    log_directory: 'log',
    log_filename: 'postgresql-%a.log',
    log_truncate_on_rotation: 'on',
    log_rotation_age: '1d',
    log_rotation_size: '0',
    ...extra,
  };
  return Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
}

/** Beside the cluster, unless that path is too long for a socket; then a private directory named after it in tmp. */
function socketDirectory(dir: string): string {
  const beside = `${dir}.run`;
  if (beside.length <= SOCKET_PATH_MAX) return beside;
  return path.join(tmpdir(), `chat-pg-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`);
}

/**
 * The server's account must pass through every directory above its cluster. DATA_DIR itself (the service's own, often a
 * 0700 mktemp) is opened for passing through, not listing; a closed directory above it is the operator's to change.
 */
function reachable(dir: string, account: RunAs, log: Pick<Log, 'info'>): void {
  const dataDir = path.dirname(dir);
  const closed = closedOnTheWay(path.dirname(dataDir), account);
  if (closed) {
    throw new Error(
      `the embedded PostgreSQL runs as user "${account.name}", which cannot enter ${closed}: ` +
        `allow it (chmod o+x ${closed}), choose a DATA_DIR elsewhere, or run the service as a non-root user`,
    );
  }
  if (closedOnTheWay(dataDir, account) === dataDir) {
    chmodSync(dataDir, statSync(dataDir).mode | 0o001);
    log.info({ dir: dataDir }, `DATA_DIR opened for passing through (o+x) to the "${account.name}" user the server runs as`);
  }
}

function prepareDir(dir: string, account: RunAs | undefined): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (account) chownSync(dir, account.uid, account.gid);
}

/**
 * initdb into a side directory, then rename: a start interrupted mid-initdb leaves no half cluster behind. The builtin
 * C.UTF-8 locale gives Unicode lower()/ILIKE (as search needs) without depending on the machine's locales.
 */
async function initCluster(dir: string, binaries: PostgresBinaries, account: RunAs | undefined, log: Pick<Log, 'info'>): Promise<void> {
  const building = `${dir}.initdb`;
  rmSync(building, { recursive: true, force: true });
  prepareDir(building, account);
  const args = ['-D', building, '-U', 'postgres', '--auth=trust', '--encoding=UTF8'];
  args.push('--locale-provider=builtin', '--builtin-locale=C.UTF-8', '--no-instructions');
  const started = Date.now();
  const out = await run(binaries.initdb, args, account);
  if (out.code !== 0) {
    const hint = account ? ` (the server runs as user "${account.name}": it must be able to reach ${dir})` : '';
    throw new Error(`initdb failed${hint}:\n${out.output}`);
  }
  renameSync(building, dir);
  log.info({ dir, ms: Date.now() - started }, 'embedded PostgreSQL cluster created');
}

function run(file: string, args: string[], account: RunAs | undefined): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const proc = spawn(file, args, { ...(account ? { uid: account.uid, gid: account.gid } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    proc.once('error', (err) => resolve({ code: -1, output: String(err) }));
    proc.once('close', (code) => resolve({ code, output }));
  });
}

/**
 * A kill -9 of the service leaves its server running (nothing can make a child die with its parent from Node). If the
 * server on this cluster belongs to a service process that is gone, stop it; if that process is alive, the data
 * directory is in use and starting a second owner would fail anyway — say so.
 */
async function stopOrphan(dir: string, log: Pick<Log, 'warn'>): Promise<void> {
  const pidFile = path.join(dir, 'postmaster.pid');
  const pid = readPid(pidFile);
  if (!pid || !alive(pid)) return;
  const command = commandOf(pid);
  if (command !== undefined && !(command.includes('postgres') && command.includes(dir))) {
    // A stale lock whose PID now belongs to another program (a container restarted, PIDs reused): not ours to stop,
    // and PostgreSQL would refuse to start over it.
    rmSync(pidFile, { force: true });
    return;
  }
  const owner = readPid(`${dir}.owner`);
  if (owner && owner !== process.pid && alive(owner)) {
    throw new Error(`${dir} is in use by another service process (pid ${owner}); each instance needs its own DATA_DIR`);
  }
  log.warn({ pid }, 'stopping the embedded PostgreSQL a killed service left running');
  process.kill(pid, 'SIGINT');
  if (!(await exitedWithin(pid, STOP_GRACE_MS))) {
    process.kill(pid, 'SIGQUIT');
    if (!(await exitedWithin(pid, STOP_GRACE_MS))) throw new Error(`the old embedded PostgreSQL (pid ${pid}) does not stop`);
  }
}

/** The process's command line, where the system tells (Linux /proc; elsewhere ps); undefined when it cannot. */
function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    try {
      return execFileSync('ps', ['-p', String(pid), '-o', 'command='], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    } catch {
      return undefined;
    }
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !alive(pid);
}

/** Ready once a connection runs a statement (not by matching log text, which is translated). */
async function waitReady(connection: EmbeddedServer['connection'], gone: () => string | undefined): Promise<string> {
  for (const end = Date.now() + READY_TIMEOUT_MS; Date.now() < end;) {
    const how = gone();
    if (how) return `exited with ${how}`;
    const client = new pg.Client(connection);
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return 'ready';
    } catch {
      await client.end().catch(() => {});
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return 'did not accept connections in time';
}

/** SIGINT is PostgreSQL's fast shutdown (a checkpoint, then exit); SIGQUIT its immediate one if that hangs. */
async function terminate(proc: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGINT');
  const timer = setTimeout(() => proc.kill('SIGQUIT'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
