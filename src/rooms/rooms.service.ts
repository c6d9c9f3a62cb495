import { isStaff, type AuthContext } from '../auth/tokens.js';
import { isUniqueViolation, type Db } from '../db/client.js';
import { AppError, notFound, forbidden, invalid } from '../errors.js';
import type { EventBus } from '../events.js';
import { decodeCursor, encodeCursor, isId, newId } from '../ids.js';
import type { MessagePresenter } from '../messages/messages.mapper.js';
import type { MessagesRepository } from '../messages/messages.repository.js';
import type { UsersRepository } from '../users/users.repository.js';
import { type RoomAccessGuard } from './rooms.access.js';
import type { ParticipantWithProfile, RoomKey, RoomRow, RoomsRepository } from './rooms.repository.js';
import type {
  AddParticipantsInput,
  CreateRoomInput,
  ListRoomsInput,
  NotificationsInput,
  ParticipantRole,
  RoomType,
  RoomView,
  UpdateRoomInput,
} from './rooms.schemas.js';

const MANAGERS: readonly string[] = ['owner', 'admin'];

export class RoomsService {
  constructor(
    private readonly db: Db,
    private readonly rooms: RoomsRepository,
    private readonly messages: MessagesRepository,
    private readonly users: UsersRepository,
    private readonly guard: RoomAccessGuard,
    private readonly bus: EventBus,
    private readonly presenter: MessagePresenter,
  ) {}

  /** 201 with a new room, or 200 with the existing direct room of the pair / open support room of the caller. */
  async create(auth: AuthContext, input: CreateRoomInput): Promise<{ room: RoomView; created: boolean }> {
    const type = input.type as RoomType;
    const others = [...new Set(input.participantIds ?? [])].filter((id) => id !== auth.userId);
    if (input.businessId !== undefined && type !== 'business') throw invalid('businessId applies to business rooms only', '/businessId');

    if (type === 'direct') {
      if (others.length !== 1) throw invalid('a direct room needs exactly one other participant', '/participantIds');
      if (input.name != null || input.description != null) throw invalid('direct rooms have no name or description');
      const directKey = JSON.stringify([auth.userId, others[0]!].sort());
      return this.createOnce(auth, () => this.rooms.findByDirectKey(directKey), 'chat_room_direct_key_uq', {
        row: { type, directKey },
        members: [
          { userId: auth.userId, role: 'member' },
          { userId: others[0]!, role: 'member' },
        ],
      });
    }
    if (type === 'support') {
      // Opened by a user for themself; staff join it by adding themselves. Naming others would silently do nothing.
      if (others.length) throw invalid('a support room is opened with no other participants; staff join it themselves', '/participantIds');
      return this.createOnce(auth, () => this.rooms.findOpenSupport(auth.userId), 'chat_room_open_support_uq', {
        row: { type, status: 'open', name: input.name ?? null, description: input.description ?? null },
        members: [{ userId: auth.userId, role: 'member' }],
      });
    }
    if (type === 'business') {
      if (!input.businessId) throw invalid('a business room needs a businessId', '/businessId');
      if (!auth.businessIds.includes(input.businessId)) throw forbidden('you do not belong to that business');
    }
    return this.createOnce(auth, async () => undefined, undefined, {
      row: { type, name: input.name ?? null, description: input.description ?? null, businessId: input.businessId ?? null },
      members: [
        { userId: auth.userId, role: 'owner' as ParticipantRole },
        ...others.map((userId) => ({ userId, role: 'member' as ParticipantRole })),
      ],
    });
  }

  /** Creates a room unless `existing` finds one; a unique-index race counts as found. */
  private async createOnce(
    auth: AuthContext,
    existing: () => Promise<RoomRow | undefined>,
    uniqueIndex: string | undefined,
    spec: { row: Partial<RoomRow> & { type: RoomType }; members: Array<{ userId: string; role: ParticipantRole }> },
  ): Promise<{ room: RoomView; created: boolean }> {
    const found = await existing();
    if (found) return { room: await this.view(auth, found), created: false };
    let row: RoomRow;
    try {
      row = await this.db.transaction(async (tx) => {
        const repo = this.rooms.with(tx);
        const inserted = await repo.insert({ ...spec.row, id: newId(), createdBy: auth.userId });
        await repo.addParticipants(inserted.id, spec.members);
        return inserted;
      });
    } catch (err) {
      if (!uniqueIndex || !isUniqueViolation(err, uniqueIndex)) throw err;
      const winner = await existing();
      if (!winner) throw err;
      return { room: await this.view(auth, winner), created: false };
    }
    this.bus.publish('room.created', { roomId: row.id, participantIds: spec.members.map((m) => m.userId) });
    return { room: await this.view(auth, row), created: true };
  }

