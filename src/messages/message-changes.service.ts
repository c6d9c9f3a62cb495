import type { AuthContext } from '../auth/tokens.js';
import type { Db, Tx } from '../db/client.js';
import { AppError, invalid, notFound } from '../errors.js';
import type { EventLogRepository } from '../event-log/event-log.repository.js';
import type { EventBus } from '../events.js';
import { isId } from '../ids.js';
import type { MediaService } from '../media/media.service.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import { actorOf, authorize, type RoomAction } from '../rooms/rooms.policy.js';
import { documentVector } from '../text/tokenize.js';
import type { ChangesInput, ChangesPageView, EditMessageInput, EditsPageView, MessageView } from '../contract/messages.js';
import type { Applied, ChangeSet, LockedMessage, MessageChangesRepository } from './message-changes.repository.js';
import type { MessagePresenter } from './messages.presenter.js';
import type { MessageRow, MessagesRepository } from './messages.repository.js';
import { checkMentions } from './messages.service.js';
import type { RoomsRepository } from '../rooms/rooms.repository.js';

/** What a change body is given: the locked message (room and caller's part included) and the repository on its transaction. */
export interface ChangeScope {
  locked: LockedMessage;
  repo: MessageChangesRepository;
  tx: Tx;
}

/** A change's outcome: the message row as it now stands, and whether anything changed (a repeat changes nothing). */
export interface Changed<E = undefined> {
  row: MessageRow;
  changed: boolean;
  /** What the body wants to tell after the commit (its event's details). */
  extra?: E;
}

/** The row after `set` was applied: what the change wrote, without reading the row back. */
export function afterChange(row: MessageRow, set: ChangeSet, applied: Applied): MessageRow {
  const at = (v: 'now' | null | undefined, old: Date | null) => (v === undefined ? old : v === null ? null : applied.at);
  return {
    ...row,
    content: set.content ?? row.content,
    mentions: set.mentions ?? row.mentions,
    editedAt: at(set.editedAt, row.editedAt),
    deletedAt: at(set.deletedAt, row.deletedAt),
    deletedBy: set.deletedBy ?? row.deletedBy,
    pinnedAt: at(set.pinnedAt, row.pinnedAt),
    pinnedBy: set.pinnedBy === undefined ? row.pinnedBy : set.pinnedBy,
    reactions: set.reactions ?? row.reactions,
    hasMedia: set.hasMedia ?? row.hasMedia,
    changeSeq: applied.changeSeq,
  };
}

const deletedMessage = () => notFound('Message');

/**
 * Messages that change: edits, deletes for everyone, the change log, and the one primitive (`change`) reactions and
 * pins are written through too. Each change locks its message, checks the policy, writes, and takes the room's next
 * changeSeq in one transaction; its event is published after the commit.
 */
export class MessageChangesService {
  constructor(
    private readonly db: Db,
    private readonly repo: MessageChangesRepository,
    private readonly messages: MessagesRepository,
    private readonly rooms: RoomsRepository,
    private readonly guard: RoomAccessGuard,
    private readonly bus: EventBus,
    private readonly media: Pick<MediaService, 'erase' | 'purge'>,
    private readonly presenter: MessagePresenter,
    private readonly eventLog: EventLogRepository,
    private readonly editWindowS: number,
  ) {}

  /**
   * Runs `body` on message `messageId` locked for a change, once the caller may do `action` to it (a message in a room
   * the caller cannot read is NOT_FOUND, before any FORBIDDEN). Everything `body` writes commits together or not at all.
   */
  async change<E>(
    auth: AuthContext,
    messageId: string,
    action: RoomAction,
    body: (scope: ChangeScope) => Promise<Changed<E>>,
  ): Promise<Changed<E> & { locked: LockedMessage }> {
    if (!isId(messageId)) throw notFound('Message');
    return this.db.transaction(async (tx) => {
      const repo = this.repo.with(tx);
      const locked = await repo.lock(messageId, auth.userId);
      if (!locked) throw notFound('Message');
      authorize(actorOf(auth, locked.participant), action, locked.room, { userId: locked.row.senderId });
      return { ...(await body({ locked, repo, tx })), locked };
    });
  }

  /** One message, for clients that jump to it (a notification, a link). */
  async get(auth: AuthContext, messageId: string): Promise<MessageView> {
    const row = isId(messageId) ? await this.messages.findById(messageId) : undefined;
    if (!row) throw notFound('Message');
    await this.guard.reader(auth, row.roomId);
    return this.presenter.one(row, auth.userId);
  }

