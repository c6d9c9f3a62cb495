import { Latency, type LatencySummary } from '../lib/histogram.js';
import { log, pool } from '../lib/log.js';
import { httpJson, type ServerProcess } from '../lib/processes.js';
import type { RoomPlan } from '../lib/seed.js';
import { EMOJI } from './changes.js';

export interface CatchUpResult {
  clients: number;
  changes: number;
  mix: { edits: number; reactions: number; deletes: number };
  limit: number;
  /** The lastChangeSeq every client held, and the room's after the changes. */
  from: number;
  to: number;
  /** How long the changes took to make (8 at a time over REST). */
  writeSeconds: number;
  /** First request of the catch-up → last page answered; null when some client did not finish in time. */
  allDoneMs: number | null;
  perClient: LatencySummary;
  /** Request → answer of each page, including the wait for one of the load generator's 64 keep-alive connections. */
  page: LatencySummary;
  pages: number;
  /** Clients that ended with every changed message in its current state, once each, ascending, at `to`. */
  converged: number;
  loadgenCpuShare: number;
  serverCpuShare: number;
  /** Clients whose paging ended on an error, and the first error. */
  failed?: number;
  firstError?: string;
}

type Kind = 'edit' | 'react' | 'delete';
/** Two edits, two reactions and a delete in every five changes, each on a message of its own (1,000 rows to read). */
const kindOf = (i: number): Kind => (['edit', 'edit', 'react', 'react', 'delete'] as const)[i % 5]!;

interface Client {
  token: string;
  after: number;
  /** Which changed messages arrived in the expected state (by their index among the changes). */
  got: Uint8Array;
  bad: number;
  lastChangeSeq: number;
  doneAt: number | null;
}

interface PageRow {
  id: string;
  changeSeq: number;
  editedAt: string | null;
  deletedAt: string | null;
  reactions: Array<{ emoji: string; count: number }>;
}

type Api = { api: string; roomId: string };

