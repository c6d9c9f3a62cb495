import { documentVector } from '../../src/text/tokenize.js';
import { MessagesRepository } from '../../src/messages/messages.repository.js';
import { SearchRepository } from '../../src/search/search.repository.js';
import { compileQuery, parseQuery } from '../../src/search/query.js';
import type { RawDb } from '../lib/database.js';
import { Latency, timeSerial, type LatencySummary } from '../lib/histogram.js';
import { log } from '../lib/log.js';
import { httpJson } from '../lib/processes.js';
import type { Manifest } from '../lib/seed.js';
import { SEARCH_TERMS } from '../lib/textpool.js';
import { rng } from '../lib/rng.js';

export interface DatasetPlan {
  history: Array<{ roomId: string; before: number | undefined }>;
  historyBudgetMs: number;
  searchSamples: number;
  searchBudgetMs: number;
  /** Users of the unread room marked through the service; the next as many by the raw UPDATE. */
  marks: number;
  countSamples: number;
}

export interface DatasetSide {
  history: LatencySummary;
  /** `timedOut`: searches the service stopped at SEARCH_TIMEOUT_MS (503), timed like the others. */
  search: Record<keyof typeof SEARCH_TERMS, LatencySummary & { hits: number; timedOut?: number }>;
  markAllRead: LatencySummary;
  unreadCounts: LatencySummary;
}

/** History pages over the reader's rooms, rooms picked by their size (busy rooms are read more), half latest, half deep. */
export function planDataset(
  m: Manifest,
  o: { historySamples: number; historyBudgetMs: number; searchSamples: number; searchBudgetMs: number; countSamples: number },
): DatasetPlan {
  const rand = rng(7);
  // Rooms with at least two pages, so every page is full.
  const rooms = m.data.readerRooms.filter((r) => r.n >= 100);
  const total = rooms.reduce((a, r) => a + r.n, 0);
  const history = Array.from({ length: o.historySamples }, (_, i) => {
    let x = rand() * total;
    const room = rooms.find((r) => (x -= r.n) < 0) ?? rooms[0]!;
    const deep = i % 2 === 1 && room.n > 120;
    return { roomId: room.id, before: deep ? 51 + Math.floor(rand() * (room.n - 50)) : undefined };
  });
  return {
    history,
    historyBudgetMs: o.historyBudgetMs,
    searchSamples: o.searchSamples,
    searchBudgetMs: o.searchBudgetMs,
    marks: Math.floor(m.unread.users.length / 2),
    countSamples: o.countSamples,
  };
}

/** Replaces, in a captured parameter list, each value of `from` by the value at the same index of `to`. */
function rebind(params: unknown[], from: unknown[], to: unknown[]): unknown[] {
  return params.map((p) => {
    const i = from.findIndex((f) => f === p);
    return i === -1 ? p : to[i];
  });
}

async function capture(raw: RawDb, run: () => Promise<unknown>): Promise<{ sql: string; params: unknown[] }> {
  raw.captured.length = 0;
  await run();
  const q = raw.captured[raw.captured.length - 1];
  if (!q) throw new Error('no SQL captured');
  return q;
}

/**
 * The raw-SQL side, through the driver in the bench process: the very SQL the service's repositories send (captured
 * from Drizzle's query log and replayed with the driver), and plain UPDATE / SELECT for read state.
 */
