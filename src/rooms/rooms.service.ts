import type { ReadRouting } from '../db/replicas.js';
import type { AuthContext } from '../auth/tokens.js';
import { isUniqueViolation, type Db, type Executor } from '../db/client.js';
import { AppError, notFound, invalid } from '../errors.js';
import { EventLogRepository } from '../event-log/event-log.repository.js';
import type { EventBus } from '../events.js';
import { decodeCursor, encodeCursor, newId } from '../ids.js';
import type { UsersRepository } from '../users/users.repository.js';
import { type RoomAccessGuard } from './rooms.access.js';
import { actorOf, authorize, authorizeBusiness, authorizeSupportQueue, isStaffRole } from './rooms.policy.js';
import type { RoomPresenter } from './rooms.presenter.js';
import type { RoomKey, RoomRow, RoomsRepository } from './rooms.repository.js';
import type {
  AddParticipantsInput,
  CreateRoomInput,
  ListRoomsInput,
  NotificationsInput,
  ParticipantRole,
  RoomType,
  RoomView,
  UpdateRoomInput,
} from '../contract/rooms.js';

export class RoomsService {
  constructor(
    private readonly db: Db,
    private readonly rooms: RoomsRepository,
    private readonly users: UsersRepository,
    private readonly guard: RoomAccessGuard,
    private readonly bus: EventBus,
    private readonly presenter: RoomPresenter,
    private readonly replicas: Pick<ReadRouting, 'forUser'>,
    /** Throws when these two may not open a direct room (a block, either way); injected so rooms import no moderation. */
    private readonly directAllowed: (userId: string, otherId: string) => Promise<void> = async () => {},
  ) {}

