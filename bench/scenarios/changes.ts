import { deleteInOneStatement, editInOneStatement } from '../../src/messages/message-changes.statement.js';
import { reactInOneStatement } from '../../src/reactions/reactions.statement.js';
import { documentVector } from '../../src/text/tokenize.js';
import type { RawDb } from '../lib/database.js';
import { timeSerial, type LatencySummary } from '../lib/histogram.js';
import { log, sleep } from '../lib/log.js';
import { httpJson, settle, type ServerProcess } from '../lib/processes.js';
import type { Manifest } from '../lib/seed.js';
import type { CatchUpResult } from './catch-up.js';
import { rng } from '../lib/rng.js';

export const CHANGE_KINDS = ['edit', 'delete', 'react'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** A seeded message to change, and who changes it. */
interface Target {
  id: string;
  roomId: string;
  seq: number;
  /** The sender edits and deletes; the room's other writer reacts. */
  by: string;
}

export interface ChangesPlan {
  /** Messages seeded in the history rooms (the targets are drawn from those the reader is not in). */
  messages: number;
  samples: number;
  warmup: number;
  budgetMs: number;
  /** Operations of each kind in the statement-count pass. */
  countOps: number;
  rest: Record<ChangeKind, Target[]>;
  /** The same requests again on other messages, once the server has answered the first pass (diagnostic). */
  again: Record<ChangeKind, Target[]>;
  count: Record<ChangeKind, Target[]>;
  raw: Record<ChangeKind, Target[]>;
  /** Rooms (and a member) that the sends of the statement-count pass go to. */
  sends: Array<{ roomId: string; by: string }>;
}

export interface StatementCount {
  /** Statements per operation: everything the server sent while the operations ran and until it was idle again. */
  perOp: number;
  ops: number;
  sql: Record<string, number>;
}

export interface ChangeOpResult {
  rest: LatencySummary;
  /** The second pass: the same kind of request after every kind's first pass (the server's code warm). */
  again?: LatencySummary;
  raw: LatencySummary | null;
  statements: StatementCount;
}

export interface ChangesResult {
  messages: number;
  ops: Partial<Record<ChangeKind, ChangeOpResult>>;
  /** A second reaction on each message the first pass reacted to, by its sender (diagnostic). */
  reactAgain?: LatencySummary;
  send?: StatementCount;
  catchUp?: CatchUpResult;
}

export const EMOJI = '👍';
const FILLER = 'the quick brown fox jumps over the lazy dog while the team reviews the release notes';
const other = (u: string) => (u === 'dw-a' ? 'dw-b' : 'dw-a');

/**
 * Picks, with the server stopped, distinct seeded messages for each kind and each side (REST, statement count, raw),
 * rooms weighted by their size (busy rooms change more) and seqs uniform in the room, so changes land at any depth of
 * the history; their ids come from the database in one query.
 */
export async function planChanges(
  raw: RawDb,
  m: Manifest,
  o: { samples: number; warmup: number; budgetMs: number; countOps: number },
): Promise<ChangesPlan> {
  const rand = rng(12);
  // Not the reader's rooms: the history and search rows read those, and the raw baseline below runs before them.
  const rooms = m.data.rooms.filter((r) => !r.members.includes(m.data.reader));
  const total = rooms.reduce((a, r) => a + r.n, 0);
  const perKind = { rest: o.samples + o.warmup, count: o.countOps, raw: o.samples + o.warmup };
  const need = CHANGE_KINDS.length * (2 * perKind.rest + perKind.count + perKind.raw);
  if (need > total / 2) throw new Error(`${need} messages to change out of ${total}`);
  const picked = new Map<string, { roomId: string; seq: number }>();
  for (let i = 0; picked.size < need && i < need * 20; i++) {
    let x = rand() * total;
    const room = rooms.find((r) => (x -= r.n) < 0) ?? rooms[0]!;
    const seq = 1 + Math.floor(rand() * room.n);
    picked.set(`${room.id}:${seq}`, { roomId: room.id, seq });
  }
  const keys = [...picked.values()];
  const found = await raw.query<{ id: string; room_id: string; seq: string; sender_id: string }>(
    `select m.id, m.room_id, m.seq, m.sender_id from chat_message m
     join unnest($1::uuid[], $2::bigint[]) as k(room_id, seq) on m.room_id = k.room_id and m.seq = k.seq`,
    [keys.map((k) => k.roomId), keys.map((k) => k.seq)],
  );
  const byKey = new Map(found.map((r) => [`${r.room_id}:${r.seq}`, r]));
  const targets = keys.map((k) => {
    const r = byKey.get(`${k.roomId}:${k.seq}`);
    if (!r) throw new Error(`seeded message ${k.roomId} #${k.seq} not found`);
    return { id: r.id, roomId: r.room_id, seq: Number(r.seq), sender: r.sender_id };
  });
  let next = 0;
  const take = (n: number, kind: ChangeKind): Target[] =>
    targets
      .slice(next, (next += n))
      .map((t) => ({ id: t.id, roomId: t.roomId, seq: t.seq, by: kind === 'react' ? other(t.sender) : t.sender }));
  const side = (n: number) => Object.fromEntries(CHANGE_KINDS.map((k) => [k, take(n, k)])) as Record<ChangeKind, Target[]>;
  const rest = side(perKind.rest);
  const again = side(perKind.rest);
  const count = side(perKind.count);
  const rawSide = side(perKind.raw);
  return {
    messages: m.data.total,
    samples: o.samples,
    warmup: o.warmup,
    budgetMs: o.budgetMs,
    countOps: o.countOps,
    rest,
    again,
    count,
    raw: rawSide,
    sends: count.edit.map((t) => ({ roomId: t.roomId, by: t.by })),
  };
}

/**
 * The same-run baseline, with the server stopped: each change's own statement as the service runs it (an edit or a
 * delete by its sender, a reaction: one statement each), in the bench process, without HTTP, auth, the presenter or
 * the events sent after the commit.
 */
export async function rawChanges(raw: RawDb, plan: ChangesPlan): Promise<Record<ChangeKind, LatencySummary>> {
  const must = (done: unknown, what: string, t: Target) => {
    if (!done) throw new Error(`${what} refused on ${t.id}`);
  };
  const op: Record<ChangeKind, (t: Target, i: number) => Promise<void>> = {
    edit: async (t, i) => {
      const content = `edited raw ${i} ${FILLER}`;
      const input = { content, searchDoc: documentVector(content), mentions: undefined, notBefore: null };
      must(await editInOneStatement(raw.drizzle, t.id, t.by, input), 'edit', t);
    },
    delete: async (t) => must(await deleteInOneStatement(raw.drizzle, t.id, t.by), 'delete', t),
    react: async (t) => must(await reactInOneStatement(raw.drizzle, t.id, t.by, EMOJI, true), 'reaction', t),
  };
  const out = {} as Record<ChangeKind, LatencySummary>;
  for (const kind of CHANGE_KINDS) {
    let k = 0;
    const targets = plan.raw[kind];
    out[kind] = (await timeSerial(plan.samples, plan.budgetMs, () => op[kind](targets[k]!, k++), plan.warmup)).summary();
  }
  log(`    raw change transactions: ${CHANGE_KINDS.map((k) => `${k} p99 ${out[k].p99} ms`).join(', ')}`);
  return out;
}

type Token = (userId: string) => Promise<string>;

/** One change over REST; throws unless the service answers 200 with the message's new changeSeq. */
async function restOp(api: string, token: Token, kind: ChangeKind, t: Target, i: number): Promise<void> {
  const auth = await token(t.by);
  const res =
    kind === 'edit'
      ? await httpJson('PATCH', `${api}/messages/${t.id}`, auth, { content: `edited ${i} ${FILLER}` })
      : kind === 'delete'
        ? await httpJson('DELETE', `${api}/messages/${t.id}`, auth)
        : await httpJson('PUT', `${api}/messages/${t.id}/reactions/${encodeURIComponent(EMOJI)}`, auth);
  if (res.status !== 200 || typeof res.body?.changeSeq !== 'number' || res.body.changeSeq <= t.seq)
    throw new Error(`${kind}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
}

async function restSend(api: string, token: Token, s: { roomId: string; by: string }, i: number): Promise<void> {
  const res = await httpJson('POST', `${api}/rooms/${s.roomId}/messages`, await token(s.by), {
    content: `bench count ${i} ${FILLER}`,
    clientMessageId: `count-${process.pid}-${i}`,
  });
  if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
}

/**
 * Statements the server sends for `n` operations, one at a time, including the work they leave for later (the event
 * consumers): counted by the probe from the first operation until the server is idle again, minus what an idle
 * window of the same length counts (timers), per operation.
 */
async function countStatements(server: ServerProcess, n: number, fn: (i: number) => Promise<void>): Promise<StatementCount> {
  const t0 = performance.now();
  await server.sqlStart();
  for (let i = 0; i < n; i++) await fn(i);
  await sleep(300);
  await settle(server, 3000, 0.05);
  const busy = await server.sqlStop();
  const windowMs = performance.now() - t0;
  await server.sqlStart();
  await sleep(windowMs);
  const idle = await server.sqlStop();
  const sql: Record<string, number> = {};
  for (const [q, c] of Object.entries(busy)) if (c - (idle[q] ?? 0) > 0) sql[q] = c - (idle[q] ?? 0);
  const total = Object.values(sql).reduce((a, c) => a + c, 0);
  return { perOp: total / n, ops: n, sql };
}

type Wrap = <T>(title: string, fn: () => Promise<T>, per?: (r: T) => { n: number; unit: string }) => Promise<T>;

/**
 * Edit, delete and react over REST, one request at a time (closed loop, latency per request) on distinct seeded
 * messages, twice (the second pass on other messages, a diagnostic of the server warm); then the statement-count pass: the same operations and plain sends, one at a time. `wrap` is the
 * runner's --profile hook, around the timed requests only (the count pass counts on its own).
 */
export async function restChanges(
  server: ServerProcess,
  token: Token,
  plan: ChangesPlan,
  raw: Partial<Record<ChangeKind, LatencySummary>> | undefined,
  wrap: Wrap,
): Promise<ChangesResult> {
  const api = `${server.url}/api/v1/chat`;
  const result: ChangesResult = { messages: plan.messages, ops: {} };
  const timed = {} as Record<ChangeKind, LatencySummary>;
  const again = {} as Record<ChangeKind, LatencySummary>;
  const used = {} as Record<ChangeKind, number>;
  const pass = async (targets: Record<ChangeKind, Target[]>, into: Record<ChangeKind, LatencySummary>) => {
    for (const kind of CHANGE_KINDS) {
      let k = 0;
      into[kind] = (
        await timeSerial(plan.samples, plan.budgetMs, () => restOp(api, token, kind, targets[kind][k]!, k++), plan.warmup)
      ).summary();
      used[kind] = k;
    }
  };
  await wrap(
    'edit, delete, react over REST',
    () => pass(plan.rest, timed),
    () => ({ n: CHANGE_KINDS.reduce((a, k) => a + timed[k].count, 0), unit: 'changes' }),
  );
  // The first pass runs on a server that just started (its code not yet optimised, its schemas compiling in the
  // background); the second tells how much of the first one's tail that was. The targets stay on the first.
  const reacted = plan.rest.react.slice(0, used.react);
  await pass(plan.again, again);
  // Most reactions are not a message's first (several people react to one): the same messages again, by their
  // senders. The first reaction moved each row to a page with room, so these are the ones a HOT update serves.
  let r = 0;
  const byTheSender = (t: Target): Target => ({ ...t, by: other(t.by) });
  result.reactAgain = (
    await timeSerial(
      Math.min(plan.samples, reacted.length - plan.warmup),
      plan.budgetMs,
      () => restOp(api, token, 'react', byTheSender(reacted[r]!), r++),
      plan.warmup,
    )
  ).summary();
  await settle(server);
  for (const kind of CHANGE_KINDS) {
    const targets = plan.count[kind];
    const statements = await countStatements(server, targets.length, (i) => restOp(api, token, kind, targets[i]!, i));
    result.ops[kind] = { rest: timed[kind], again: again[kind], raw: raw?.[kind] ?? null, statements };
  }
  // Sends last: the notifications they leave to the outbox worker would otherwise be counted to the changes after them.
  result.send = await countStatements(server, plan.sends.length, (i) => restSend(api, token, plan.sends[i]!, i));
  log(
    `  changes over REST (${plan.messages.toLocaleString('en')} messages): ${CHANGE_KINDS.map(
      (k) =>
        `${k} p50 ${timed[k].p50} / p99 ${timed[k].p99} ms (again: ${again[k].p50} / ${again[k].p99} ms), ` +
        `${result.ops[k]!.statements.perOp.toFixed(2)} statements`,
    ).join(
      '; ',
    )}; a second reaction p50 ${result.reactAgain.p50} / p99 ${result.reactAgain.p99} ms; a send ${result.send.perOp.toFixed(2)} statements`,
  );
  return result;
}