export async function rawDataset(raw: RawDb, m: Manifest, p: DatasetPlan): Promise<DatasetSide> {
  const messages = new MessagesRepository(raw.drizzle);
  const first = p.history[0]!;
  const latest = await capture(raw, () => messages.older(first.roomId, undefined, 51));
  const deepSample = p.history.find((h) => h.before !== undefined)!;
  const deep = await capture(raw, () => messages.older(deepSample.roomId, deepSample.before, 51));
  const history = await timeSerial(p.history.length, p.historyBudgetMs, async (i) => {
    const h = p.history[i % p.history.length]!;
    if (h.before === undefined) return raw.query(latest.sql, rebind(latest.params, [first.roomId], [h.roomId]));
    return raw.query(deep.sql, rebind(deep.params, [deepSample.roomId, deepSample.before], [h.roomId, h.before]));
  });

  const search = {} as DatasetSide['search'];
  const repo = new SearchRepository(raw.drizzle, messages);
  for (const [name, q] of Object.entries(SEARCH_TERMS) as Array<[keyof typeof SEARCH_TERMS, string]>) {
    const filter = { userId: m.data.reader, ...compileQuery(parseQuery(q)), limit: 21 };
    const sql = await capture(raw, () => repo.search(filter));
    let hits = 0;
    const lat = await timeSerial(p.searchSamples, p.searchBudgetMs, async () => (hits = (await raw.query(sql.sql, sql.params)).length), 2);
    search[name] = { ...lat.summary(), hits: Math.min(hits, 20) };
  }

  const room = m.unread.room;
  const markUsers = m.unread.users.slice(p.marks, p.marks * 2);
  const markAllRead = await timeSerial(
    markUsers.length,
    30_000,
    (i) =>
      raw.query(
        `update chat_participant set last_read_seq = (select last_seq from chat_room where id = $1), last_read_at = now()
         where room_id = $1 and user_id = $2 and last_read_seq < (select last_seq from chat_room where id = $1)`,
        [room.id, markUsers[i]],
      ),
    0,
  );
  const unreadCounts = await timeSerial(p.countSamples, 10_000, () =>
    raw.query(
      `select r.id, r.last_seq - p.last_read_seq as unread from chat_participant p join chat_room r on r.id = p.room_id
       where p.user_id = $1 order by r.last_activity_at desc, r.id desc limit 50`,
      [m.data.reader],
    ),
  );
  return { history: history.summary(), search, markAllRead: markAllRead.summary(), unreadCounts: unreadCounts.summary() };
}

/** The same reads through the service's REST API, one request at a time, as the reader and the unread room's users. */
export async function restDataset(
  baseUrl: string,
  token: (userId: string) => Promise<string>,
  m: Manifest,
  p: DatasetPlan,
): Promise<DatasetSide & { markedTo: number[] }> {
  const api = `${baseUrl}/api/v1/chat`;
  const reader = await token(m.data.reader);
  const ok = (res: { status: number; body: any }, what: string) => {
    if (res.status >= 300) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    return res.body;
  };
  const history = await timeSerial(p.history.length, p.historyBudgetMs, async (i) => {
    const h = p.history[i % p.history.length]!;
    const body = ok(
      await httpJson('GET', `${api}/rooms/${h.roomId}/messages?limit=50${h.before === undefined ? '' : `&before=${h.before}`}`, reader),
      'history',
    );
    if (body.data.length !== 50) throw new Error(`history page of ${body.data.length}`);
  });

  const search = {} as DatasetSide['search'];
  for (const [name, q] of Object.entries(SEARCH_TERMS) as Array<[keyof typeof SEARCH_TERMS, string]>) {
    let hits = 0;
    const stopped: boolean[] = [];
    const warmup = 2;
    const lat = await timeSerial(
      p.searchSamples,
      p.searchBudgetMs,
      async () => {
        const res = await httpJson('GET', `${api}/messages/search?q=${encodeURIComponent(q)}`, reader);
        // The contract's answer to a search over its time limit: a result of the row (it misses), not a broken run.
        stopped.push(res.status === 503);
        if (res.status !== 503) hits = ok(res, 'search').data.length;
      },
      warmup,
    );
    search[name] = { ...lat.summary(), hits, timedOut: stopped.slice(warmup).filter(Boolean).length };
  }

  const room = m.unread.room;
  const users = m.unread.users.slice(0, p.marks);
  const tokens = await Promise.all(users.map((u) => token(u)));
  // Each user opens the room first, as a client does before marking it read: the mark is then not also their first
  // request (which writes their profile and verifies a new token), and the row times the mark alone.
  for (const t of tokens) ok(await httpJson('GET', `${api}/rooms/${room.id}`, t), 'open room');
  const markedTo: number[] = [];
  const markAllRead = await timeSerial(
    users.length,
    30_000,
    async (i) => markedTo.push(ok(await httpJson('PATCH', `${api}/rooms/${room.id}/read`, tokens[i]), 'mark read').lastReadSeq),
    0,
  );
  const unreadCounts = await timeSerial(p.countSamples, 10_000, async () => {
    const body = ok(await httpJson('GET', `${api}/rooms?limit=50`, reader), 'rooms');
    if (body.data.length !== 50) throw new Error(`rooms page of ${body.data.length}`);
  });
  return { history: history.summary(), search, markAllRead: markAllRead.summary(), unreadCounts: unreadCounts.summary(), markedTo };
}

