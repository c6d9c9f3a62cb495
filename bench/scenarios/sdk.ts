/**
 * The client SDK (`chat-service/client`, issue 13). Convergence: SDK clients, each behind a TCP proxy of its room's
 * group, have every link cut at once while another user makes changes over REST; timed from the links' return until
 * every client's every open room equals the server's history. Heap: what one SDK client with its rooms open takes,
 * read in a process of its own (lib/sdk-heap.ts).
 */
import { uuidv7 } from 'uuidv7';
import type { ChatClient, ChatRoom } from 'chat-service/client';
import { startProxy, type Proxy } from '../../test/helpers/proxy.js';
import type { LatencySummary } from '../lib/histogram.js';
import { log, pool, sleep, until } from '../lib/log.js';
import { httpJson, type ServerProcess } from '../lib/processes.js';
import type { Row } from '../lib/report.js';
import { freshSdkBuild, type SdkHeap } from '../lib/sdk-heap.js';
import {
  diffCount,
  equal,
  histories,
  plainCatchUp,
  positionsOf,
  summary,
  truthOf,
  within,
  type PlainCatchUp,
  type Truth,
} from '../lib/sdk-server.js';
import type { Manifest, RoomPlan } from '../lib/seed.js';

export interface SdkSizes {
  clients: number;
  rooms: number;
  /** Seeded messages in each room; every client pages its room back to all of them. */
  messages: number;
  cutMs: number;
  changes: number;
  timeoutMs: number;
  heapClients: number;
  heapRooms: number;
}

export interface SdkPlan {
  sizes: SdkSizes;
  /** Owner of every room, sender of the even seqs, and the one who makes the changes. */
  writer: string;
  rooms: RoomPlan[];
  /** Client i follows rooms[i % rooms.length]. */
  clients: string[];
  heapRooms: RoomPlan[];
  /** In every heap room; the first is the warm-up client's. */
  heapUsers: string[];
}

export interface SdkConvergence {
  clients: number;
  rooms: number;
  messages: number;
  changes: number;
  mix: Record<Kind, number>;
  /** How long the links were down (at least the planned cut; longer when the changes took longer). */
  cutMs: number;
  writeSeconds: number;
  /** Restore → every open room of the client equals the server's history (data only). */
  converged: LatencySummary;
  allConvergedMs: number | null;
  convergedClients: number;
  /** Restore → the client's socket was back (state catching_up). */
  reconnected: LatencySummary;
  /** Restore → the first reconnection attempt after it (Socket.IO's backoff), and that attempt → socket back. */
  attempt: LatencySummary;
  handshake: LatencySummary;
  /** Reconnected → converged, per client. */
  afterReconnect: LatencySummary;
  /** Restore → state live. */
  live: LatencySummary;
  /** Messages that differ from the server's after the wait, over all clients' rooms, and clients with any. */
  diffs: number;
  diffClients: number;
  baseline: PlainCatchUp | null;
  loadgenCpuShare: number;
  serverCpuShare: number;
}

export { sdkHeap, type SdkHeap } from '../lib/sdk-heap.js';

export interface SdkResult {
  convergence?: SdkConvergence;
  heap?: SdkHeap;
}

type Kind = 'send' | 'edit' | 'react' | 'delete';
const KINDS: Kind[] = ['send', 'edit', 'react', 'delete'];
const EMOJI = '🎉';
type Token = (userId: string) => Promise<string>;

export function planSdk(m: Manifest, s: SdkSizes): SdkPlan {
  const writer = 'sdk-writer';
  const peer = 'sdk-peer';
  const clients = Array.from({ length: s.clients }, (_, i) => `sdk-${i}`);
  const rooms = Array.from({ length: s.rooms }, (_, r): RoomPlan => ({
    id: uuidv7(),
    type: 'group',
    members: [writer, peer, ...clients.filter((_, i) => i % s.rooms === r)],
    n: s.messages,
  }));
  const heapUsers = Array.from({ length: s.heapClients + 1 }, (_, i) => `sdk-heap-${i}`);
  const heapRooms = Array.from({ length: s.heapRooms }, (): RoomPlan => ({
    id: uuidv7(),
    type: 'group',
    members: [writer, peer, ...heapUsers],
    n: s.messages,
  }));
  m.all.push(...rooms, ...heapRooms);
  return { sizes: s, writer, rooms, clients, heapRooms, heapUsers };
}

