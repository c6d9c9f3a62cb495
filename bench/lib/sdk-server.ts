/**
 * The server's side of the SDK scenario (scenarios/sdk.ts), over plain HTTP: each room's history as the server holds
 * it, how far an SDK room is from it, and the same-run baseline of the convergence row (the catch-up requests alone).
 */
import type { ChatRoom } from 'chat-service/client';
import { Latency, type LatencySummary } from './histogram.js';
import { pool } from './log.js';
import { httpJson } from './processes.js';

/**
 * "Equal to the server" as API.md has it (id, seq, content, mentions, editedAt, deletedAt, pinnedAt, reactions), and
 * never a pending copy; a reaction's `me` is the viewer's (the writer reads the truth, the clients never react), so
 * reactions compare by emoji and count.
 */
export const keyOf = (m: any): string =>
  JSON.stringify([
    m.id,
    m.seq,
    m.pending === true,
    m.senderId,
    m.content,
    m.mentions,
    m.editedAt,
    m.deletedAt,
    m.pinnedAt,
    (m.reactions ?? []).map((r: any) => [r.emoji, r.count]),
  ]);

/** Each room's whole history as the server holds it, as keys in seq order. */
export type Truth = Map<string, string[]>;

async function history(api: string, token: string, roomId: string): Promise<any[]> {
  const out: any[] = [];
  for (let after = 0, p = 0; p < 100; p++) {
    const res = await httpJson('GET', `${api}/rooms/${roomId}/messages?after=${after}&limit=100`, token);
    if (res.status !== 200) throw new Error(`history: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
    out.push(...res.body.data);
    if (!res.body.hasMore || res.body.data.length === 0) return out;
    after = res.body.data.at(-1).seq;
  }
  throw new Error('history: more than 100 pages');
}

export async function histories(api: string, token: string, roomIds: string[]): Promise<Map<string, any[]>> {
  const all = await pool(roomIds, 8, (id) => history(api, token, id));
  return new Map(roomIds.map((id, i) => [id, all[i]!]));
}

export const truthOf = (h: Map<string, any[]>): Truth => new Map([...h].map(([id, msgs]) => [id, msgs.map(keyOf)]));

export function equal(room: ChatRoom, want: string[]): boolean {
  const held = room.messages;
  if (held.length !== want.length) return false;
  for (let i = 0; i < held.length; i++) if (keyOf(held[i]) !== want[i]) return false;
  return true;
}

/** Messages that differ: missing, extra, held twice, or in another state than the server's. */
export function diffCount(room: ChatRoom, want: string[]): number {
  const server = new Map(want.map((k) => [JSON.parse(k)[0] as string, k]));
  const seen = new Set<string>();
  let n = 0;
  for (const m of room.messages) {
    if (seen.has(m.id) || server.get(m.id) !== keyOf(m)) n++;
    seen.add(m.id);
  }
  for (const id of server.keys()) if (!seen.has(id)) n++;
  return Math.max(n, equal(room, want) ? 0 : 1);
}

export interface PlainCatchUp {
  clients: number;
  allDoneMs: number | null;
  perClient: LatencySummary;
  requests: number;
  failed: number;
  firstError?: string;
}

/**
 * The same-run baseline: the catch-up requests the SDK needs after this cut, by plain fetch straight to the server, all
 * clients at once and no reconnect first: the room list, then the room's new messages and its changes, paged from the
 * position held before the cut. The SDK's time beyond it is its own: reconnecting (backoff), the socket, the proxy.
 */
export async function plainCatchUp(
  base: string,
  tokens: string[],
  roomOf: (i: number) => string,
  positions: Map<string, { lastSeq: number; lastChangeSeq: number }>,
  timeoutMs: number,
): Promise<PlainCatchUp> {
  let requests = 0;
  const errors: string[] = [];
  const get = async (token: string, p: string): Promise<any> => {
    requests++;
    const res = await fetch(`${base}/api/v1/chat${p}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`GET ${p}: ${res.status}`);
    return res.json();
  };
  const pageAll = async (token: string, p: string, after: number, next: (m: any) => number) => {
    for (let i = 0; i < 100; i++) {
      const page = await get(token, `${p}${after}`);
      if (!page.hasMore || page.data.length === 0) return;
      after = next(page.data.at(-1));
    }
  };
  const t0 = performance.now();
  const done = await Promise.all(
    tokens.map(async (token, i) => {
      try {
        const roomId = roomOf(i);
        const at = positions.get(roomId)!;
        await get(token, '/rooms?limit=100');
        await pageAll(token, `/rooms/${roomId}/messages?limit=100&after=`, at.lastSeq, (m) => m.seq);
        await pageAll(token, `/rooms/${roomId}/changes?limit=200&after=`, at.lastChangeSeq, (m) => m.changeSeq);
        return performance.now() - t0;
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
        return null;
      }
    }),
  );
  return {
    clients: tokens.length,
    allDoneMs: done.every((d) => d !== null) ? Math.max(...(done as number[])) : null,
    perClient: summary(done),
    requests,
    failed: errors.length,
    ...(errors.length ? { firstError: errors[0] } : {}),
  };
}

export function summary(values: Array<number | null>): LatencySummary {
  const l = new Latency();
  for (const v of values) if (v !== null) l.record(v);
  return l.summary();
}

/** Each room's lastSeq and lastChangeSeq: where every client stands before the cut, and the baseline starts from. */
export async function positionsOf(api: string, writer: string, roomIds: string[]) {
  const rooms = await pool(roomIds, 8, async (id) => {
    const res = await httpJson('GET', `${api}/rooms/${id}`, writer);
    if (res.status !== 200) throw new Error(`GET /rooms/:id: ${res.status}`);
    return [id, { lastSeq: Number(res.body.lastSeq), lastChangeSeq: Number(res.body.lastChangeSeq) }] as const;
  });
  return new Map(rooms);
}

/** Bounded: a client that never gets there fails the scenario instead of hanging it. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
