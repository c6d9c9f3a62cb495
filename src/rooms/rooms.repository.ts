import { and, desc, eq, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { anyOf, type Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import { chatParticipant, chatRoom } from '../db/schema.js';
import {
  MEMBERSHIP_OF,
  membershipOf,
  PARTICIPANT_COLUMNS,
  participantRowOf,
  roomsOfUser,
  type RawParticipant,
} from './rooms.statements.js';
import type { ParticipantRole } from '../contract/rooms.js';

export type RoomRow = typeof chatRoom.$inferSelect;
export type ParticipantRow = typeof chatParticipant.$inferSelect;
/** `userRole`: the platform role of the user's latest token (null for a user never seen), for their abilities. */
export type ParticipantWithProfile = ParticipantRow & {
  name: string | null;
  picture: string | null;
  userRole: string | null;
  /** Deleted messages above the participant's read position: unread counts leave them out. */
  deletedUnread: number;
};
export interface RoomKey {
  at: Date;
  id: string;
}

/**
 * The participants of some rooms with their profiles: every room view (the room list of every connect and reconnect,
 * each room event) reads it, so it is prepared once per connection and its rows are mapped by hand (the ORM's nested
 * select and its mapping were a tenth of a room list's time). The ids travel as one JSON array.
 */
const PARTICIPANTS_OF = hotStatement<
  RawParticipant & { name: string | null; picture: string | null; user_role: string | null; deleted_unread: number }
>(
  'chat_participants_of',
  ['jsonb'],
  (roomIds) => sql`select ${PARTICIPANT_COLUMNS}, u.name, u.picture, u.role as user_role,
      -- A probe of the partial index of deleted messages: nothing to count in most rooms.
      (select count(*)::int from chat_message m
        where m.room_id = p.room_id and m.deleted_at is not null and m.seq > p.last_read_seq) as deleted_unread
    from chat_participant p left join chat_user u on u.id = p.user_id
    where p.room_id = ${anyOf(roomIds, 'uuid')}
    order by p.joined_at, p.user_id`,
);

export class RoomsRepository {
  constructor(private readonly db: Executor) {}

  with(tx: Executor): RoomsRepository {
    return new RoomsRepository(tx);
  }

  async insert(values: typeof chatRoom.$inferInsert): Promise<RoomRow> {
    const [row] = await this.db.insert(chatRoom).values(values).returning();
    return row!;
  }

  /** Adds those not yet in the room, reading from the room's current last seq; returns who was added. */
  async addParticipants(roomId: string, members: Array<{ userId: string; role: ParticipantRole }>): Promise<string[]> {
    if (members.length === 0) return [];
    const rows = await this.db
      .insert(chatParticipant)
      .values(
        members.map((m) => ({
          roomId,
          userId: m.userId,
          role: m.role,
          // History before joining is not unread: a newcomer starts at the room's last message.
          lastReadSeq: sql`(select last_seq from chat_room where id = ${roomId})`,
          lastDeliveredSeq: sql`(select last_seq from chat_room where id = ${roomId})`,
        })),
      )
      .onConflictDoNothing()
      .returning({ userId: chatParticipant.userId });
    return rows.map((r) => r.userId);
  }

  async findById(id: string, opts: { lock?: boolean } = {}): Promise<RoomRow | undefined> {
    const q = this.db.select().from(chatRoom).where(eq(chatRoom.id, id));
    const [row] = opts.lock ? await q.for('update') : await q;
    return row;
  }

  async findByDirectKey(key: string): Promise<RoomRow | undefined> {
    const [row] = await this.db.select().from(chatRoom).where(eq(chatRoom.directKey, key));
    return row;
  }

  async findOpenSupport(userId: string): Promise<RoomRow | undefined> {
    const [row] = await this.db
      .select()
      .from(chatRoom)
      .where(and(eq(chatRoom.createdBy, userId), eq(chatRoom.type, 'support'), eq(chatRoom.status, 'open')));
    return row;
  }

  /**
   * Each asked room with the asker's participant row (null when they are not in it), for many (room, user) pairs in
   * one statement: the rooms by id, and the participant rows of those rooms whose user asked for any of them (each
   * probed by the primary key; the pairs nobody asked for are left out here). Rooms that do not exist are absent.
   */
  async findManyWithMembership(
    asks: ReadonlyArray<{ roomId: string; userId: string }>,
  ): Promise<Map<string, { room: RoomRow; participant: ParticipantRow | null }>> {
    const found = new Map<string, { room: RoomRow; participant: ParticipantRow | null }>();
    if (asks.length === 0) return found;
    const roomIds = [...new Set(asks.map((a) => a.roomId))];
    const userIds = [...new Set(asks.map((a) => a.userId))];
    const rows = await MEMBERSHIP_OF(this.db, [JSON.stringify(roomIds), JSON.stringify(userIds)]);
    const rooms = new Map<string, RoomRow>();
    const members = new Map<string, ParticipantRow>();
    for (const row of rows.map(membershipOf)) {
      rooms.set(row.room.id, row.room);
      if (row.participant) members.set(membershipKey(row.room.id, row.participant.userId), row.participant);
    }
    for (const { roomId, userId } of asks) {
      // A uuid may be asked for in capitals; the database answers with its canonical (lower-case) text.
      const id = roomId.toLowerCase();
      const room = rooms.get(id);
      if (room) found.set(membershipKey(roomId, userId), { room, participant: members.get(membershipKey(id, userId)) ?? null });
    }
    return found;
  }

  async findParticipant(roomId: string, userId: string): Promise<ParticipantRow | undefined> {
    const [row] = await this.db
      .select()
      .from(chatParticipant)
      .where(and(eq(chatParticipant.roomId, roomId), eq(chatParticipant.userId, userId)));
    return row;
  }

  /** Participants of several rooms with their latest known profile, longest-standing first. */
  async participantsOf(roomIds: string[]): Promise<ParticipantWithProfile[]> {
    if (roomIds.length === 0) return [];
    const rows = await PARTICIPANTS_OF(this.db, [JSON.stringify(roomIds)]);
    return rows.map((r) => ({
      ...participantRowOf(r),
      name: r.name,
      picture: r.picture,
      userRole: r.user_role,
      deletedUnread: Number(r.deleted_unread),
    }));
  }

  async participantIds(roomId: string): Promise<string[]> {
    const rows = await this.db.select({ userId: chatParticipant.userId }).from(chatParticipant).where(eq(chatParticipant.roomId, roomId));
    return rows.map((r) => r.userId);
  }

  /** Which of these users are in the room. */
  async whichAreParticipants(roomId: string, userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const rows = await this.db
      .select({ userId: chatParticipant.userId })
      .from(chatParticipant)
      .where(and(eq(chatParticipant.roomId, roomId), inArray(chatParticipant.userId, userIds)));
    return new Set(rows.map((r) => r.userId));
  }

  /** The caller's rooms, latest activity first, keyset-paged on (last_activity_at, id). */
  async listForUser(
    userId: string,
    opts: { type?: string | undefined; status?: string | undefined; after?: RoomKey | undefined; limit: number },
  ): Promise<RoomRow[]> {
    // In SQL, not after the fact: filtering a fetched page would leave short pages and a wrong cursor.
    return roomsOfUser(this.db, userId, opts);
  }

  /** The support queue for staff: every support room, latest activity first. */
  async listSupport(opts: { status?: string | undefined; after?: RoomKey | undefined; limit: number }): Promise<RoomRow[]> {
    const conds: SQL[] = [eq(chatRoom.type, 'support')];
    if (opts.status) conds.push(eq(chatRoom.status, opts.status));
    if (opts.after) conds.push(keysetBefore(opts.after));
    return this.db
      .select()
      .from(chatRoom)
      .where(and(...conds))
      .orderBy(desc(chatRoom.lastActivityAt), desc(chatRoom.id))
      .limit(opts.limit);
  }

  async update(id: string, patch: Partial<Pick<RoomRow, 'name' | 'description' | 'status' | 'slowModeS'>>): Promise<RoomRow> {
    const [row] = await this.db
      .update(chatRoom)
      .set({ ...patch, updatedAt: sql`now()` })
      .where(eq(chatRoom.id, id))
      .returning();
    return row!;
  }

  async touch(id: string): Promise<void> {
    await this.db
      .update(chatRoom)
      .set({ updatedAt: sql`now()` })
      .where(eq(chatRoom.id, id));
  }

  async removeParticipant(roomId: string, userId: string): Promise<boolean> {
    const rows = await this.db
      .delete(chatParticipant)
      .where(and(eq(chatParticipant.roomId, roomId), eq(chatParticipant.userId, userId)))
      .returning({ userId: chatParticipant.userId });
    return rows.length > 0;
  }

  /**
   * A room never loses its last owner: if none is left, the longest-standing admin, else the longest-standing member,
   * becomes owner. Returns the promoted user, if any. Call with the room row locked.
   */
  async promoteOwnerIfNone(roomId: string): Promise<string | undefined> {
    const [row] = await this.db
      .update(chatParticipant)
      .set({ role: 'owner' })
      .where(
        and(
          eq(chatParticipant.roomId, roomId),
          sql`not exists (select 1 from chat_participant o where o.room_id = ${roomId} and o.role = 'owner')`,
          sql`${chatParticipant.userId} = (
            select c.user_id from chat_participant c
            where c.room_id = ${roomId} and c.role in ('admin', 'member')
            order by case c.role when 'admin' then 0 else 1 end, c.joined_at, c.user_id
            limit 1)`,
        ),
      )
      .returning({ userId: chatParticipant.userId });
    return row?.userId;
  }

  async setNotificationPrefs(
    roomId: string,
    userId: string,
    prefs: { muted: boolean; mutedUntil: Date | null; hidePreviews?: boolean | undefined },
  ): Promise<void> {
    await this.db
      .update(chatParticipant)
      .set({
        muted: prefs.muted,
        mutedUntil: prefs.mutedUntil,
        ...(prefs.hidePreviews !== undefined ? { hidePreviews: prefs.hidePreviews } : {}),
      })
      .where(and(eq(chatParticipant.roomId, roomId), eq(chatParticipant.userId, userId)));
  }
}

function keysetBefore(key: RoomKey): SQL {
  return or(lt(chatRoom.lastActivityAt, key.at), and(eq(chatRoom.lastActivityAt, key.at), lt(chatRoom.id, key.id)))!;
}

/** How findManyWithMembership names an asked pair in its answer (a room id has no space; a user id may). */
export const membershipKey = (roomId: string, userId: string): string => `${roomId} ${userId}`;

/** The pair a membershipKey names. */
export function membershipAsk(key: string): { roomId: string; userId: string } {
  const at = key.indexOf(' ');
  return { roomId: key.slice(0, at), userId: key.slice(at + 1) };
}