interface Follower {
  client: ChatClient;
  rooms: ChatRoom[];
  dirty: boolean;
  reconnectedAt: number | null;
  attemptAt: number | null;
  liveAt: number | null;
  convergedAt: number | null;
}

/** Times after the restore; null before it. */
const clock: { t0: number | null } = { t0: null };

/**
 * One SDK client per user, through its room's proxy, its room opened and paged back to the seeded history. Each client
 * goes into `made` as soon as it exists, so the caller closes it whatever happens after.
 */
async function openFollowers(plan: SdkPlan, proxies: Proxy[], token: Token, made: ChatClient[]): Promise<Follower[]> {
  const { ChatClient: Client } = await import('chat-service/client');
  return pool(plan.clients, 16, async (userId, i) => {
    const room = plan.rooms[i % plan.rooms.length]!;
    const client = new Client({ url: `http://127.0.0.1:${proxies[i % plan.rooms.length]!.port}`, token: await token(userId) });
    made.push(client);
    const f: Follower = { client, rooms: [], dirty: true, reconnectedAt: null, attemptAt: null, liveAt: null, convergedAt: null };
    client.on('state', (s) => {
      f.dirty = true;
      if (clock.t0 === null) return;
      const t = performance.now() - clock.t0;
      if (s === 'catching_up') f.reconnectedAt ??= t;
      if (s === 'live') f.liveAt ??= t;
    });
    await within(client.connect(), 30_000, `${userId} connect`);
    // Diagnostic only, through the SDK's private socket (skipped if it is not there): when Socket.IO tries again.
    const manager = (client as unknown as { socket?: { io?: { on(e: string, fn: () => void): unknown } } }).socket?.io;
    manager?.on('reconnect_attempt', () => {
      if (clock.t0 !== null) f.attemptAt ??= performance.now() - clock.t0;
    });
    const open = await within(client.openRoom(room.id), 30_000, `${userId} openRoom`);
    open.on('change', () => (f.dirty = true));
    for (let p = 0; p < 50 && open.messages.length < room.n; p++)
      if (!(await within(open.loadOlder(), 30_000, `${userId} loadOlder`))) break;
    f.rooms.push(open);
    return f;
  });
}

/** Marks each client converged at the first check after an event at which all its rooms equal `want`. */
async function watch(followers: Follower[], want: Truth, deadline: number): Promise<void> {
  let left = followers.filter((f) => f.convergedAt === null).length;
  for (const f of followers) f.dirty = true;
  while (left > 0 && performance.now() < deadline) {
    for (const f of followers) {
      if (f.convergedAt !== null || !f.dirty) continue;
      f.dirty = false;
      if (f.rooms.every((r) => equal(r, want.get(r.id)!))) {
        f.convergedAt = clock.t0 === null ? 0 : performance.now() - clock.t0;
        left--;
      }
    }
    await sleep(5);
  }
}

interface Change {
  kind: Kind;
  roomId: string;
  id?: string;
}

/** Round-robin over the rooms, send/edit/react/delete in turn, each edit, reaction and delete on a message of its own. */
function planChanges(plan: SdkPlan, seeded: Map<string, any[]>, n: number): Change[] {
  let x = 0x9e3779b9;
  const rand = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const shuffled = (a: any[]) =>
    a
      .map((m) => ({ m, k: rand() }))
      .sort((p, q) => p.k - q.k)
      .map((p) => p.m);
  const per = plan.rooms.map((r) => {
    const msgs = seeded.get(r.id)!;
    return {
      id: r.id,
      own: shuffled(msgs.filter((m) => m.senderId === plan.writer)),
      other: shuffled(msgs.filter((m) => m.senderId !== plan.writer)),
      j: 0,
    };
  });
  return Array.from({ length: n }, (_, g) => {
    const room = per[g % per.length]!;
    const kind = KINDS[room.j++ % KINDS.length]!;
    if (kind === 'send') return { kind, roomId: room.id };
    const target = (kind === 'edit' ? room.own : room.other).pop() ?? room.own.pop();
    if (!target) throw new Error(`room ${room.id}: too few seeded messages for ${n} changes`);
    return { kind, roomId: room.id, id: target.id };
  });
}