/** Each client's position, read as a client keeps it (also each user's first request: their profiles are written here). */
async function positions({ api, roomId }: Api, clients: Client[], after: number): Promise<number> {
  await pool(clients, 50, async (c) => {
    const res = await httpJson('GET', `${api}/rooms/${roomId}/changes?after=${after}&limit=1`, c.token);
    if (res.status !== 200) throw new Error(`position: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
    c.after = res.body.lastChangeSeq;
  });
  const from = clients[0]!.after;
  if (clients.some((c) => c.after !== from)) throw new Error('clients hold different positions');
  return from;
}

/**
 * The changes, one on each of the room's latest `n` messages, 8 at a time: edits by the seeded sender (the owner sent
 * the even seqs, the second member the odd ones), reactions and deletes by the owner. Answers message id → change index.
 */
async function makeChanges({ api, roomId }: Api, room: RoomPlan, n: number, token: (u: string) => Promise<string>) {
  const ownerToken = await token(room.members[0]!);
  const secondToken = await token(room.members[1]!);
  const targets: Array<{ id: string; seq: number }> = [];
  for (let after = room.n - n; targets.length < n && after < room.n;) {
    const res = await httpJson('GET', `${api}/rooms/${roomId}/messages?after=${after}&limit=100`, ownerToken);
    if (res.status !== 200 || !res.body.data.length) throw new Error(`history: ${res.status}`);
    for (const msg of res.body.data as Array<{ id: string; seq: number }>) targets.push({ id: msg.id, seq: msg.seq });
    after = targets[targets.length - 1]!.seq;
  }
  const t0 = performance.now();
  await pool(targets, 8, async ({ id, seq }, i) => {
    const kind = kindOf(i);
    const res =
      kind === 'edit'
        ? await httpJson('PATCH', `${api}/messages/${id}`, seq % 2 === 0 ? ownerToken : secondToken, { content: `edited while away ${i}` })
        : kind === 'react'
          ? await httpJson('PUT', `${api}/messages/${id}/reactions/${encodeURIComponent(EMOJI)}`, ownerToken)
          : await httpJson('DELETE', `${api}/messages/${id}`, ownerToken);
    if (res.status !== 200) throw new Error(`${kind} #${seq}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
  });
  return { ids: new Map(targets.map((t, i) => [t.id, i])), writeSeconds: (performance.now() - t0) / 1000 };
}

/** A row is right when it is one of the changed messages, new to this client, after its position, in its current state. */
function check(c: Client, row: PageRow, ids: Map<string, number>): void {
  const i = ids.get(row.id);
  const kind = i === undefined ? undefined : kindOf(i);
  const ok =
    i !== undefined &&
    c.got[i] === 0 &&
    row.changeSeq > c.after &&
    (kind === 'edit' ? row.editedAt !== null : kind === 'delete' ? row.deletedAt !== null : row.reactions.some((r) => r.emoji === EMOJI));
  if (ok) c.got[i] = 1;
  else c.bad++;
  c.after = Math.max(c.after, row.changeSeq);
}

/** One client pages from its position until hasMore is false (bounded in pages and by the deadline); errors are reported. */
async function pageToEnd(
  { api, roomId }: Api,
  c: Client,
  o: { changes: number; limit: number; deadline: number; ids: Map<string, number>; pages: Latency },
): Promise<string | undefined> {
  try {
    for (let p = 0; p < o.changes / o.limit + 5 && performance.now() < o.deadline; p++) {
      const tp = performance.now();
      const res = await httpJson('GET', `${api}/rooms/${roomId}/changes?after=${c.after}&limit=${o.limit}`, c.token);
      o.pages.record(performance.now() - tp);
      if (res.status !== 200) throw new Error(`changes: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      for (const row of res.body.data as PageRow[]) check(c, row, o.ids);
      c.lastChangeSeq = res.body.lastChangeSeq;
      if (!res.body.hasMore) {
        c.doneAt = performance.now();
        return undefined;
      }
    }
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * The change log after a drop: every client of one room holds the room's lastChangeSeq N; then `changes` changes
 * happen, each on a message of its own; then all clients at once page `GET /rooms/:id/changes?after=N&limit=<limit>`
 * to the end. Timed from the first request to the last page answered; each client's pages are checked.
 */
export async function changesCatchUp(
  server: ServerProcess,
  token: (u: string) => Promise<string>,
  room: RoomPlan,
  o: {
    changes: number;
    limit: number;
    timeoutMs: number;
    settle: () => Promise<void>;
    /** The runner's --profile hook, around the catch-up itself (it answers the pages read). */
    wrap?: (fn: () => Promise<number>) => Promise<number>;
  },
): Promise<CatchUpResult> {
  const at: Api = { api: `${server.url}/api/v1/chat`, roomId: room.id };
  if (room.n < o.changes) throw new Error(`the catch-up room holds ${room.n} messages, fewer than ${o.changes} changes`);
  const clients: Client[] = await Promise.all(
    room.members
      .slice(1)
      .map(async (u) => ({ token: await token(u), after: 0, got: new Uint8Array(o.changes), bad: 0, lastChangeSeq: 0, doneAt: null })),
  );
  const from = await positions(at, clients, room.n);
  const { ids, writeSeconds } = await makeChanges(at, room, o.changes, token);
  await o.settle();

  const pages = new Latency();
  const errors: string[] = [];
  const paging = { changes: o.changes, limit: o.limit, deadline: performance.now() + o.timeoutMs, ids, pages };
  const cpu0 = server.cpuMs();
  const lg0 = process.cpuUsage();
  const t0 = performance.now();
  await (o.wrap ?? ((fn) => fn()))(async () => {
    await Promise.all(
      clients.map(async (c) => {
        const error = await pageToEnd(at, c, paging);
        if (error) errors.push(error);
      }),
    );
    return pages.count;
  });
  const elapsed = performance.now() - t0;
  const lg = process.cpuUsage(lg0);
  const per = new Latency();
  for (const c of clients) if (c.doneAt !== null) per.record(c.doneAt - t0);
  const converged = clients.filter(
    (c) => c.doneAt !== null && c.bad === 0 && c.got.every((g) => g === 1) && c.lastChangeSeq === from + o.changes,
  );
  const result: CatchUpResult = {
    clients: clients.length,
    changes: o.changes,
    mix: { edits: 0, reactions: 0, deletes: 0 },
    limit: o.limit,
    from,
    to: from + o.changes,
    writeSeconds,
    allDoneMs: clients.every((c) => c.doneAt !== null) ? Math.max(...clients.map((c) => c.doneAt! - t0)) : null,
    perClient: per.summary(),
    page: pages.summary(),
    pages: pages.count,
    converged: converged.length,
    loadgenCpuShare: (lg.user + lg.system) / 1000 / elapsed,
    serverCpuShare: (server.cpuMs() - cpu0) / elapsed,
    ...(errors.length ? { failed: errors.length, firstError: errors[0] } : {}),
  };
  for (let i = 0; i < o.changes; i++) result.mix[({ edit: 'edits', react: 'reactions', delete: 'deletes' } as const)[kindOf(i)]]++;
  log(
    `  catch-up: ${result.clients} clients, ${o.changes} changes (made in ${writeSeconds.toFixed(1)} s): all caught up in ${result.allDoneMs?.toFixed(0) ?? 'never'} ms, ` +
      `${result.pages} pages (p50 ${result.page.p50} / p99 ${result.page.p99} ms), ${result.converged} converged, server CPU ${(result.serverCpuShare * 100).toFixed(0)}%, ` +
      `loadgen CPU ${(result.loadgenCpuShare * 100).toFixed(0)}%${errors.length ? `; ${errors.length} clients failed (${errors[0]})` : ''}`,
  );
  return result;
}
