import { sql } from 'drizzle-orm';
import { anyOf, type Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';

/*
 * Every connect and reconnect asks these (batched by the gateway's loaders): prepared once per connection and mapped
 * by hand, as the other hot statements are. Built by the ORM, with one placeholder per id, each batch size was a new
 * statement text for PostgreSQL to parse and plan, and the query building was a tenth of a connect's CPU. The ids
 * travel as one JSON array.
 */
const ROOMS_OF = hotStatement<{ user_id: string; room_id: string; last_seq: number | string }>(
  'chat_rooms_of',
  ['jsonb'],
  (userIds) => sql`select p.user_id, p.room_id, r.last_seq from chat_participant p join chat_room r on r.id = p.room_id
    where p.user_id = ${anyOf(userIds, 'text')}`,
);

const LAST_SEQS = hotStatement<{ id: string; last_seq: number | string }>(
  'chat_room_last_seqs',
  ['jsonb'],
  (roomIds) => sql`select id, last_seq from chat_room where id = ${anyOf(roomIds, 'uuid')}`,
);

const ROOM_MATES_OF = hotStatement<{ user_id: string; mate: string }>(
  'chat_room_mates_of',
  ['jsonb'],
  (userIds) => sql`select distinct mine.user_id, p.user_id as mate
    from chat_participant mine join chat_participant p on p.room_id = mine.room_id and p.user_id <> mine.user_id
    where mine.user_id = ${anyOf(userIds, 'text')}`,
);

export class RealtimeRepository {
  constructor(private readonly db: Executor) {}

  /** Every room of some users with its current last seq: what a socket joins on connect. */
  async roomsOf(userIds: string[]): Promise<Map<string, Array<{ roomId: string; lastSeq: number }>>> {
    const byUser = new Map<string, Array<{ roomId: string; lastSeq: number }>>(userIds.map((u) => [u, []]));
    if (userIds.length === 0) return byUser;
    for (const r of await ROOMS_OF(this.db, [JSON.stringify(userIds)])) {
      byUser.get(r.user_id)?.push({ roomId: r.room_id, lastSeq: Number(r.last_seq) });
    }
    return byUser;
  }

  /** Last seqs of some rooms, to find which moved while a socket was away. */
  async lastSeqs(roomIds: string[]): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map();
    const rows = await LAST_SEQS(this.db, [JSON.stringify(roomIds)]);
    return new Map(rows.map((r) => [r.id, Number(r.last_seq)]));
  }

  /** Everyone who shares a room with each of some users: who hears of their presence. */
  async roomMatesOf(userIds: string[]): Promise<Map<string, string[]>> {
    const byUser = new Map<string, string[]>(userIds.map((u) => [u, []]));
    if (userIds.length === 0) return byUser;
    for (const r of await ROOM_MATES_OF(this.db, [JSON.stringify(userIds)])) byUser.get(r.user_id)?.push(r.mate);
    return byUser;
  }
}
