import { uuidv7 } from 'uuidv7';
import { documentVector } from '../../src/text/tokenize.js';
import { isRealPostgres, type RawDb } from './database.js';
import { log, progress } from './log.js';
import { makePool, POOL_SIZE, slotSql } from './textpool.js';

export interface RoomPlan {
  id: string;
  type: 'direct' | 'group';
  members: string[];
  /** Messages seeded into the room (seq 1..n). */
  n: number;
  /** Each member's last_read_seq (default: n). */
  lastRead?: (userId: string) => number;
}

export interface Sizes {
  idleSockets: number;
  fanoutParticipants: number;
  roomSizes: number[];
  reconnectRooms: number;
  reconnectRoomSize: number;
  dataMessages: number;
  dataRooms: number;
  unreadMessages: number;
  unreadUsers: number;
  /** The change-log catch-up room (scenarios/catch-up.ts): clients besides its owner, and messages; 0 clients: no room. */
  catchUpClients?: number;
  catchUpMessages?: number;
}

/** Everything seeded before the server starts, with the ids the scenarios need. */
export interface Manifest {
  idle: { users: string[]; rooms: Map<string, string[]> };
  fanout: Map<number, RoomPlan[]>;
  rawRooms: string[];
  reconnect: { rooms: RoomPlan[]; writer: string };
  data: { rooms: RoomPlan[]; reader: string; readerRooms: RoomPlan[]; total: number };
  unread: { room: RoomPlan; users: string[] };
  /** members[0] is the owner (sender of the even seqs), members[1] sends the odd ones. */
  catchUp?: RoomPlan;
  all: RoomPlan[];
}

export function planData(s: Sizes): Manifest {
  const all: RoomPlan[] = [];
  const add = (r: RoomPlan) => (all.push(r), r);

  // Idle sockets: every user in two rooms of ten (two different groupings), as a user of a few team rooms is.
  const idleUsers = Array.from({ length: s.idleSockets }, (_, i) => `idle-${i}`);
  const idleRooms = new Map<string, string[]>(idleUsers.map((u) => [u, []]));
  const groups = Math.max(1, Math.floor(s.idleSockets / 10));
  for (const perm of [(i: number) => i, (i: number) => (i * 7919) % s.idleSockets]) {
    const members: string[][] = Array.from({ length: groups }, () => []);
    idleUsers.forEach((_, i) => members[Math.min(groups - 1, Math.floor(perm(i) / 10))]!.push(idleUsers[i]!));
    for (const m of members) {
      const room = add({ id: uuidv7(), type: 'group', members: m, n: 0 });
      for (const u of m) idleRooms.get(u)!.push(room.id);
    }
  }

  // Fan-out: the same number of participants for each room size, every one of them online during the run.
  const fanout = new Map<number, RoomPlan[]>();
  for (const size of s.roomSizes) {
    const rooms: RoomPlan[] = [];
    const count = Math.max(1, Math.floor(s.fanoutParticipants / size));
    for (let r = 0; r < count; r++) {
      const members = Array.from({ length: size }, (_, k) => `f${size}-${r}-${k}`);
      rooms.push(add({ id: uuidv7(), type: size === 2 ? 'direct' : 'group', members, n: 0 }));
    }
    fanout.set(size, rooms);
  }
  const rawRooms = Array.from({ length: 10 }, (_, r) => add({ id: uuidv7(), type: 'group', members: [`raw-${r}`], n: 0 }).id);

  const writer = 'rc-writer';
  const reconnectRooms = Array.from({ length: s.reconnectRooms }, (_, r) =>
    add({ id: uuidv7(), type: 'group', members: [writer, ...Array.from({ length: s.reconnectRoomSize }, (_, k) => `rc-${r}-${k}`)], n: 0 }),
  );

  // History: dataMessages over dataRooms with a Zipf (s = 1.1) skew; the reader is in an even spread of ~60 rooms.
  const weights = Array.from({ length: s.dataRooms }, (_, r) => 1 / Math.pow(r + 1, 1.1));
  const wsum = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.max(1, Math.floor((w / wsum) * s.dataMessages)));
  counts[0] = Math.max(1, counts[0]! + s.dataMessages - counts.reduce((a, b) => a + b, 0));
  const reader = 'reader';
  const step = Math.max(1, Math.floor(s.dataRooms / 60));
  const dataRooms = counts.map((n, r) =>
    add({
      id: uuidv7(),
      type: 'group',
      members: ['dw-a', 'dw-b', ...(r % step === 0 ? [reader] : [])],
      n,
      lastRead: (u) => (u === reader ? Math.max(0, n - (r % 7)) : n),
    }),
  );

  const unreadUsers = Array.from({ length: s.unreadUsers }, (_, i) => `ur-${i}`);
  const unreadRoom = add({
    id: uuidv7(),
    type: 'group',
    members: ['uw', ...unreadUsers],
    n: s.unreadMessages,
    lastRead: (u) => (u === 'uw' ? s.unreadMessages : 0),
  });

  const catchUp = s.catchUpClients
    ? add({
        id: uuidv7(),
        type: 'group',
        members: ['cu-owner', ...Array.from({ length: s.catchUpClients }, (_, i) => `cu-${i}`)],
        n: s.catchUpMessages ?? 0,
      })
    : undefined;

  return {
    idle: { users: idleUsers, rooms: idleRooms },
    fanout,
    rawRooms,
    reconnect: { rooms: reconnectRooms, writer },
    data: {
      rooms: dataRooms,
      reader,
      readerRooms: dataRooms.filter((r) => r.members.includes(reader)),
      total: counts.reduce((a, b) => a + b, 0),
    },
    unread: { room: unreadRoom, users: unreadUsers },
    ...(catchUp ? { catchUp } : {}),
    all,
  };
}

