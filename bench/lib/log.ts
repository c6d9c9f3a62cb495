/** Progress goes to stderr (so `npm run bench > table.txt` keeps only the table); lines are prefixed with the elapsed time. */
const started = performance.now();
let transient = false;
const tty = process.stderr.isTTY === true;

const stamp = () => `[${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s]`;

export function log(msg: string): void {
  if (transient) process.stderr.write('\r\x1b[K');
  transient = false;
  process.stderr.write(`${stamp()} ${msg}\n`);
}

/** A line that the next one replaces on a terminal (progress counters); elsewhere printed at most every 2 s. */
let lastPlain = 0;
export function progress(msg: string): void {
  if (tty) {
    process.stderr.write(`\r\x1b[K${stamp()} ${msg}`);
    transient = true;
  } else if (performance.now() - lastPlain > 2000) {
    lastPlain = performance.now();
    process.stderr.write(`${stamp()} ${msg}\n`);
  }
}

export function elapsedS(): number {
  return (performance.now() - started) / 1000;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `cond` holds, polling every `everyMs`; false after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs: number, everyMs = 5): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(everyMs);
  }
  return true;
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
