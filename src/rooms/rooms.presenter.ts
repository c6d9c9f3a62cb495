import type { AuthContext, UserRole } from '../auth/tokens.js';
import type { MessageView } from '../contract/messages.js';
import { abilitiesOf, actorOf, isStaffRole } from './rooms.policy.js';
import type { ParticipantWithProfile, RoomRow, RoomsRepository } from './rooms.repository.js';
import type { ParticipantRole, RoomType, RoomView } from '../contract/rooms.js';

/** The last message of each of these rooms that has one, by room id (provided by the messages module). */
export type LastMessages = (roomIds: string[], viewerId?: string) => Promise<Map<string, MessageView>>;

/** Who looks at a room: their id and platform role. */
export type Viewer = Pick<AuthContext, 'userId' | 'role'>;

interface Loaded {
  room: RoomRow;
  base: RoomView;
  members: ParticipantWithProfile[];
  memberIds: ReadonlySet<string>;
}

/** The one place a Room view is assembled, for REST answers and socket events alike. */
export class RoomPresenter {
  constructor(
    private readonly rooms: RoomsRepository,
    private readonly lastMessages: LastMessages,
  ) {}

  async view(viewer: Viewer, room: RoomRow): Promise<RoomView> {
    const [v] = await this.views(viewer, [room]);
    return v!;
  }

  /** Rooms as the viewer sees them: participants, last message, unread count, mute state and abilities. Two reads. */
  async views(viewer: Viewer, rooms: RoomRow[]): Promise<RoomView[]> {
    return (await this.load(rooms, viewer.userId)).map((l) =>
      personalise(
        l,
        viewer,
        l.members.find((p) => p.userId === viewer.userId),
      ),
    );
  }

  /** One room as each of its participants sees it (unread count, mute state and abilities differ): for live events. */
  async memberViews(roomId: string): Promise<Array<[string, RoomView]>> {
    const room = await this.rooms.findById(roomId);
    if (!room) return [];
    const [loaded] = await this.load([room]);
    return loaded!.members.map((p) => [p.userId, personalise(loaded!, { userId: p.userId, role: platformRole(p.userRole) }, p)]);
  }

  /** `viewerId`: whose reactions the last messages mark as `me` (none for events that go to every participant). */
  private async load(rooms: RoomRow[], viewerId?: string): Promise<Loaded[]> {
    if (rooms.length === 0) return [];
    const ids = rooms.map((r) => r.id);
    // A fresh read: the row passed in may predate a message or a join.
    const [participants, lasts] = await Promise.all([this.rooms.participantsOf(ids), this.lastMessages(ids, viewerId)]);
    const byRoom = new Map<string, ParticipantWithProfile[]>();
    for (const p of participants) {
      const list = byRoom.get(p.roomId) ?? [];
      list.push(p);
      byRoom.set(p.roomId, list);
    }
    return rooms.map((room) => {
      const members = byRoom.get(room.id) ?? [];
      const memberIds = new Set(members.map((p) => p.userId));
      return { room, members, memberIds, base: baseView(room, members, lasts.get(room.id) ?? null) };
    });
  }
}

/** What every viewer of a room sees alike. */
function baseView(room: RoomRow, members: ParticipantWithProfile[], last: MessageView | null): RoomView {
  return {
    id: room.id,
    type: room.type as RoomType,
    name: room.name,
    description: room.description,
    businessId: room.businessId,
    status: room.status as RoomView['status'],
    createdBy: room.createdBy,
    createdAt: room.createdAt.toISOString(),
    updatedAt: room.updatedAt.toISOString(),
    lastSeq: Math.max(room.lastSeq, last?.seq ?? 0),
    lastChangeSeq: Math.max(room.lastChangeSeq, last?.changeSeq ?? 0),
    pinnedCount: room.pinnedCount,
    slowModeS: room.slowModeS,
    lastMessage: last,
    unreadCount: 0,
    muted: false,
    mutedUntil: null,
    hidePreviews: false,
    abilities: [],
    participants: members.map((p) => ({
      userId: p.userId,
      name: p.name,
      picture: p.picture,
      role: p.role as ParticipantRole,
      joinedAt: p.joinedAt.toISOString(),
      lastReadSeq: p.lastReadSeq,
      lastDeliveredSeq: p.lastDeliveredSeq,
    })),
  };
}

/** The viewer's own part of a room: abilities, and unread count and mute state (staff reading a room they are not in: none). */
function personalise({ room, base, memberIds }: Loaded, viewer: Viewer, me: ParticipantWithProfile | undefined): RoomView {
  const abilities = abilitiesOf(actorOf(viewer, me ?? null), room, memberIds);
  if (!me) return { ...base, abilities };
  const mutedNow = me.muted && (me.mutedUntil === null || me.mutedUntil.getTime() > Date.now());
  return {
    ...base,
    unreadCount: Math.max(0, base.lastSeq - me.lastReadSeq - me.deletedUnread),
    muted: mutedNow,
    mutedUntil: mutedNow && me.mutedUntil ? me.mutedUntil.toISOString() : null,
    hidePreviews: me.hidePreviews,
    abilities,
  };
}

/** A stored token role; anything unknown (or a user never seen) is a plain user. */
const platformRole = (role: string | null): UserRole => (isStaffRole(role) ? role : 'user');