  /** 201 with a new room, or 200 with the existing direct room of the pair / open support room of the caller. */
  async create(auth: AuthContext, input: CreateRoomInput): Promise<{ room: RoomView; created: boolean }> {
    const type = input.type as RoomType;
    const others = [...new Set(input.participantIds ?? [])].filter((id) => id !== auth.userId);
    if (input.businessId !== undefined && type !== 'business') throw invalid('businessId applies to business rooms only', '/businessId');

    if (type === 'direct') {
      if (others.length !== 1) throw invalid('a direct room needs exactly one other participant', '/participantIds');
      if (input.name != null || input.description != null) throw invalid('direct rooms have no name or description');
      // Before the lookup: a blocked pair is refused even when their room exists (it is not returned).
      await this.directAllowed(auth.userId, others[0]!);
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
      authorizeBusiness(auth, input.businessId);
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
        await this.log(tx, 'room.created', inserted.id, { roomId: inserted.id });
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
    return this.replicas.forUser(auth.userId, () => this.listPage(auth, q));
  }

  private async listPage(auth: AuthContext, q: ListRoomsInput): Promise<{ data: RoomView[]; nextCursor: string | null }> {
    const limit = q.limit ?? 30;
    let after: RoomKey | undefined;
    if (q.cursor !== undefined) {
      // The codec refuses a forged cursor (a non-uuid id, an impossible time) before it can reach SQL.
      const c = decodeCursor<{ t: number; id: string }>(q.cursor, { t: 'time', id: 'id' });
      if (!c) throw invalid('cursor is not valid', '/cursor');
      after = { at: new Date(c.t), id: c.id };
    }
    let rooms: RoomRow[];
    if (q.scope === 'support') {
      authorizeSupportQueue(auth);
      rooms = await this.rooms.listSupport({ status: q.status, after, limit: limit + 1 });
    } else {
      if (q.status !== undefined && q.type !== 'support') throw invalid('status filters support rooms only', '/status');
      rooms = await this.rooms.listForUser(auth.userId, { type: q.type, status: q.status, after, limit: limit + 1 });
    }
    const page = rooms.slice(0, limit);
    const last = page[page.length - 1];
    const nextCursor = rooms.length > limit && last ? encodeCursor({ t: last.lastActivityAt.getTime(), id: last.id }) : null;
    return { data: await this.presenter.views(auth, page), nextCursor };
  }

  async get(auth: AuthContext, roomId: string): Promise<RoomView> {
    const { room } = await this.guard.reader(auth, roomId);
    return this.view(auth, room);
  }

  async update(auth: AuthContext, roomId: string, patch: UpdateRoomInput): Promise<RoomView> {
    const { room, participant } = await this.guard.reader(auth, roomId);
    const actor = actorOf(auth, participant);
    // The status first: a group room asked for one is a bad request whoever asks.
    if (patch.status !== undefined) authorize(actor, 'set-status', room);
    if (patch.name !== undefined || patch.description !== undefined) authorize(actor, 'update', room);
    if (patch.slowModeS !== undefined) authorize(actor, 'set-slow-mode', room);
    // An open support room must have its user in it: that is the room their next "open support" call returns.
    if (patch.status === 'open' && room.status !== 'open' && !(await this.rooms.findParticipant(room.id, room.createdBy))) {
      throw new AppError('CONFLICT', 'the user of this support room has left it');
    }
    const changes: Partial<Pick<RoomRow, 'name' | 'description' | 'status' | 'slowModeS'>> = {};
    if (patch.name !== undefined) changes.name = patch.name;
    if (patch.description !== undefined) changes.description = patch.description;
    if (patch.status !== undefined) changes.status = patch.status;
    if (patch.slowModeS !== undefined) changes.slowModeS = patch.slowModeS;
    let updated: RoomRow;
    try {
      // The update takes the room's row lock, so its log event is in commit order with the room's other events.
      updated = await this.db.transaction(async (tx) => {
        const row = await this.rooms.with(tx).update(room.id, changes);
        await this.log(tx, 'room.updated', room.id, { roomId: room.id });
        return row;
      });
    } catch (err) {
      if (isUniqueViolation(err, 'chat_room_open_support_uq')) throw new AppError('CONFLICT', 'that user already has an open support room');
      throw err;
    }
    this.bus.publish('room.updated', { roomId: room.id });
    return this.view(auth, updated);
  }

  async addParticipants(auth: AuthContext, roomId: string, input: AddParticipantsInput): Promise<RoomView> {
    const { room } = await this.guard.authorize(auth, roomId, 'add-participants');
    const userIds = [...new Set('userIds' in input ? input.userIds : [input.userId])];
    let role: ParticipantRole = 'member';
    if (room.type === 'support') {
      const others = userIds.filter((id) => id !== auth.userId);
      // Staff by their latest token: only they may be agents.
      const staff = new Set((await this.users.findMany(others)).filter((u) => isStaffRole(u.role)).map((u) => u.id));
      const notStaff = others.filter((id) => !staff.has(id));
      if (notStaff.length) throw invalid(`only support staff can be added to a support room: ${notStaff.join(', ')}`, '/userIds');
      role = 'agent';
    }
    const added = await this.db.transaction(async (tx) => {
      const repo = this.rooms.with(tx);
      // Under the room's row lock, as every write whose log event must keep the room's commit order.
      await repo.findById(room.id, { lock: true });
      const ids = await repo.addParticipants(
        room.id,
        userIds.map((userId) => ({ userId, role })),
      );
      if (ids.length) await this.log(tx, 'participant.added', room.id, { chatRoomId: room.id, userIds: ids });
      return ids;
    });
    if (added.length) this.bus.publish('participant.added', { roomId: room.id, userIds: added });
    return this.view(auth, room);
  }

  /** Returns the room as the caller now sees it, or null when the caller removed themself (left). */
  async removeParticipant(auth: AuthContext, roomId: string, userId: string): Promise<RoomView | null> {
    const { room, participant } = await this.guard.reader(auth, roomId);
    const actor = actorOf(auth, participant);
    const leaving = userId === auth.userId;
    if (leaving) authorize(actor, 'leave', room);
    else authorize(actor, 'remove-participant', room, (await this.rooms.findParticipant(room.id, userId)) ?? null);
    const { removed, changed } = await this.db.transaction(async (tx) => {
      const repo = this.rooms.with(tx);
      // The lock serialises concurrent departures around the owner hand-over, and gives the current status.
      const locked = await repo.findById(room.id, { lock: true });
      if (!locked || !(await repo.removeParticipant(room.id, userId))) return { removed: false, changed: false };
      await this.log(tx, 'participant.removed', room.id, { chatRoomId: room.id, userId });
      if (room.type === 'support') {
        // A support room without its user is over; left open it would also stop them from opening a new one.
        if (userId !== room.createdBy || locked.status !== 'open') return { removed: true, changed: false };
        await repo.update(room.id, { status: 'closed' });
        await this.log(tx, 'room.updated', room.id, { roomId: room.id });
        return { removed: true, changed: true };
      }
      const promoted = await repo.promoteOwnerIfNone(room.id);
      if (promoted !== undefined) {
        await repo.touch(room.id);
        await this.log(tx, 'room.updated', room.id, { roomId: room.id });
      }
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

  /** The durable log (webhooks read it), in the change's transaction; nothing is written while no one listens. */
  private async log(tx: Executor, type: string, roomId: string, payload: Record<string, unknown>): Promise<void> {
    await new EventLogRepository(this.db).append(tx, [{ type, roomId, payload }]);
  }

  async view(auth: AuthContext, room: RoomRow): Promise<RoomView> {
    return this.presenter.view(auth, room);
  }

  /** One room as each of its participants sees it: for live events. */
  async memberViews(roomId: string): Promise<Array<[string, RoomView]>> {
    return this.presenter.memberViews(roomId);
  }
}
