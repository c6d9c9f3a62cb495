import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { log, sleep } from './log.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PROBE = './bench/lib/probe.ts';

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  /* Linux default */
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Cores the servers run on and the core the load generator keeps, when the machine has two or more and taskset exists. */
export const pinning: { server: string; loadgen: string } | null =
  process.env['BENCH_NO_PIN'] || os.cpus().length < 2 || !hasTaskset()
    ? null
    : { loadgen: '0', server: os.cpus().length >= 4 ? `1-${os.cpus().length - 1}` : '1' };

/**
 * The embedded PostgreSQL server is a child of the service and inherits its pinning; the external PostgreSQL it is
 * compared with runs on every core, as any database server beside a service would. So its processes (the postmaster,
 * whose later backends inherit the mask, and the backends already forked) are let onto every core again.
 */
export function unpinEmbeddedServer(dataDir: string): void {
  if (!pinning) return;
  let postmaster: string | undefined;
  try {
    postmaster = readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0];
  } catch {
    return; // not the embedded server
  }
  if (!postmaster) return;
  let children: string[] = [];
  try {
    children = execFileSync('pgrep', ['-P', postmaster]).toString().split('\n').filter(Boolean);
  } catch {
    /* none yet */
  }
  const all = `0-${os.cpus().length - 1}`;
  for (const pid of [postmaster, ...children]) {
    try {
      execFileSync('taskset', ['-a', '-pc', all, pid], { stdio: 'ignore' });
    } catch {
      /* gone meanwhile */
    }
  }
}

/** Pins this process (the load generator) to its core. */
export function pinSelf(): void {
  if (!pinning) return;
  try {
    execFileSync('taskset', ['-pc', pinning.loadgen, String(process.pid)], { stdio: 'ignore' });
  } catch {
    /* not allowed here: run unpinned */
  }
}

/**
 * Runs `fn` with this process on every core, then pins it again: servers it starts meanwhile (a Redis Cluster, a
 * PostgreSQL primary and replica for --topology=cluster) inherit the mask of the process that forks them, and must run
 * on every core like the system's PostgreSQL and Redis, not on the load generator's.
 */
export async function withAllCores<T>(fn: () => Promise<T>): Promise<T> {
  if (!pinning) return fn();
  execFileSync('taskset', ['-pc', `0-${os.cpus().length - 1}`, String(process.pid)], { stdio: 'ignore' });
  try {
    return await fn();
  } finally {
    pinSelf();
  }
}

/** User + system CPU time of a process so far, in milliseconds (from /proc/<pid>/stat). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / clockTicks;
  } catch {
    return Number.NaN;
  }
}

/** Resident memory of a process in bytes (from /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export interface HttpAnswer {
  status: number;
  body: any;
}

/** One request to the service (127.0.0.1 only), JSON in and out, over a keep-alive agent. */
export function httpJson(method: string, url: string, token?: string, body?: unknown): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.hostname !== '127.0.0.1') return reject(new Error(`refusing to send load to ${u.hostname}`));
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        agent,
        host: u.hostname,
        port: u.port,
        method,
        path: u.pathname + u.search,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text) parsed = JSON.parse(text);
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${u.pathname} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface ServerProcess {
  name: string;
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  /** When the process was spawned (performance.now()). */
  spawnedAt: number;
  cpuMs(): number;
  rssBytes(): number;
  /** process.memoryUsage() of the server after a full GC (needs the probe). */
  memory(): Promise<NodeJS.MemoryUsage>;
  /** Starts the V8 CPU profiler in the server (needs the probe). */
  profileStart(): Promise<void>;
  /** Stops it and writes the .cpuprofile to `file`. */
  profileStop(file: string): Promise<void>;
  /** Starts counting the SQL statements the server sends (needs the probe). */
  sqlStart(): Promise<void>;
  /** Statement counts by SQL text since sqlStart. */
  sqlStop(): Promise<Record<string, number>>;
  /** Last lines the server printed, and how many log lines were at level error or above. */
  output(): string;
  errorLines(): string[];
  exited(): boolean;
  stop(): Promise<void>;
}

const live = new Set<ServerProcess>();

/** The service's own settings are never inherited from the shell running the bench: each server gets exactly what its scenario sets. */
const SERVICE_VARS =
  /^(PORT|HOST|DATA_DIR|DATABASE_URL|EMBEDDED_ENGINE|REDIS_URL|REDIS_PREFIX|JWT_.*|JWKS_URL|PUBLIC_URL|MEDIA_.*|S3_.*|CLOUDINARY_.*|NOTIFY_.*|CORS_ORIGINS|LOG_LEVEL|NODE_ENV|RATE_LIMIT_.*|SEARCH_.*|MAX_SOCKETS_PER_USER|PUSH_.*|BODY_LIMIT_BYTES|SHUTDOWN_TIMEOUT_MS|PRESENCE_GRACE_MS|TYPING_TIMEOUT_MS|SOCKET_.*|NODE_OPTIONS)$/;
const inherited = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !SERVICE_VARS.test(k))) as Record<string, string>;