const T_END = Date.now() - 60_000;
const SPAN_MS = 90 * 86_400_000;

async function chunked<T>(items: T[], size: number, fn: (chunk: T[]) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await fn(items.slice(i, i + size));
}

/** Rooms and participants, with bulk INSERT … SELECT FROM unnest(…). */
async function seedRooms(raw: RawDb, rooms: RoomPlan[]): Promise<void> {
  await chunked(rooms, 2000, async (chunk) => {
    await raw.query(
      `insert into chat_room (id, type, name, created_by, direct_key, last_seq, last_change_seq, last_activity_at, created_at, updated_at)
       select id, type, case when type = 'direct' then null else 'bench room ' || ord end, created_by,
              case when type = 'direct' then direct_key end, last_seq, last_seq, to_timestamp(last_ms / 1000.0), to_timestamp(${(T_END - SPAN_MS) / 1000}), now()
       from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[]) with ordinality as r(id, type, created_by, direct_key, last_seq, last_ms, ord)`,
      [
        chunk.map((r) => r.id),
        chunk.map((r) => r.type),
        chunk.map((r) => r.members[0]!),
        // The service's direct-room key: the two ids sorted, as a JSON array (rooms.service.ts; the erase reads it as jsonb).
        chunk.map((r) => JSON.stringify([...r.members].sort())),
        chunk.map((r) => r.n),
        chunk.map((r) => roomEndMs(r)),
      ],
    );
  });
  const parts = rooms.flatMap((r) =>
    r.members.map((u, k) => ({
      room: r.id,
      user: u,
      role: k === 0 && r.type !== 'direct' ? 'owner' : 'member',
      read: r.lastRead ? r.lastRead(u) : r.n,
    })),
  );
  await chunked(parts, 5000, async (chunk) => {
    await raw.query(
      `insert into chat_participant (room_id, user_id, role, joined_at, last_read_seq, last_delivered_seq)
       select room_id, user_id, role, to_timestamp(${(T_END - SPAN_MS) / 1000}), read, read
       from unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[]) as p(room_id, user_id, role, read)`,
      [chunk.map((p) => p.room), chunk.map((p) => p.user), chunk.map((p) => p.role), chunk.map((p) => p.read)],
    );
  });
}

/** Rooms end at different times, so room lists have an order; each room's messages spread over 90 days up to its end. */
const endOffset = new Map<string, number>();
function roomEndMs(r: RoomPlan): number {
  let off = endOffset.get(r.id);
  if (off === undefined) endOffset.set(r.id, (off = endOffset.size * 60_000));
  return T_END - off;
}

interface Segment {
  room: RoomPlan;
  from: number;
  to: number;
  /** Global number of the room's seq 0: g = base + seq picks the text and makes the row unique. */
  base: number;
}

/**
 * Messages with one INSERT … SELECT per batch: generate_series over each room's seqs (dense, 1..n), a text from the
 * pool, the row's number appended. search_doc is the pool text's tsvector from the service's tokenizer concatenated
 * with to_tsvector('simple', number) — the same vector documentVector() makes for the whole content (checked below).
 * Ids are UUIDv7 made in SQL from created_at, so they are time-ordered like the service's. A seeded message's one change
 * is its creation: change_seq = seq (and each room's last_change_seq = last_seq), as the change-log migration leaves them.
 */
