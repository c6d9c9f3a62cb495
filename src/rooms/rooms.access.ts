import type { AuthContext } from '../auth/tokens.js';
import { BatchLoader } from '../batch-loader.js';
import { AppError, notFound } from '../errors.js';
import { isId } from '../ids.js';
import { actorOf, authorize, type RoomAction, type Target } from './rooms.policy.js';
import { membershipAsk, membershipKey, type ParticipantRow, type RoomRow, type RoomsRepository } from './rooms.repository.js';

export interface RoomAccess {
  room: RoomRow;
  /** null when a staff member reads a support room they have not joined. */
  participant: ParticipantRow | null;
}

/**
 * The first check of every room-scoped service method: loads the room and the caller's part in it, and asks the
 * policy (rooms.policy.ts). A room the caller cannot read is NOT_FOUND, exactly like one that does not exist, so
 * nobody learns which ids exist.
 */
export class RoomAccessGuard {
  /**
   * The checks asked for together are one statement: a reconnect storm's clients each catch up on every room they
   * are in within milliseconds (1,000 sockets, 20 rooms each, were as many statements). A check never waits for
   * more than the end of its tick, or the statement in flight, and always reads after it was asked.
   */
  private readonly loader: BatchLoader<string, RoomAccess>;

  constructor(rooms: RoomsRepository) {
    this.loader = new BatchLoader((keys) => rooms.findManyWithMembership(keys.map(membershipAsk)));
  }

  /** The caller must be a participant (their own settings, uploads, read marks: no role rule, only membership). */
  async member(auth: AuthContext, roomId: string): Promise<{ room: RoomRow; participant: ParticipantRow }> {
    const found = await this.load(roomId, auth.userId);
    if (!found.participant) throw notFound('Room');
    return found as { room: RoomRow; participant: ParticipantRow };
  }

  /** The caller is a participant, or support staff looking at a support room. */
  async reader(auth: AuthContext, roomId: string): Promise<RoomAccess> {
    return this.authorize(auth, roomId, 'read');
  }

  /**
   * `reader` or `member` for a room reached through one of its messages (`/messages/:id/…`): a room the caller cannot
   * see answers word for word as a message that does not exist, so the message's existence is not revealed either.
   */
  async messageReader(auth: AuthContext, roomId: string): Promise<RoomAccess> {
    return this.reader(auth, roomId).catch(asMessageNotFound);
  }

  async messageMember(auth: AuthContext, roomId: string): Promise<{ room: RoomRow; participant: ParticipantRow }> {
    return this.member(auth, roomId).catch(asMessageNotFound);
  }

  /**
   * The caller may do `action` (to `target`): NOT_FOUND when the room is hidden from them, else the policy's refusal.
   * E.g. `authorize(auth, id, 'join-live')` for join_chat, `authorize(auth, id, 'send')` for typing.
   */
  async authorize(auth: AuthContext, roomId: string, action: RoomAction, target?: Target | null): Promise<RoomAccess> {
    const found = await this.load(roomId, auth.userId);
    authorize(actorOf(auth, found.participant), action, found.room, target);
    return found;
  }

  private async load(roomId: string, userId: string): Promise<RoomAccess> {
    const found = isId(roomId) ? await this.loader.one(membershipKey(roomId, userId)) : undefined;
    if (!found) throw notFound('Room');
    return found;
  }
}

/** Any other failure (the database) stays what it is. */
function asMessageNotFound(err: unknown): never {
  if (err instanceof AppError && err.code === 'NOT_FOUND') throw notFound('Message');
  throw err;
}
