import { io, type Socket } from 'socket.io-client';
import { Latency } from './histogram.js';
import { sleep } from './log.js';

export type ClientSocket = Socket;

/** A socket.io-client socket on /chat over WebSocket, not reconnecting by itself (scenarios reconnect on purpose). */
export function openSocket(baseUrl: string, auth: Record<string, unknown>): ClientSocket {
  if (!baseUrl.startsWith('http://127.0.0.1:')) throw new Error(`refusing to connect to ${baseUrl}`);
  return io(`${baseUrl}/chat`, { auth, transports: ['websocket'], reconnection: false, forceNew: true, timeout: 20_000 });
}

export interface Connected {
  sockets: ClientSocket[];
  /** Time from opening to `connect` (and, when asked, to the service's `ready`). */
  connect: Latency;
  failed: number;
  errors: string[];
  seconds: number;
}

/**
 * Opens one socket per auth, at most `concurrency` handshakes at a time, so connect latency is the server's and not
 * a queue of thousands; every socket given `timeoutMs` at most.
 */
export async function connectAll(
  baseUrl: string,
  auths: Array<Record<string, unknown>>,
  opts: { concurrency: number; timeoutMs?: number; waitReady?: boolean; onSocket?: (s: ClientSocket, i: number) => void },
): Promise<Connected> {
  const sockets: ClientSocket[] = new Array(auths.length);
  const lat = new Latency();
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const s = openSocket(baseUrl, auths[i]!);
      sockets[i] = s;
      opts.onSocket?.(s, i);
      const timer = setTimeout(() => done(new Error('timeout')), opts.timeoutMs ?? 20_000);
      const done = (err?: Error) => {
        clearTimeout(timer);
        s.off('connect', onConnect);
        s.off('ready', onReady);
        s.off('connect_error', done);
        if (err) {
          failed++;
          if (errors.length < 5) errors.push(err.message);
        } else lat.record(performance.now() - started);
        resolve();
      };
      const onConnect = () => {
        if (!opts.waitReady) done();
      };
      const onReady = () => done();
      s.on('connect', onConnect);
      s.on('ready', onReady);
      s.on('connect_error', done);
    });
  const worker = async () => {
    while (next < auths.length) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, auths.length) }, worker));
  return { sockets, connect: lat, failed, errors, seconds: (performance.now() - t0) / 1000 };
}

export async function closeAll(sockets: ClientSocket[]): Promise<void> {
  for (const s of sockets) s?.close();
  await sleep(Math.min(2000, 100 + sockets.length / 10));
}

/**
 * Open-loop arrivals: call `fire(n, intendedAt)` at `rate` per second for `durationMs`, whatever the answers, so a
 * slow server cannot slow the offered load (no coordinated omission). `intendedAt` is when message n was due; latency
 * measured from it includes any lag of the load generator itself. Bounded by count (rate × duration) and time.
 */
export async function openLoop(
  rate: number,
  durationMs: number,
  fire: (n: number, intendedAt: number) => void,
): Promise<{ sent: number; maxLagMs: number }> {
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const t0 = performance.now();
  const interval = 1000 / rate;
  let n = 0;
  let maxLag = 0;
  const hardStop = t0 + durationMs * 3 + 1000;
  while (n < total && performance.now() < hardStop) {
    const now = performance.now();
    while (n < total && t0 + n * interval <= now) {
      const due = t0 + n * interval;
      maxLag = Math.max(maxLag, now - due);
      fire(n, due);
      n++;
    }
    if (n < total) await sleep(Math.max(0, Math.min(4, t0 + n * interval - performance.now())));
  }
  return { sent: n, maxLagMs: maxLag };
}
