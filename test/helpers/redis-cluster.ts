import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);
export const REDIS_SERVER = '/usr/bin/redis-server';
export const REDIS_CLI = '/usr/bin/redis-cli';
export const haveRedisBinaries = existsSync(REDIS_SERVER) && existsSync(REDIS_CLI);

export interface TestRedisCluster {
  /** `127.0.0.1:port,…` of every node, for REDIS_CLUSTER_NODES. */
  nodes: string;
  ports: number[];
  /** `redis-cli -p port …`, trimmed output. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The port of the master serving `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /** The nodes' logs (`<port>.log`), for a failure's message. */
  logs(): string;
  /** Kills one node as a crash would (SIGKILL). */
  kill(port: number): void;
  /**
   * Resolves once the replicas of the master on `port` hold every write it had taken (replication is asynchronous: a
   * master killed before that takes its last writes with it).
   */
  replicated(port: number): Promise<void>;
  /** Starts a killed node again and waits until it is a synced replica. */
  restart(port: number): Promise<void>;
  /** Resolves once every slot is served again (cluster_state:ok on every living node). */
  healthy(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A Redis Cluster of 3 masters, each with a replica, from Debian's redis-server on spare ports, in a temp dir. A master
 * is declared failed after 1 s without an answer (cluster-node-timeout), so its replica takes over within seconds.
 */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-redis-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < 6; i++) ports.push(await freePort());
  const children = new Map<number, ChildProcess>();
  const startNode = (port: number) => {
    // prettier-ignore
    const child = spawn(REDIS_SERVER, [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '1000',
      // A replica syncs at once (the default waits 5 s for more replicas): one that never synced cannot take over.
      '--repl-diskless-sync-delay', '0',
      '--logfile', path.join(dir, `${port}.log`),
    ], { stdio: 'ignore' });
    children.set(port, child);
  };
  ports.forEach(startNode);
  const cli = async (port: number, ...args: string[]) => (await run(REDIS_CLI, ['-p', String(port), ...args])).stdout.trim();
  for (const port of ports) {
    for (let i = 0; (await cli(port, 'ping').catch(() => '')) !== 'PONG'; i++) {
      if (i > 200) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  await run(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes']);
  const alive = new Set(ports);
  const healthy = async (timeoutMs = 20_000) => {
    const until = Date.now() + timeoutMs;
    // A node killed a moment ago is not yet marked failed: wait until no living node lists a failed master with slots.
    for (;;) {
      const states = await Promise.all([...alive].map((p) => cli(p, 'cluster', 'info').catch(() => '')));
      const ok = states.every((s) => s.includes('cluster_state:ok') && s.includes('cluster_slots_ok:16384'));
      const nodes = await cli([...alive][0]!, 'cluster', 'nodes').catch(() => '');
      const slotsOnTheDead = nodes
        .split('\n')
        .map((line) => line.split(' '))
        .some((f) => f[2]?.includes('master') && f.length > 8 && !alive.has(Number(f[1]?.split('@')[0]?.split(':')[1])));
      if (ok && !slotsOnTheDead) return;
      if (Date.now() > until) throw new Error(`the cluster is not serving every slot:\n${states.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await healthy();
  const synced = async (port: number) => {
    for (let i = 0; ; i++) {
      const info = await cli(port, 'info', 'replication').catch(() => '');
      if (info.includes('role:master') || info.includes('master_link_status:up')) return;
      if (i > 800) throw new Error(`the replica on ${port} did not sync:\n${info}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  // Every replica holds its master's data before a test may kill a master.
  for (const port of ports) await synced(port);
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    ports,
    cli,
    async masterOf(key) {
      const from = [...alive][0]!;
      const slot = Number(await cli(from, 'cluster', 'keyslot', key));
      for (const line of (await cli(from, 'cluster', 'nodes')).split('\n')) {
        const f = line.split(' ');
        if (!f[2]?.includes('master') || f[2].includes('fail')) continue;
        for (const range of f.slice(8)) {
          const [lo, hi = lo] = range.split('-').map(Number);
          if (slot >= lo! && slot <= hi!) return Number(f[1]!.split('@')[0]!.split(':')[1]);
        }
      }
      throw new Error(`no master serves slot ${slot}`);
    },
    logs: () =>
      ports
        .map(
          (p) => `--- ${p}\n${existsSync(path.join(dir, `${p}.log`)) ? readFileSync(path.join(dir, `${p}.log`), 'utf8').slice(-6000) : ''}`,
        )
        .join('\n'),
    kill(port) {
      alive.delete(port);
      children.get(port)?.kill('SIGKILL');
    },
    async replicated(port) {
      const info = await cli(port, 'info', 'replication');
      const target = Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? 0);
      for (let i = 0; ; i++) {
        const now = await cli(port, 'info', 'replication');
        const offsets = [...now.matchAll(/^slave\d+:.*offset=(\d+)/gm)].map((m) => Number(m[1]));
        if (offsets.length > 0 && offsets.every((o) => o >= target)) return;
        if (i > 400) throw new Error(`the replicas of ${port} did not catch up:\n${now}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async restart(port) {
      // Its nodes file knows the cluster: it comes back as a replica of the master that took its place.
      startNode(port);
      for (let i = 0; (await cli(port, 'ping').catch(() => '')) !== 'PONG'; i++) {
        if (i > 200) throw new Error(`redis-server on ${port} did not restart`);
        await new Promise((r) => setTimeout(r, 25));
      }
      alive.add(port);
      for (let i = 0; !(await cli(port, 'info', 'replication').catch(() => '')).includes('role:slave'); i++) {
        if (i > 400) throw new Error(`redis-server on ${port} did not rejoin as a replica`);
        await new Promise((r) => setTimeout(r, 25));
      }
      await synced(port);
      await healthy();
    },
    healthy,
    async close() {
      // Gone before their directory is: a server still exiting can write a file into it (ENOTEMPTY, seen in CI).
      await Promise.all(
        [...children.values()].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGKILL');
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    },
  };
}