  async list(auth: AuthContext, q: ListRoomsInput): Promise<{ data: RoomView[]; nextCursor: string | null }> {
    const limit = q.limit ?? 30;
    let after: RoomKey | undefined;
    if (q.cursor !== undefined) {
      const c = decodeCursor<{ t: number; id: string }>(q.cursor, { t: 'number', id: 'string' });
      // A forged cursor must not reach SQL: a non-uuid id or an out-of-range time would fail there as a 500.
      if (!c || !isId(c.id) || !Number.isSafeInteger(c.t) || Number.isNaN(new Date(c.t).getTime()))
        throw invalid('cursor is not valid', '/cursor');
      after = { at: new Date(c.t), id: c.id };
    }
    let rooms: RoomRow[];
    if (q.scope === 'support') {
      if (!isStaff(auth)) throw forbidden('the support queue is for support staff');
      rooms = await this.rooms.listSupport({ status: q.status, after, limit: limit + 1 });
    } else {
      if (q.status !== undefined && q.type !== 'support') throw invalid('status filters support rooms only', '/status');
      rooms = (await this.rooms.listForUser(auth.userId, { type: q.type, status: q.status, after, limit: limit + 1 })).map((r) => r.room);
    }
    const page = rooms.slice(0, limit);
    const last = page[page.length - 1];
    const nextCursor = rooms.length > limit && last ? encodeCursor({ t: last.lastActivityAt.getTime(), id: last.id }) : null;
    return { data: await this.views(auth, page), nextCursor };
  }

  async get(auth: AuthContext, roomId: string): Promise<RoomView> {
    const { room } = await this.guard.reader(auth, roomId);
    return this.view(auth, room);
  }

  async update(auth: AuthContext, roomId: string, patch: UpdateRoomInput): Promise<RoomView> {
    const { room, participant } = await this.guard.reader(auth, roomId);
    if (room.type === 'direct') throw invalid('direct rooms cannot be changed');
    if (room.type === 'support') {
      if (room.createdBy !== auth.userId && !isStaff(auth))
        throw forbidden('only the room’s user or support staff can change a support room');
      // An open support room must have its user in it: that is the room their next "open support" call returns.
      if (patch.status === 'open' && room.status !== 'open' && !(await this.rooms.findParticipant(room.id, room.createdBy))) {
        throw new AppError('CONFLICT', 'the user of this support room has left it');
      }
    } else {
      if (patch.status !== undefined) throw invalid('status applies to support rooms only', '/status');
      if (!MANAGERS.includes(participant!.role)) throw forbidden('only owners and admins can change this room');
    }
    const changes: Partial<Pick<RoomRow, 'name' | 'description' | 'status'>> = {};
    if (patch.name !== undefined) changes.name = patch.name;
    if (patch.description !== undefined) changes.description = patch.description;
    if (patch.status !== undefined) changes.status = patch.status;
    let updated: RoomRow;
    try {
      updated = await this.rooms.update(room.id, changes);
    } catch (err) {
      if (isUniqueViolation(err, 'chat_room_open_support_uq')) throw new AppError('CONFLICT', 'that user already has an open support room');
      throw err;
    }
    this.bus.publish('room.updated', { roomId: room.id });
    return this.view(auth, updated);
  }

  async addParticipants(auth: AuthContext, roomId: string, input: AddParticipantsInput): Promise<RoomView> {
    const { room, participant } = await this.guard.reader(auth, roomId);
    const userIds = [...new Set('userIds' in input ? input.userIds : [input.userId])];
    let role: ParticipantRole = 'member';
    if (room.type === 'direct') throw invalid('participants cannot be added to a direct room');
    if (room.type === 'support') {
      if (!isStaff(auth)) throw forbidden('only support staff can join a support room');
      const others = userIds.filter((id) => id !== auth.userId);
      const staff = new Set((await this.users.findMany(others)).filter((u) => u.role === 'support' || u.role === 'admin').map((u) => u.id));
      const notStaff = others.filter((id) => !staff.has(id));
      if (notStaff.length) throw invalid(`only support staff can be added to a support room: ${notStaff.join(', ')}`, '/userIds');
      role = 'agent';
    } else if (!MANAGERS.includes(participant!.role)) {
      throw forbidden('only owners and admins can add participants');
    }
    const added = await this.rooms.addParticipants(
      room.id,
      userIds.map((userId) => ({ userId, role })),
    );
    if (added.length) this.bus.publish('participant.added', { roomId: room.id, userIds: added });
    return this.view(auth, room);
  }