export interface RawInsertResult {
  /** Single-row INSERTs of message rows (autocommit). */
  insertPerS: number;
  insert: LatencySummary;
  /** The service's write transaction by hand: seq from the room row, INSERT, read position, receipt. */
  txPerS: number;
  tx: LatencySummary;
  workers: number;
}

/**
 * Raw INSERTs of the same rows a send stores (content, tokenized search_doc, client id), closed loop for `seconds`
 * on as many connections as the service's pool has (PGlite: its one), into rooms of their own.
 */
export async function rawInserts(raw: RawDb, rooms: string[], seconds: number): Promise<RawInsertResult> {
  const filler = 'the quick brown fox jumps over the lazy dog while the team reviews the release notes';
  const workers = Math.min(raw.concurrency, rooms.length);
  const seqs = new Map<string, number>(rooms.map((r) => [r, 0]));
  const run = async (kind: 'insert' | 'tx') => {
    const lat = new Latency();
    const end = performance.now() + seconds * 1000;
    let n = 0;
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const conn = await raw.connection();
        const room = rooms[w]!;
        const sender = `raw-${w}`;
        try {
          while (performance.now() < end && n < 1_000_000) {
            const key = `${kind}.${w}.${n++}`;
            const content = `bench ${key} ${filler}`;
            const t0 = performance.now();
            if (kind === 'insert') {
              const seq = seqs.get(room)! + 1;
              seqs.set(room, seq);
              await conn.query(
                `insert into chat_message (id, room_id, seq, sender_id, type, content, mentions, client_message_id, has_media, search_doc)
                 values (gen_random_uuid(), $1, $2, $3, 'text', $4, '{}', $5, false, $6::tsvector)`,
                [room, seq, sender, content, key, documentVector(content)],
              );
            } else {
              await conn.query('begin');
              const [r] = await conn.query<{ last_seq: string }>(
                `update chat_room set last_seq = last_seq + 1, last_activity_at = now() where id = $1 returning last_seq`,
                [room],
              );
              await conn.query(
                `insert into chat_message (id, room_id, seq, sender_id, type, content, mentions, client_message_id, has_media, search_doc)
                 values (gen_random_uuid(), $1, $2, $3, 'text', $4, '{}', $5, false, $6::tsvector)`,
                [room, Number(r!.last_seq), sender, content, key, documentVector(content)],
              );
              await conn.query(
                `update chat_participant set last_read_seq = greatest(last_read_seq, $3), last_read_at = now(), last_delivered_seq = greatest(last_delivered_seq, $3), last_delivered_at = now() where room_id = $1 and user_id = $2`,
                [room, sender, Number(r!.last_seq)],
              );
              await conn.query(
                `insert into message_read_receipt (room_id, user_id, kind, up_to_seq) values ($1, $2, 'read', $3) on conflict do nothing`,
                [room, sender, Number(r!.last_seq)],
              );
              await conn.query('commit');
            }
            lat.record(performance.now() - t0);
          }
        } finally {
          conn.release();
        }
      }),
    );
    return lat;
  };
  // The transaction first: it takes seqs from the room row, and the plain INSERTs continue after them.
  const tx = await run('tx');
  const rows = await raw.query<{ id: string; last_seq: string }>(`select id, last_seq from chat_room where id = any($1::uuid[])`, [rooms]);
  for (const r of rows) seqs.set(r.id, Number(r.last_seq));
  const insert = await run('insert');
  log(
    `    raw INSERT ${Math.round(insert.count / seconds)}/s, raw send transaction ${Math.round(tx.count / seconds)}/s (${workers} connection${workers > 1 ? 's' : ''})`,
  );
  return { insertPerS: insert.count / seconds, insert: insert.summary(), txPerS: tx.count / seconds, tx: tx.summary(), workers };
}
