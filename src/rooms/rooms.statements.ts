import { sql } from 'drizzle-orm';
import { anyOf, rowDate, type Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import type { ParticipantRow, RoomKey, RoomRow } from './rooms.repository.js';

type Stamp = Date | string;

/** A chat_room row as the driver answers ROOM_COLUMNS. */
interface RawRoom {
  id: string;
  type: string;
  name: string | null;
  description: string | null;
  business_id: string | null;
  status: string | null;
  created_by: string;
  created_at: Stamp;
  updated_at: Stamp;
  last_seq: number | string;
  last_activity_at: Stamp;
  direct_key: string | null;
  last_change_seq: number | string;
  pinned_count: number;
  slow_mode_s: number;
  retained_through_seq: number | string;
}

/** A chat_participant row as the driver answers PARTICIPANT_COLUMNS. */
export interface RawParticipant {
  room_id: string;
  user_id: string;
  role: string;
  joined_at: Stamp;
  last_read_seq: number | string;
  last_read_at: Stamp | null;
  last_delivered_seq: number | string;
  last_delivered_at: Stamp | null;
  muted: boolean;
  muted_until: Stamp | null;
  hide_previews: boolean;
}

/** The participant's columns are all null when the asker is not in the room (the left join found nothing). */
type RawMembership = RawRoom & { [K in keyof RawParticipant]: RawParticipant[K] | null };

/** Every column of chat_room (as `r`), in the shape roomRowOf maps. */
const ROOM_COLUMNS = sql.raw(`r.id, r.type, r.name, r.description, r.business_id, r.status, r.created_by, r.created_at,
  r.updated_at, r.last_seq, r.last_activity_at, r.direct_key, r.last_change_seq, r.pinned_count, r.slow_mode_s,
  r.retained_through_seq`);

/** Every column of chat_participant (as `p`), in the shape participantRowOf maps (none shares a name with a room's). */
export const PARTICIPANT_COLUMNS = sql.raw(`p.room_id, p.user_id, p.role, p.joined_at, p.last_read_seq, p.last_read_at,
  p.last_delivered_seq, p.last_delivered_at, p.muted, p.muted_until, p.hide_previews`);

/**
 * The room check of room-scoped requests and socket events (history, a room, typing, joins, pins, …; sends and read
 * marks check in their own statements), RoomsRepository.findManyWithMembership: the asked rooms
 * by id, each with the participant rows of the users who asked (probed by the primary key). Prepared once per
 * connection and mapped by hand: built by the ORM's query builder it allocated about 110 kB a call (a fifth of all a
 * history page's request allocated, the response included), which the young generation's collections then paid for.
 * Both lists travel as JSON arrays. The participants are a lateral subquery kept from being flattened (`offset 0`):
 * as a plain join, the generic plan PostgreSQL runs a prepared statement by after five calls read all the asker's
 * participant rows (by the user index) and joined them to the rooms, thousands of rows a request for staff in
 * thousands of rooms (`test/sql-plans-generic.test.ts`).
 */
export const MEMBERSHIP_OF = hotStatement<RawMembership>(
  'chat_membership_of',
  ['jsonb', 'jsonb'],
  (roomIds, userIds) => sql`select ${ROOM_COLUMNS}, ${PARTICIPANT_COLUMNS}
    from chat_room r
    left join lateral (
      select * from chat_participant p where p.room_id = r.id and p.user_id = ${anyOf(userIds, 'text')} offset 0) p on true
    where r.id = ${anyOf(roomIds, 'uuid')}`,
);

/** A row of MEMBERSHIP_OF as the room and the participant row (null when the left join found none). */
export function membershipOf(r: RawMembership): { room: RoomRow; participant: ParticipantRow | null } {
  return { room: roomRowOf(r), participant: r.user_id === null ? null : participantRowOf(r as RawParticipant) };
}

/** A chat_participant row read by PARTICIPANT_COLUMNS, as the ORM would map it. */
export function participantRowOf(r: RawParticipant): ParticipantRow {
  return {
    roomId: r.room_id,
    userId: r.user_id,
    role: r.role,
    joinedAt: new Date(r.joined_at),
    lastReadSeq: Number(r.last_read_seq),
    lastReadAt: rowDate(r.last_read_at),
    lastDeliveredSeq: Number(r.last_delivered_seq),
    lastDeliveredAt: rowDate(r.last_delivered_at),
    muted: r.muted,
    mutedUntil: rowDate(r.muted_until),
    hidePreviews: r.hide_previews,
  };
}

/** A chat_room row read by ROOM_COLUMNS, as the ORM would map it. */
function roomRowOf(r: RawRoom): RoomRow {
  return {
    id: r.id,
    type: r.type,
    name: r.name,
    description: r.description,
    businessId: r.business_id,
    status: r.status,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    lastSeq: Number(r.last_seq),
    lastActivityAt: new Date(r.last_activity_at),
    directKey: r.direct_key,
    lastChangeSeq: Number(r.last_change_seq),
    pinnedCount: r.pinned_count,
    slowModeS: r.slow_mode_s,
    retainedThroughSeq: Number(r.retained_through_seq),
  };
}

/**
 * A page of the caller's rooms (GET /rooms, read by every client on connect and reconnect), latest activity first,
 * keyset-paged on (last_activity_at, id) after the given key (null: the first page); type and status filter when
 * given. Prepared and mapped by hand as the room check is: built by the ORM it allocated about 110 kB a page.
 */
const ROOMS_OF_USER = hotStatement<RawRoom>(
  'chat_rooms_of_user',
  ['text', 'text', 'text', 'timestamptz', 'uuid', 'int'],
  (userId, type, status, afterAt, afterId, limit) => sql`select ${ROOM_COLUMNS}
    from chat_participant p join chat_room r on r.id = p.room_id
    where p.user_id = ${userId}
      and (${type} is null or r.type = ${type})
      and (${status} is null or r.status = ${status})
      and (${afterAt} is null or (r.last_activity_at, r.id) < (${afterAt}, ${afterId}))
    order by r.last_activity_at desc, r.id desc
    limit ${limit}`,
);

export async function roomsOfUser(
  db: Executor,
  userId: string,
  opts: { type?: string | undefined; status?: string | undefined; after?: RoomKey | undefined; limit: number },
): Promise<RoomRow[]> {
  const rows = await ROOMS_OF_USER(db, [
    userId,
    opts.type ?? null,
    opts.status ?? null,
    opts.after?.at.toISOString() ?? null,
    opts.after?.id ?? null,
    opts.limit,
  ]);
  return rows.map(roomRowOf);
}