async function makeChange(api: string, token: string, c: Change, g: number): Promise<void> {
  const res =
    c.kind === 'send'
      ? await httpJson('POST', `${api}/rooms/${c.roomId}/messages`, token, {
          content: `sent while cut ${g}`,
          clientMessageId: `sdk-bench-${process.pid}-${g}`,
        })
      : c.kind === 'edit'
        ? await httpJson('PATCH', `${api}/messages/${c.id}`, token, { content: `edited while cut ${g}` })
        : c.kind === 'react'
          ? await httpJson('PUT', `${api}/messages/${c.id}/reactions/${encodeURIComponent(EMOJI)}`, token)
          : await httpJson('DELETE', `${api}/messages/${c.id}`, token);
  if (res.status !== (c.kind === 'send' ? 201 : 200)) throw new Error(`${c.kind}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
}

/** All links cut; the changes, 8 at a time; the links stay down for the rest of the planned cut. Answers the truth after. */
async function cutAndChange(api: string, writer: string, plan: SdkPlan, followers: Follower[], proxies: Proxy[], changes: Change[]) {
  const cutAt = performance.now();
  await Promise.all(proxies.map((p) => p.cut()));
  if (!(await until(() => followers.every((f) => f.client.state === 'offline'), 10_000))) throw new Error('not every client saw the cut');
  const w0 = performance.now();
  await pool(changes, 8, (c, g) => makeChange(api, writer, c, g));
  const writeSeconds = (performance.now() - w0) / 1000;
  const roomIds = plan.rooms.map((r) => r.id);
  const want = truthOf(await histories(api, writer, roomIds));
  await sleep(Math.max(0, plan.sizes.cutMs - (performance.now() - cutAt)));
  return { want, writeSeconds, cutAt };
}

/** The clients, connected through the proxies, each holding its room's seeded history as the server has it. */
async function ready(plan: SdkPlan, proxies: Proxy[], token: Token, seeded: Map<string, any[]>, made: ChatClient[]): Promise<Follower[]> {
  const t0 = performance.now();
  const followers = await openFollowers(plan, proxies, token, made);
  await watch(followers, truthOf(seeded), performance.now() + 10_000);
  if (followers.some((f) => f.convergedAt === null)) throw new Error('clients did not hold the seeded history before the cut');
  for (const f of followers) f.convergedAt = null;
  log(`  SDK: ${followers.length} clients connected, rooms opened and paged back in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return followers;
}

/** Every link back at once (t0, taken before the first), then each client watched until it converged or the deadline. */
async function restoreAndWatch(server: ServerProcess, followers: Follower[], proxies: Proxy[], want: Truth, timeoutMs: number) {
  const cpu0 = server.cpuMs();
  const lg0 = process.cpuUsage();
  // Every room changed during the cut: a client that already matches would mean the cut let something through.
  if (followers.some((f) => f.rooms.every((r) => equal(r, want.get(r.id)!))))
    throw new Error('a client matched the server before the restore');
  const t0 = (clock.t0 = performance.now());
  await Promise.all(proxies.map((p) => p.restore()));
  await watch(followers, want, t0 + timeoutMs);
  const elapsed = performance.now() - t0;
  const lg = process.cpuUsage(lg0);
  const shares = { loadgenCpuShare: (lg.user + lg.system) / 1000 / elapsed, serverCpuShare: (server.cpuMs() - cpu0) / elapsed };
  await until(() => followers.every((f) => f.liveAt !== null), 5000);
  return { t0, ...shares };
}

function resultOf(
  plan: SdkPlan,
  followers: Follower[],
  changes: Change[],
  diffs: number[],
): Omit<SdkConvergence, 'cutMs' | 'writeSeconds' | 'baseline' | 'loadgenCpuShare' | 'serverCpuShare'> {
  const at = followers.map((f) => f.convergedAt);
  return {
    clients: followers.length,
    rooms: plan.rooms.length,
    messages: plan.sizes.messages,
    changes: changes.length,
    mix: Object.fromEntries(KINDS.map((k) => [k, changes.filter((c) => c.kind === k).length])) as Record<Kind, number>,
    converged: summary(at),
    allConvergedMs: at.every((v) => v !== null) ? Math.max(...(at as number[])) : null,
    convergedClients: at.filter((v) => v !== null).length,
    reconnected: summary(followers.map((f) => f.reconnectedAt)),
    attempt: summary(followers.map((f) => f.attemptAt)),
    handshake: summary(followers.map((f) => (f.attemptAt !== null && f.reconnectedAt !== null ? f.reconnectedAt - f.attemptAt : null))),
    afterReconnect: summary(
      followers.map((f) => (f.convergedAt !== null && f.reconnectedAt !== null ? f.convergedAt - f.reconnectedAt : null)),
    ),
    live: summary(followers.map((f) => f.liveAt)),
    diffs: diffs.reduce((a, n) => a + n, 0),
    diffClients: diffs.filter((n) => n > 0).length,
  };
}

/**
 * Convergence after a cut: the clients open their rooms and match the server; every link is cut; the writer makes the
 * changes over REST; after the cut all links return at once (t0) and each client is timed until all its open rooms
 * equal the server's history. Then the diffs left, and the same-run baseline: the catch-up requests alone.
 */
export async function sdkConvergence(
  server: ServerProcess,
  token: Token,
  plan: SdkPlan,
  settle: () => Promise<void>,
): Promise<SdkConvergence> {
  if (freshSdkBuild()) log('  client/dist was older than its sources: rebuilt the SDK (npm run build:client)');
  const api = `${server.url}/api/v1/chat`;
  const writer = await token(plan.writer);
  const roomIds = plan.rooms.map((r) => r.id);
  const proxies = await Promise.all(plan.rooms.map(() => startProxy('127.0.0.1', server.port)));
  const made: ChatClient[] = [];
  clock.t0 = null;
  try {
    const seeded = await histories(api, writer, roomIds);
    const followers = await ready(plan, proxies, token, seeded, made);
    await settle();
    const positions = await positionsOf(api, writer, roomIds);
    const changes = planChanges(plan, seeded, plan.sizes.changes);
    const { want, writeSeconds, cutAt } = await cutAndChange(api, writer, plan, followers, proxies, changes);
    const run = await restoreAndWatch(server, followers, proxies, want, plan.sizes.timeoutMs);
    const now = truthOf(await histories(api, writer, roomIds));
    const diffs = followers.map((f) => f.rooms.reduce((a, r) => a + diffCount(r, now.get(r.id)!), 0));
    await settle();
    const tokens = await Promise.all(plan.clients.map(token));
    const baseline = await plainCatchUp(server.url, tokens, (i) => roomIds[i % roomIds.length]!, positions, plan.sizes.timeoutMs).catch(
      (err: unknown) => (log(`  ⚠️ plain catch-up baseline failed: ${err instanceof Error ? err.message : String(err)}`), null),
    );
    const result: SdkConvergence = {
      ...resultOf(plan, followers, changes, diffs),
      cutMs: run.t0 - cutAt,
      writeSeconds,
      baseline,
      loadgenCpuShare: run.loadgenCpuShare,
      serverCpuShare: run.serverCpuShare,
    };
    logConvergence(result);
    return result;
  } finally {
    clock.t0 = null;
    await Promise.all(made.map((c) => c.close().catch(() => {})));
    await Promise.all(proxies.map((p) => p.close()));
  }
}

function logConvergence(r: SdkConvergence): void {
  const b = r.baseline;
  log(
    `  SDK: ${r.clients} clients, links cut ${(r.cutMs / 1000).toFixed(1)} s, ${r.changes} changes (made in ${r.writeSeconds.toFixed(1)} s): ` +
      `converged p50 ${r.converged.p50.toFixed(0)} / max ${r.converged.max.toFixed(0)} ms (${r.convergedClients} of ${r.clients}), ` +
      `next attempt p50 ${r.attempt.p50.toFixed(0)} / max ${r.attempt.max.toFixed(0)} ms, reconnected p50 ${r.reconnected.p50.toFixed(0)} / max ${r.reconnected.max.toFixed(0)} ms, then caught up p50 ${r.afterReconnect.p50.toFixed(0)} / max ${r.afterReconnect.max.toFixed(0)} ms; ` +
      `${r.diffs} diffs; server CPU ${(r.serverCpuShare * 100).toFixed(0)}%, loadgen CPU ${(r.loadgenCpuShare * 100).toFixed(0)}%` +
      (b ? `; plain catch-up requests ${b.allDoneMs?.toFixed(0) ?? 'not all'} ms (${b.requests} requests)` : ''),
  );
}

const ms = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(0)} ms`);
const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
const x = (r: number) => (Number.isFinite(r) ? `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×` : '–');

/** The table's rows (report.ts adds the engine). */
export function sdkRows(r: SdkResult): Array<Omit<Row, 'engine'>> {
  const rows: Array<Omit<Row, 'engine'>> = [];
  const c = r.convergence;
  if (c) {
    const b = c.baseline;
    rows.push({
      scenario:
        `${c.clients} SDK clients in ${c.rooms} rooms (${c.messages} messages each, all held), every link cut for ${(c.cutMs / 1000).toFixed(1)} s ` +
        `while ${c.changes.toLocaleString('en')} changes happen over REST (${c.mix.send} sends, ${c.mix.edit} edits, ${c.mix.react} reactions, ${c.mix.delete} deletes)`,
      metric: 'restore → every open room equals the server: p50 / max; diffs',
      service: `${ms(c.converged.p50)} / ${c.allConvergedMs === null ? 'not all' : ms(c.allConvergedMs)}; ${c.diffs} diffs (${c.convergedClients} of ${c.clients} converged)`,
      baseline: b ? `${b.allDoneMs === null ? 'not all' : ms(b.allDoneMs)} the same catch-up requests by plain fetch, no reconnect` : '–',
      ratio: b?.allDoneMs && c.allConvergedMs !== null ? `${x(c.allConvergedMs / b.allDoneMs)} (max)` : '',
      target: '< 2 s, 0 diffs',
      met: c.allConvergedMs !== null && c.allConvergedMs < 2000 && c.diffs === 0,
    });
    rows.push({
      scenario: 'where the SDK clients’ time after the restore goes (diagnostic)',
      metric: 'p50 / max: restore → next reconnection attempt (backoff); attempt → socket back; socket back → converged',
      service: [c.attempt, c.handshake, c.afterReconnect].map((l) => `${ms(l.p50)} / ${ms(l.max)}`).join('; '),
      baseline: '—',
      ratio: '',
      target: '',
      met: null,
    });
  }
  const h = r.heap;
  if (h) {
    rows.push({
      scenario: `SDK client with ${h.sdk.rooms} open rooms of ${h.sdk.heldMin} messages (${h.sdk.clients} clients, in a process of their own)`,
      metric: 'heap per client (after a full GC)',
      service: `${kib(h.sdk.heapPerClient)} (${Math.round(h.sdk.heapPerClient / (h.sdk.rooms * h.sdk.heldMin))} B a message held)`,
      baseline: h.bare ? `${kib(h.bare.heapPerClient)} one socket.io-client socket + the same pages as parsed JSON` : '–',
      ratio: h.bare ? x(h.sdk.heapPerClient / h.bare.heapPerClient) : '',
      target: '',
      met: null,
    });
  }
  return rows;
}
