import { closeAll, connectAll } from '../lib/clients.js';
import type { LatencySummary } from '../lib/histogram.js';
import { sleep } from '../lib/log.js';
import type { ServerProcess } from '../lib/processes.js';

export interface IdleResult {
  sockets: number;
  failed: number;
  /** Bytes of V8 heap (after a full GC) per connected socket. */
  heapPerSocket: number;
  /** Bytes of resident memory per connected socket. */
  rssPerSocket: number;
  connect: LatencySummary;
  /** Sockets connected per second with `concurrency` handshakes at a time. */
  connectPerS: number;
  concurrency: number;
  errors: string[];
}

/** N sockets connected and left idle: server memory per socket (heap after GC, RSS) and handshake latency. */
export async function idleSockets(server: ServerProcess, auths: Array<Record<string, unknown>>, concurrency: number): Promise<IdleResult> {
  await sleep(300);
  const m0 = await server.memory();
  const rss0 = server.rssBytes();
  const res = await connectAll(server.url, auths, { concurrency, timeoutMs: 30_000 });
  await sleep(1000); // presence announcements and joins settle
  const m1 = await server.memory();
  const rss1 = server.rssBytes();
  const n = auths.length - res.failed;
  await closeAll(res.sockets);
  return {
    sockets: n,
    failed: res.failed,
    heapPerSocket: (m1.heapUsed + m1.external - m0.heapUsed - m0.external) / Math.max(1, n),
    rssPerSocket: (rss1 - rss0) / Math.max(1, n),
    connect: res.connect.summary(),
    connectPerS: n / res.seconds,
    concurrency,
    errors: res.errors,
  };
}
