import { isStaff, type AuthContext } from '../auth/tokens.js';
import { notFound } from '../errors.js';
import { isId } from '../ids.js';
import type { ParticipantRow, RoomRow, RoomsRepository } from './rooms.repository.js';

export interface RoomAccess {
  room: RoomRow;
  /** null when a staff member reads a support room they have not joined. */
  participant: ParticipantRow | null;
}

/**
 * The first check of every room-scoped service method. A room the caller is not in is NOT_FOUND, exactly like one
 * that does not exist, so nobody learns which ids exist.
 */
export class RoomAccessGuard {
  constructor(private readonly rooms: RoomsRepository) {}

  /** The caller must be a participant. */
  async member(auth: AuthContext, roomId: string): Promise<{ room: RoomRow; participant: ParticipantRow }> {
    const access = await this.reader(auth, roomId, false);
    if (!access.participant) throw notFound('Room');
    return access as { room: RoomRow; participant: ParticipantRow };
  }

  /** The caller is a participant, or (when staffMayRead) support staff looking at a support room. */
  async reader(auth: AuthContext, roomId: string, staffMayRead = true): Promise<RoomAccess> {
    if (!isId(roomId)) throw notFound('Room');
    const found = await this.rooms.findWithMembership(roomId, auth.userId);
    if (!found) throw notFound('Room');
    if (found.participant) return found;
    if (staffMayRead && found.room.type === 'support' && isStaff(auth)) return { room: found.room, participant: null };
    throw notFound('Room');
  }
}