async function seedMessages(raw: RawDb, rooms: RoomPlan[], total: number, label: string): Promise<void> {
  const segments: Segment[] = [];
  const batch = Math.max(10_000, Math.ceil(total / 20));
  let g = 0;
  for (const room of rooms) {
    for (let from = 1; from <= room.n; from += batch) segments.push({ room, from, to: Math.min(room.n, from + batch - 1), base: g });
    g += room.n;
  }
  const batches: Segment[][] = [];
  let current: Segment[] = [];
  let size = 0;
  for (const s of segments) {
    current.push(s);
    size += s.to - s.from + 1;
    if (size >= batch) {
      batches.push(current);
      current = [];
      size = 0;
    }
  }
  if (current.length) batches.push(current);
  let done = 0;
  const t0 = performance.now();
  for (const b of batches) {
    await raw.query(
      `insert into chat_message (id, room_id, seq, change_seq, base_change_seq, sender_id, type, content, mentions, has_media, created_at, search_doc)
       select (lpad(to_hex(floor(extract(epoch from x.ts) * 1000)::bigint), 12, '0') || '7' || substr(x.h, 1, 3) || '8' || substr(x.h, 4, 15))::uuid,
              x.room_id, x.seq, x.seq, x.seq, x.sender, 'text', t.content || ' ' || x.g, '{}', false, x.ts, t.doc || to_tsvector('simple', x.g::text)
       from (
         select r.room_id, s.seq, r.base + s.seq as g,
                case when s.seq % 2 = 0 then r.sa else r.sb end as sender,
                to_timestamp((r.end_ms - ${SPAN_MS}::float8 + ${SPAN_MS}::float8 * s.seq / r.n) / 1000.0) as ts,
                md5('bench' || (r.base + s.seq)::text) as h
         from unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::float8[])
              as r(room_id, sfrom, sto, base, n, sa, sb, end_ms)
         cross join lateral generate_series(r.sfrom, r.sto) as s(seq)
       ) x
       join bench_text t on t.i = ${slotSql('x.g')}`,
      [
        b.map((s) => s.room.id),
        b.map((s) => s.from),
        b.map((s) => s.to),
        b.map((s) => s.base),
        b.map((s) => s.room.n),
        b.map((s) => s.room.members[0]!),
        b.map((s) => s.room.members[1] ?? s.room.members[0]!),
        b.map((s) => roomEndMs(s.room)),
      ],
    );
    done += b.reduce((a, s) => a + s.to - s.from + 1, 0);
    const rate = done / ((performance.now() - t0) / 1000);
    progress(
      `  seeding ${label}: ${done.toLocaleString('en')}/${total.toLocaleString('en')} messages (${Math.round((100 * done) / total)}%, ${Math.round(rate).toLocaleString('en')} rows/s)`,
    );
  }
}

/** Seeds everything in the manifest: rooms, participants, the skewed history and the unread room, then indexes and ANALYZE. */
export async function seedAll(raw: RawDb, m: Manifest, label: string): Promise<{ seconds: number; rowsPerS: number }> {
  const t0 = performance.now();
  const pool = makePool();
  await raw.exec(
    `drop table if exists bench_text; create table bench_text (i int primary key, content text not null, doc tsvector not null)`,
  );
  await chunked(
    pool.map((p, i) => ({ ...p, i })),
    500,
    async (chunk) => {
      await raw.query(`insert into bench_text select * from unnest($1::int[], $2::text[], $3::text[]::tsvector[])`, [
        chunk.map((p) => p.i),
        chunk.map((p) => p.content),
        chunk.map((p) => p.doc),
      ]);
    },
  );
  await seedRooms(raw, m.all);
  log(`  ${label}: ${m.all.length.toLocaleString('en')} rooms seeded; loading messages with the GIN indexes dropped (rebuilt after)`);

  const gin = await raw.query<{ indexname: string; indexdef: string }>(
    `select indexname, indexdef from pg_indexes where tablename = 'chat_message' and indexdef ilike '%using gin%'`,
  );
  for (const ix of gin) await raw.exec(`drop index ${ix.indexname}`);
  const messageRooms = m.all.filter((r) => r.n > 0);
  const total = messageRooms.reduce((a, r) => a + r.n, 0);
  const tm = performance.now();
  await seedMessages(raw, messageRooms, total, label);
  const rowsPerS = total / ((performance.now() - tm) / 1000);
  log(
    `  ${label}: ${total.toLocaleString('en')} messages in ${((performance.now() - tm) / 1000).toFixed(1)} s; building ${gin.length} GIN indexes…`,
  );
  // Either PostgreSQL server (embedded or not) gets more than its 64 MB default for the GIN builds over 1M rows.
  const pg = isRealPostgres(raw.engine);
  if (pg) await raw.exec(`set maintenance_work_mem = '256MB'`).catch(() => {});
  for (const ix of gin) {
    const ti = performance.now();
    // A partitioned chat_message (DATABASE_PARTITIONS) lists its parent's index as `ON ONLY`: made again, it must recurse.
    const def = ix.indexdef.replace(/ ON ONLY /i, ' ON ');
    await raw.exec(pg ? `set maintenance_work_mem = '256MB'; ${def}` : def);
    log(`  ${label}: ${ix.indexname} in ${((performance.now() - ti) / 1000).toFixed(1)} s`);
  }
  for (const stmt of ['drop table bench_text', 'vacuum analyze chat_message', 'analyze chat_room', 'analyze chat_participant'])
    await raw.exec(stmt);

  // The seeded search_doc must be what the service would have stored for that content.
  const sample = await raw.query<{ content: string; doc: string }>(
    `select content, search_doc::text as doc from chat_message order by random() limit 5`,
  );
  for (const row of sample) {
    const [want] = await raw.query<{ doc: string }>(`select $1::tsvector::text as doc`, [documentVector(row.content)]);
    if (want!.doc !== row.doc)
      throw new Error(`seeded search_doc differs from documentVector for ${JSON.stringify(row.content)}: ${row.doc} vs ${want!.doc}`);
  }
  if (pool.length !== POOL_SIZE) throw new Error('pool size');
  return { seconds: (performance.now() - t0) / 1000, rowsPerS };
}
