/**
 * `npx tsx bench/probes/request-cost.ts [--engine=embedded|postgres] [--kinds=history,rooms,room,send,read,changes]
 *   [--requests=2000]`
 *
 * What one REST request of each kind costs the process that serves it: the service built in this process
 * (bench/lib/probe-app.ts), one room of 10 with 300 messages, the requests one at a time from a keep-alive client in
 * the same process. Per kind, two passes of `--requests` each after a warm-up:
 *
 * - timed: p50 / p99 of a request, and the process's CPU per request (service and client together);
 * - allocated: the kilobytes allocated per request, from V8's sampling heap profiler with collected objects counted,
 *   split into the client's share (frames of bench/lib) and the rest (the service, the driver, Fastify). Allocation is
 *   what the young generation's collections pay for, and unlike time it hardly moves with the machine's hour, so it
 *   tells two versions of the code apart on any hour (run the probe in a worktree of the other version).
 *
 * Written when the room check of every room-scoped request and the room list were still built by the ORM per call
 * (about 110 kB each of a history page's 480).
 */
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { mintToken } from '../../src/auth/tokens.js';
import { Latency } from '../lib/histogram.js';
import { httpJson, type HttpAnswer } from '../lib/processes.js';
import { authOf, makeRooms, probeApp, probeEngine, probeOption as opt, PROBE_SECRET } from '../lib/probe-app.js';

const KINDS = ['history', 'rooms', 'room', 'send', 'read', 'changes'] as const;
type Kind = (typeof KINDS)[number];
const kinds = opt('kinds', KINDS.join(',')).split(',') as Kind[];
for (const k of kinds) if (!KINDS.includes(k)) throw new Error(`unknown kind ${k}: ${KINDS.join(', ')}`);
const requests = Number(opt('requests', '2000'));
const FILLER = 'the quick brown fox jumps over the lazy dog while the team reviews the release notes';

interface HeapNode {
  callFrame: { url: string };
  selfSize: number;
  children: HeapNode[];
}

const limits = { RATE_LIMIT_WRITES_PER_MINUTE: '1000000', RATE_LIMIT_SEARCHES_PER_MINUTE: '1000000' };
const { app, close } = await probeApp(probeEngine(), limits);
try {
  const [room] = await makeRooms(app, 1, 10);
  const { id: roomId, members } = room!;
  for (let i = 0; i < 300; i++) await app.services.messages.send(authOf(members[i % 10]!, 'user'), roomId, { content: `m ${i} ${FILLER}` });
  const port = (app.http.server.address() as { port: number }).port;
  const api = `http://127.0.0.1:${port}/api/v1/chat`;
  const token = await mintToken(PROBE_SECRET, members[1]!);
  let n = 0;
  const request: Record<Kind, () => Promise<HttpAnswer>> = {
    history: () => httpJson('GET', `${api}/rooms/${roomId}/messages?limit=50`, token),
    rooms: () => httpJson('GET', `${api}/rooms?limit=50`, token),
    room: () => httpJson('GET', `${api}/rooms/${roomId}`, token),
    send: () => httpJson('POST', `${api}/rooms/${roomId}/messages`, token, { content: `probe ${n++} ${FILLER}` }),
    read: () => httpJson('PATCH', `${api}/rooms/${roomId}/read`, token),
    changes: () => httpJson('GET', `${api}/rooms/${roomId}/changes?after=0&limit=200`, token),
  };
  const pass = async (kind: Kind, count: number, each?: (ms: number) => void) => {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      const res = await request[kind]();
      each?.(performance.now() - t0);
      if (res.status >= 300) throw new Error(`${kind}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
    }
  };

  process.stdout.write(
    `| kind | ${requests} requests: p50 / p99, CPU a request (service and client) | KiB allocated a request: all (the client's) |\n|---|---|---|\n`,
  );
  for (const kind of kinds) {
    await pass(kind, 300);
    const times = new Latency();
    const cpu0 = process.cpuUsage();
    await pass(kind, requests, (ms) => times.record(ms));
    const cpu = process.cpuUsage(cpu0);
    const { p50, p99 } = times.summary();

    const session = new Session();
    session.connect();
    await session.post('HeapProfiler.enable');
    // Objects a collection has already freed count too: the point is what was allocated, not what survived.
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as never);
    await pass(kind, requests);
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: HeapNode } };
    session.disconnect();
    let all = 0;
    let client = 0;
    const walk = (node: HeapNode, inClient: boolean) => {
      const here = inClient || node.callFrame.url.includes('/bench/lib/');
      all += node.selfSize;
      if (here) client += node.selfSize;
      for (const c of node.children) walk(c, here);
    };
    walk(profile.head, false);
    const kib = (bytes: number) => (bytes / requests / 1024).toFixed(0);
    const cpuUs = Math.round((cpu.user + cpu.system) / requests);
    process.stdout.write(`| ${kind} | ${p50.toFixed(2)} / ${p99.toFixed(2)} ms, ${cpuUs} µs | ${kib(all)} (${kib(client)}) |\n`);
  }
} finally {
  await close();
}
