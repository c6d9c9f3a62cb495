import type { AuthContext } from '../auth/tokens.js';
import { AppError, invalid, notFound } from '../errors.js';
import type { EventLogRepository } from '../event-log/event-log.repository.js';
import { decodeCursor, encodeCursor } from '../ids.js';
import { afterChange, type ChangeSet, type MessageChangesService, type MessagePresenter } from '../messages/index.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import type { MessageView } from '../contract/messages.js';
import { MAX_PINS_PER_ROOM, type PinsInput, type PinsPageView } from '../contract/pins.js';
import type { PinKey, PinsRepository } from './pins.repository.js';

/**
 * Pins: columns of the message, and a count on the room moved under the room's lock with the change's changeSeq, so
 * the cap holds under any concurrency. A repeat (pinning a pinned message) changes nothing and announces nothing.
 */
export class PinsService {
  constructor(
    private readonly repo: PinsRepository,
    private readonly changes: MessageChangesService,
    private readonly guard: RoomAccessGuard,
    private readonly presenter: MessagePresenter,
    private readonly eventLog: EventLogRepository,
  ) {}

  async pin(auth: AuthContext, roomId: string, messageId: string, pinned: boolean): Promise<MessageView> {
    const { row, changed, locked } = await this.changes.change(auth, messageId, 'pin', async ({ locked, repo, tx }) => {
      const old = locked.row;
      // The path names the room: a message of another room is not found here, whatever the caller may see there.
      if (old.roomId !== roomId || old.deletedAt) throw notFound('Message');
      if ((old.pinnedAt !== null) === pinned) return { row: old, changed: false };
      const set: ChangeSet = pinned ? { pinnedAt: 'now', pinnedBy: auth.userId } : { pinnedAt: null, pinnedBy: null };
      const applied = await repo.apply(old, set, pinned ? 1 : -1, MAX_PINS_PER_ROOM);
      if (!applied) throw new AppError('CONFLICT', `a room has at most ${MAX_PINS_PER_ROOM} pinned messages`);
      // After apply, which took the room's row lock: the event is in the room's commit order (webhooks: message.updated).
      await this.eventLog.append(tx, [
        { type: pinned ? 'message.pinned' : 'message.unpinned', roomId: old.roomId, payload: { messageId: old.id, roomId: old.roomId } },
      ]);
      return { row: afterChange(old, set, applied), changed: true };
    });
    return this.changes.updated(row, changed, locked.ownEmoji);
  }

  async list(auth: AuthContext, roomId: string, q: PinsInput): Promise<PinsPageView> {
    const { room } = await this.guard.reader(auth, roomId);
    const after = q.cursor === undefined ? null : decodeCursor<PinKey>(q.cursor, { at: 'time', id: 'id' });
    if (after === null && q.cursor !== undefined) throw invalid('cursor is not valid', '/cursor');
    const limit = q.limit ?? 50;
    const rows = await this.repo.list(room.id, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: await this.presenter.present(page, auth.userId),
      nextCursor: rows.length > limit && last ? encodeCursor({ at: last.pinnedAt!.getTime(), id: last.id }) : null,
    };
  }
}
