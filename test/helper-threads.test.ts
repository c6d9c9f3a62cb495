import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';

const repo = path.join(import.meta.dirname, '..');

const hasTaskset = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;

/**
 * A Node process that lowers its helper threads as main.ts does, then starts a worker thread, and reports each
 * thread's nice value: `before` the threads it had, `after` the ones the worker added.
 */
const PROBE = `
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { yieldHelperThreads } from './src/helper-threads.ts';
const nice = (tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16]);
const tasks = () => readdirSync('/proc/self/task').map(Number);
const before = tasks();
const lowered = yieldHelperThreads();
const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
await new Promise((r) => worker.once('online', r));
const after = tasks().filter((t) => !before.includes(t));
console.log(JSON.stringify({
  lowered,
  main: nice(process.pid),
  helpers: before.filter((t) => t !== process.pid).map(nice),
  later: after.map(nice),
}));
await worker.terminate();
`;

function probe(pinned: boolean): { lowered: number; main: number; helpers: number[]; later: number[] } {
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', PROBE];
  const [cmd, ...args] = pinned ? ['taskset', '-c', '0', ...node] : node;
  return JSON.parse(execFileSync(cmd!, args, { cwd: repo, encoding: 'utf8' }).trim()) as ReturnType<typeof probe>;
}

// The process's own threads, not the engine's: once, in the PGlite project; /proc is Linux's.
const here = inject('template').kind === 'pglite' && process.platform === 'linux';

describe.runIf(here)('helper threads on one core', () => {
  it.runIf(hasTaskset)('run at the lowest priority, the loop and threads started later at its own', () => {
    const seen = probe(true);
    expect(seen.helpers.length).toBeGreaterThan(0);
    expect(seen.lowered).toBe(seen.helpers.length);
    expect(seen.helpers.every((n) => n === 19)).toBe(true);
    expect(seen.main).toBe(0);
    // The worker's own thread and whatever it starts: the priority of the thread that made them, the loop's.
    expect(seen.later.length).toBeGreaterThan(0);
    expect(seen.later.every((n) => n === 0)).toBe(true);
  });

  it('keep their priority on more cores', () => {
    const seen = probe(false);
    const oneCore = availableParallelism() === 1;
    expect(seen.lowered).toBe(oneCore ? seen.helpers.length : 0);
    expect(seen.helpers.every((n) => n === (oneCore ? 19 : 0))).toBe(true);
  });
});
