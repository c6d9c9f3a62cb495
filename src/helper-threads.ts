import { readdirSync } from 'node:fs';
import { availableParallelism, constants, setPriority } from 'node:os';

/**
 * On one core (a one-vCPU box, or a process pinned to one core by taskset or a cpuset), the threads the process
 * already has when the service starts get the lowest CPU priority, so they run when the event loop waits and yield
 * the core to it when it has work: V8's platform workers (concurrent marking and sweeping, background compilation)
 * and libuv's pool. With the same priority the scheduler gave V8's marking thread the loop's core in slices of
 * several milliseconds, and each major collection stalled the loop about three times 16 ms in a row, 5–15 sends
 * over 20 ms each time (docs/admin.md, "Erase under load"). A short job of the pool's (a token's signature) still
 * runs as soon as it wakes; only long ones wait for the loop to be idle. Threads started later (a PGlite worker)
 * keep the loop's priority. Linux only (the threads are read from /proc); elsewhere, and on more cores, nothing.
 *
 * @returns the number of threads lowered
 */
export function yieldHelperThreads(cores = availableParallelism()): number {
  if (cores !== 1) return 0;
  let threads: number[];
  try {
    threads = readdirSync('/proc/self/task')
      .map(Number)
      .filter((tid) => tid !== process.pid);
  } catch {
    return 0;
  }
  let lowered = 0;
  for (const tid of threads) {
    try {
      setPriority(tid, constants.priority.PRIORITY_LOW);
      lowered++;
    } catch {
      // Ended meanwhile.
    }
  }
  return lowered;
}