  /** Returns the room as the caller now sees it, or null when the caller removed themself (left). */
  async removeParticipant(auth: AuthContext, roomId: string, userId: string): Promise<RoomView | null> {
    const { room, participant } = await this.guard.reader(auth, roomId);
    if (room.type === 'direct') throw invalid('nobody can be removed from a direct room');
    const leaving = userId === auth.userId;
    const target = leaving ? participant : await this.rooms.findParticipant(room.id, userId);
    if (!target) throw notFound('Participant');
    if (!leaving) {
      if (room.type === 'support') {
        if (!isStaff(auth) || target.role !== 'agent') throw forbidden('support staff can remove agents only');
      } else if (!participant || !MANAGERS.includes(participant.role)) {
        throw forbidden('only owners and admins can remove others');
      } else if (participant.role === 'admin' && target.role !== 'member') {
        throw forbidden('admins can remove members only');
      }
    }
    const { removed, changed } = await this.db.transaction(async (tx) => {
      const repo = this.rooms.with(tx);
      // The lock serialises concurrent departures around the owner hand-over, and gives the current status.
      const locked = await repo.findById(room.id, { lock: true });
      if (!locked || !(await repo.removeParticipant(room.id, userId))) return { removed: false, changed: false };
      if (room.type === 'support') {
        // A support room without its user is over; left open it would also stop them from opening a new one.
        if (userId !== room.createdBy || locked.status !== 'open') return { removed: true, changed: false };
        await repo.update(room.id, { status: 'closed' });
        return { removed: true, changed: true };
      }
      const promoted = await repo.promoteOwnerIfNone(room.id);
      if (promoted !== undefined) await repo.touch(room.id);
      return { removed: true, changed: promoted !== undefined };
    });
    if (!removed) throw notFound('Participant');
    const remainingIds = await this.rooms.participantIds(room.id);
    this.bus.publish('participant.removed', { roomId: room.id, userId, remainingIds });
    if (changed) this.bus.publish('room.updated', { roomId: room.id });
    if (leaving) return null;
    return this.view(auth, (await this.rooms.findById(room.id)) ?? room);
  }

  async setNotifications(auth: AuthContext, roomId: string, input: NotificationsInput): Promise<RoomView> {
    const { room } = await this.guard.member(auth, roomId);
    const until = input.muted && input.mutedUntil ? new Date(input.mutedUntil) : null;
    await this.rooms.setNotificationPrefs(room.id, auth.userId, {
      muted: input.muted,
      mutedUntil: until,
      hidePreviews: input.hidePreviews,
    });
    return this.view(auth, room);
  }

  async view(auth: AuthContext, room: RoomRow): Promise<RoomView> {
    const [v] = await this.views(auth, [room]);
    return v!;
  }

  /** Rooms as the caller sees them: participants, last message, unread count and mute state. Two queries. */
  async views(auth: AuthContext, rooms: RoomRow[]): Promise<RoomView[]> {
    const loaded = await this.load(rooms);
    return loaded.map(({ base, members }) =>
      personalise(
        base,
        members.find((p) => p.userId === auth.userId),
      ),
    );
  }

  /** One room as each of its participants sees it (their unread count and mute state differ): for live events. */
  async memberViews(roomId: string): Promise<Array<[string, RoomView]>> {
    const room = await this.rooms.findById(roomId);
    if (!room) return [];
    const [loaded] = await this.load([room]);
    return loaded!.members.map((p) => [p.userId, personalise(loaded!.base, p)]);
  }

  private async load(rooms: RoomRow[]): Promise<Array<{ base: RoomView; members: ParticipantWithProfile[] }>> {
    if (rooms.length === 0) return [];
    const ids = rooms.map((r) => r.id);
    const [participants, lasts] = await Promise.all([this.rooms.participantsOf(ids), this.messages.lastOf(ids)]);
    // A fresh read: the row passed in may predate a message or a join.
    const lastByRoom = new Map(lasts.map((m) => [m.roomId, m]));
    const lastViews = new Map((await this.presenter.present(lasts)).map((v) => [v.id, v]));
    const byRoom = new Map<string, ParticipantWithProfile[]>();
    for (const p of participants) {
      const list = byRoom.get(p.roomId) ?? [];
      list.push(p);
      byRoom.set(p.roomId, list);
    }
    return rooms.map((room) => {
      const members = byRoom.get(room.id) ?? [];
      const last = lastByRoom.get(room.id);
      const base: RoomView = {
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
        lastMessage: last ? (lastViews.get(last.id) ?? null) : null,
        unreadCount: 0,
        muted: false,
        mutedUntil: null,
        hidePreviews: false,
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
      return { base, members };
    });
  }
}

/** The viewer's own part of a room: unread count and mute state (staff reading a room they are not in: none). */
function personalise(base: RoomView, me: ParticipantWithProfile | undefined): RoomView {
  if (!me) return base;
  const mutedNow = me.muted && (me.mutedUntil === null || me.mutedUntil.getTime() > Date.now());
  return {
    ...base,
    unreadCount: Math.max(0, base.lastSeq - me.lastReadSeq),
    muted: mutedNow,
    mutedUntil: mutedNow && me.mutedUntil ? me.mutedUntil.toISOString() : null,
    hidePreviews: me.hidePreviews,
  };
}