  async edit(auth: AuthContext, messageId: string, input: EditMessageInput): Promise<MessageView> {
    const { row, changed, extra, locked } = await this.change(auth, messageId, 'edit-message', async ({ locked, repo, tx }) => {
      const old = locked.row;
      if (old.deletedAt) throw deletedMessage();
      if (this.editWindowS > 0 && Date.now() - old.createdAt.getTime() > this.editWindowS * 1000) {
        throw new AppError('FORBIDDEN', `messages can be edited for ${this.editWindowS} s after sending`);
      }
      if (input.content.trim() === '' && !old.hasMedia) throw invalid('content must not be empty', '/content');
      const mentions = input.mentions === undefined ? old.mentions : [...new Set(input.mentions)];
      // Kept mentions are not checked again: someone mentioned who left since stays mentioned, as in the text.
      if (input.mentions !== undefined) await checkMentions(this.rooms.with(tx), old.roomId, mentions);
      await repo.keepVersion(old);
      const set: ChangeSet = { content: input.content, mentions, searchDoc: documentVector(input.content), editedAt: 'now' };
      const applied = await repo.apply(old, set);
      if (!applied) throw deletedMessage();
      const before = new Set(old.mentions);
      const newMentions = mentions.filter((m) => !before.has(m) && m !== old.senderId);
      if (newMentions.length) {
        await this.eventLog.append(tx, [
          {
            type: 'message.edited',
            roomId: old.roomId,
            payload: { messageId: old.id, roomId: old.roomId, senderId: old.senderId, roomType: locked.room.type, newMentions },
          },
        ]);
      }
      return { row: afterChange(old, set, applied), changed: true, extra: newMentions };
    });
    return this.updated(row, changed, locked, extra ?? []);
  }

  /**
   * After an edit, a pin or an unpin: message_updated (when something changed) with the message as everyone sees it,
   * and the caller's answer with their own reactions marked.
   */
  async updated(row: MessageRow, changed: boolean, locked: LockedMessage, newMentions: string[] = []): Promise<MessageView> {
    const message = await this.presenter.one(row);
    if (changed) this.bus.publish('message.updated', { message, newMentions });
    return row.reactions.length ? this.presenter.withOwn(row, locked.ownEmoji) : message;
  }

  /**
   * Deletes for everyone: the row stays as a tombstone (seq stays dense, replies keep their parent) and everything
   * else goes in the same transaction — content, mentions, reactions, pin, earlier versions, search words; the files
   * are listed for removal there too, and removed before the answer (a failed removal is retried by the media sweeper,
   * whose list the file route consults meanwhile). Deleting a tombstone changes nothing.
   */
  async delete(auth: AuthContext, messageId: string): Promise<MessageView> {
    const { row, changed, extra } = await this.change(auth, messageId, 'delete-message', async ({ locked, repo, tx }) => {
      const old = locked.row;
      if (old.deletedAt) return { row: old, changed: false };
      const files = old.hasMedia ? await this.media.erase(tx, old.id) : [];
      await repo.eraseTraces(old.id);
      const set: ChangeSet = {
        content: '',
        mentions: [],
        searchDoc: '',
        reactions: [],
        hasMedia: false,
        editedAt: null,
        pinnedAt: null,
        pinnedBy: null,
        deletedAt: 'now',
        deletedBy: auth.userId,
      };
      const applied = await repo.apply(old, set, old.pinnedAt ? -1 : 0);
      if (!applied) throw notFound('Message');
      await this.eventLog.append(tx, [
        { type: 'message.deleted', roomId: old.roomId, payload: { messageId: old.id, roomId: old.roomId, seq: old.seq } },
      ]);
      return { row: afterChange(old, set, applied), changed: true, extra: files };
    });
    if (extra?.length) await this.media.purge(extra);
    if (changed) {
      this.bus.publish('message.deleted', {
        chatRoomId: row.roomId,
        id: row.id,
        seq: row.seq,
        changeSeq: row.changeSeq,
        deletedAt: row.deletedAt!.toISOString(),
        deletedBy: row.deletedBy!,
      });
    }
    return this.presenter.one(row);
  }

  /** Earlier versions, newest first; a deleted message has none. */
  async versions(auth: AuthContext, messageId: string): Promise<EditsPageView> {
    const row = isId(messageId) ? await this.messages.findById(messageId) : undefined;
    if (!row) throw notFound('Message');
    await this.guard.reader(auth, row.roomId);
    const versions = row.deletedAt ? [] : await this.repo.versions(row.id);
    return { data: versions.map((v) => ({ content: v.content, mentions: v.mentions, editedAt: v.editedAt.toISOString() })) };
  }

  /** The change log: the current state of every message changed after `after`, ascending changeSeq, from one snapshot. */
  async changes(auth: AuthContext, roomId: string, q: ChangesInput): Promise<ChangesPageView> {
    const { room } = await this.guard.reader(auth, roomId);
    const limit = q.limit ?? 100;
    const found = await this.repo.changesAfter(room.id, q.after ?? 0, limit + 1);
    if (!found) throw notFound('Room');
    const page = found.rows.slice(0, limit);
    return {
      data: await this.presenter.present(page, auth.userId),
      lastChangeSeq: found.lastChangeSeq,
      hasMore: found.rows.length > limit,
    };
  }
}