export interface SpawnOptions {
  name: string;
  /** Script and arguments after the node flags, e.g. ['src/main.ts']. */
  args: string[];
  env: Record<string, string>;
  /** Load bench/lib/probe.ts and expose gc (memory readings). */
  probe?: boolean;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** Pin to the servers' cores (default true). */
  pin?: boolean;
  port?: number;
  /** Run compiled JavaScript: no tsx loader. */
  compiled?: boolean;
  /**
   * A launcher (npm) that starts the service as a child of its own: run in a process group, which stop() signals
   * and waits out as a whole (npm does not pass SIGTERM on, and would leave the service running).
   */
  group?: boolean;
}

/** Spawns a Node server (TypeScript through tsx) on 127.0.0.1:<port>, pinned to the servers' cores. Not yet ready. */
export async function spawnServer(opts: SpawnOptions): Promise<ServerProcess> {
  const port = opts.port ?? (await freePort());
  const flags = [
    ...(opts.probe ? ['--expose-gc'] : []),
    ...(opts.compiled ? [] : ['--import', 'tsx']),
    ...(opts.probe ? ['--import', PROBE] : []),
    ...(opts.nodeFlags ?? []),
  ];
  const nodeArgs = [...flags, ...opts.args];
  const cores = opts.pin !== false ? pinning?.server : undefined;
  const [cmd, args] = cores ? ['taskset', ['-c', cores, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const child = spawn(cmd, args as string[], {
    cwd: ROOT,
    detached: opts.group ?? false,
    env: { ...inherited(), PORT: String(port), HOST: '127.0.0.1', ...opts.env },
    stdio: opts.probe ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const spawnedAt = performance.now();
  let out = '';
  const errors: string[] = [];
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    out = (out + text).slice(-20_000);
    for (const line of text.split('\n')) {
      if (/"level":(5\d|6\d)/.test(line) && errors.length < 50) errors.push(line.slice(0, 500));
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  let nextId = 1;
  type Answer = { id: number; mem?: NodeJS.MemoryUsage; sql?: Record<string, number>; error?: string };
  const waiting = new Map<number, (m: Answer) => void>();
  child.on('message', (m: Answer) => {
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  });
  const ask = (msg: object, timeoutMs = 10_000) =>
    new Promise<Answer>((resolve, reject) => {
      if (!opts.probe || !child.connected) return reject(new Error(`${opts.name}: no probe`));
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`${opts.name}: no answer from the probe`)), timeoutMs);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        if (m.error) reject(new Error(m.error));
        else resolve(m);
      });
      child.send({ ...msg, id });
    });
  const pid = child.pid!;
  const server: ServerProcess = {
    name: opts.name,
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    spawnedAt,
    cpuMs: () => cpuMs(pid),
    rssBytes: () => rssBytes(pid),
    memory: async () => (await ask({ type: 'mem', gc: true })).mem!,
    profileStart: async () => void (await ask({ type: 'prof-start' })),
    profileStop: async (file) => void (await ask({ type: 'prof-stop', file }, 60_000)),
    sqlStart: async () => void (await ask({ type: 'sql-start' })),
    sqlStop: async () => (await ask({ type: 'sql-stop' })).sql ?? {},
    output: () => out,
    errorLines: () => errors,
    exited: () => exitCode !== undefined,
    async stop() {
      live.delete(server);
      if (opts.group) return stopGroup(child.pid!);
      if (exitCode !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(server);
  return server;
}

/** SIGTERM to every process of the group, SIGKILL after 15 s, and back once none is left. */
async function stopGroup(pgid: number): Promise<void> {
  const signal = (sig: NodeJS.Signals | 0) => {
    try {
      process.kill(-pgid, sig);
      return true;
    } catch {
      return false; // ESRCH: the group is gone
    }
  };
  signal('SIGTERM');
  const killAt = performance.now() + 15_000;
  while (signal(0)) {
    if (performance.now() > killAt) signal('SIGKILL');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Polls GET /health until it answers 200; the time from spawn to that answer in ms. */
export async function waitHealthy(server: ServerProcess, timeoutMs = 120_000, everyMs = 10): Promise<number> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (server.exited()) throw new Error(`${server.name} exited before it was ready:\n${server.output().slice(-3000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: server.port, path: '/health', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
    });
    if (ok) return performance.now() - server.spawnedAt;
    await sleep(everyMs);
  }
  throw new Error(`${server.name} not ready within ${timeoutMs} ms:\n${server.output().slice(-3000)}`);
}

/** Stops every server still running (on error and on signals). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop().catch(() => {})));
}

/** Waits until a server's CPU use falls below `maxShare` of a core over 200 ms windows (a backlog drained), at most `timeoutMs`. */
export async function settle(server: ServerProcess, timeoutMs = 5000, maxShare = 0.15): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    const c0 = server.cpuMs();
    await sleep(200);
    if ((server.cpuMs() - c0) / 200 < maxShare) return;
  }
  log(`  (${server.name} still busy after ${timeoutMs} ms; going on)`);
}
