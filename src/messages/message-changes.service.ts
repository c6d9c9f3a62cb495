import { SharedRead } from '../batch-loader.js';
import type { ReadRouting } from '../db/replicas.js';
import type { AuthContext } from '../auth/tokens.js';
import type { Db, Executor, Tx } from '../db/client.js';
import { AppError, invalid, notFound } from '../errors.js';
import type { EventLogRepository } from '../event-log/event-log.repository.js';
import type { EventBus } from '../events.js';
import { isId } from '../ids.js';
import type { MediaService } from '../media/media.service.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import { actorOf, authorize, type RoomAction } from '../rooms/rooms.policy.js';
import { documentVector } from '../text/tokenize.js';
import type { ChangesInput, ChangesPageView, EditMessageInput, EditsPageView, MessageView } from '../contract/messages.js';
import type {
  Applied,
  ChangeSet,
  LockedMessage,
  MessageChangesRepository,
  TombstoneFilter,
  TombstoneRow,
} from './message-changes.repository.js';
import { tombstoneSet } from './message-changes.repository.js';
import { deleteInOneStatement, editInOneStatement } from './message-changes.statement.js';
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

const editSet = (content: string, searchDoc: string, mentions: string[]) =>
  ({ content, mentions, searchDoc, editedAt: 'now' }) satisfies ChangeSet;

/** Who an edit mentions for the first time (never the sender), in the edit's order. */
function newMentionsOf(old: MessageRow, mentions: string[]): string[] {
  const before = new Set(old.mentions);
  return mentions.filter((m) => !before.has(m) && m !== old.senderId);
}

/** Throws FORBIDDEN when `userId` may not write in the direct room `roomId` (a block either way); read on `db`. */
export type DirectWriteCheck = (db: Executor, roomId: string, userId: string) => Promise<void>;

/** What one batch of tombstones did; `announceTombstones` tells it after the commit. */
export interface TombstoneBatch {
  roomId: string;
  deletedBy: string;
  /** In changeSeq order (one contiguous range). */
  rows: TombstoneRow[];
  deletedAt: Date | null;
  /** The room's last_change_seq after the batch; undefined when nothing was left to delete (nothing was locked). */
  lastChangeSeq: number | undefined;
  /** Stored objects to remove once committed. */
  files: string[];
}

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
    private readonly replicas: Pick<ReadRouting, 'forRoom' | 'replicated'>,
    /** Throws when a block stands between the writer and the other participant of this direct room (moderation/). */
    private readonly directWrite: DirectWriteCheck = async () => {},
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
      // A block refuses writes in a direct room (edits, reactions, pins); taking one's own words back stays possible.
      if (locked.room.type === 'direct' && action !== 'delete-message') await this.directWrite(tx, locked.room.id, auth.userId);
      return { ...(await body({ locked, repo, tx })), locked };
    });
  }

  /** One message, for clients that jump to it (a notification, a link). */
  async get(auth: AuthContext, messageId: string): Promise<MessageView> {
    const row = isId(messageId) ? await this.messages.findById(messageId) : undefined;
    if (!row) throw notFound('Message');
    await this.guard.messageReader(auth, row.roomId);
    return this.presenter.one(row, auth.userId);
  }

  async edit(auth: AuthContext, messageId: string, input: EditMessageInput): Promise<MessageView> {
    const mentions = input.mentions === undefined ? undefined : [...new Set(input.mentions)];
    const searchDoc = documentVector(input.content);
    // The usual edit (its sender, within the window, nothing to refuse) is one statement; anything else the path below.
    if (isId(messageId) && input.content.trim() !== '') {
      const notBefore = this.editWindowS > 0 ? new Date(Date.now() - this.editWindowS * 1000) : null;
      const done = await editInOneStatement(this.db, messageId, auth.userId, { content: input.content, searchDoc, mentions, notBefore });
      if (done) {
        const set = editSet(input.content, searchDoc, mentions ?? done.before.mentions);
        const row = afterChange(done.before, set, done.applied);
        return this.updated(row, true, done.ownEmoji, newMentionsOf(done.before, set.mentions));
      }
    }
    const { row, changed, extra, locked } = await this.change(auth, messageId, 'edit-message', async ({ locked, repo, tx }) => {
      const old = locked.row;
      if (old.deletedAt) throw deletedMessage();
      if (this.editWindowS > 0 && Date.now() - old.createdAt.getTime() > this.editWindowS * 1000) {
        throw new AppError('FORBIDDEN', `messages can be edited for ${this.editWindowS} s after sending`);
      }
      if (input.content.trim() === '' && !old.hasMedia) throw invalid('content must not be empty', '/content');
      // Kept mentions are not checked again: someone mentioned who left since stays mentioned, as in the text.
      if (mentions !== undefined) await checkMentions(this.rooms.with(tx), old.roomId, mentions);
      await repo.keepVersion(old);
      const set = editSet(input.content, searchDoc, mentions ?? old.mentions);
      const applied = await repo.apply(old, set);
      if (!applied) throw deletedMessage();
      const newMentions = newMentionsOf(old, set.mentions);
      // Every edit is logged (webhooks send each as message.updated); one that mentions someone new as message.edited,
      // which the notifications also read, the others as message.revised, which only webhooks do. (EDIT logs the same.)
      await this.eventLog.append(tx, [
        {
          type: newMentions.length ? 'message.edited' : 'message.revised',
          roomId: old.roomId,
          payload: { messageId: old.id, roomId: old.roomId, senderId: old.senderId, roomType: locked.room.type, newMentions },
        },
      ]);
      return { row: afterChange(old, set, applied), changed: true, extra: newMentions };
    });
    return this.updated(row, changed, locked.ownEmoji, extra ?? []);
  }

  /**
   * After an edit, a pin or an unpin: message_updated (when something changed) with the message as everyone sees it,
   * and the caller's answer with their own reactions marked.
   */
  async updated(row: MessageRow, changed: boolean, ownEmoji: string[], newMentions: string[] = []): Promise<MessageView> {
    const message = await this.presenter.one(row);
    if (changed) this.bus.publish('message.updated', { message, newMentions });
    return row.reactions.length ? this.presenter.withOwn(row, ownEmoji) : message;
  }

  /**
   * Deletes for everyone: the row stays as a tombstone (seq stays dense, replies keep their parent) and everything
   * else goes in the same transaction — content, mentions, reactions, pin, earlier versions, search words; the files
   * are listed for removal there too, and removed before the answer (a failed removal is retried by the media sweeper,
   * whose list the file route consults meanwhile). Deleting a tombstone changes nothing.
   */
  async delete(auth: AuthContext, messageId: string): Promise<MessageView> {
    // The usual delete (its sender, no files) is one statement; anything else the path below.
    const done = isId(messageId) ? await deleteInOneStatement(this.db, messageId, auth.userId) : undefined;
    if (done) return this.deleted(afterChange(done.before, tombstoneSet(auth.userId), done.applied), true);
    const { row, changed, extra } = await this.change(auth, messageId, 'delete-message', async ({ locked, repo, tx }) => {
      const old = locked.row;
      if (old.deletedAt) return { row: old, changed: false };
      const files = old.hasMedia ? await this.media.erase(tx, old.id) : [];
      await repo.eraseTraces(old.id);
      const set: ChangeSet = tombstoneSet(auth.userId);
      const applied = await repo.apply(old, set, old.pinnedAt ? -1 : 0);
      if (!applied) throw notFound('Message');
      await this.eventLog.append(tx, [
        { type: 'message.deleted', roomId: old.roomId, payload: { messageId: old.id, roomId: old.roomId, seq: old.seq } },
      ]);
      return { row: afterChange(old, set, applied), changed: true, extra: files };
    });
    if (extra?.length) await this.media.purge(extra);
    return this.deleted(row, changed);
  }

  /** After a delete: message_deleted (when it was not a tombstone already), and the tombstone as the answer. */
  private deleted(row: MessageRow, changed: boolean): Promise<MessageView> {
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

  /**
   * Deletes for everyone many messages of one room at once (a purge, an erase, retention), inside the caller's
   * transaction: as `delete` does for one, but their change_seqs are one contiguous range taken under one room lock,
   * and nothing is asked of the policy (the callers are admins or the system). At most `limit` messages, lowest seq
   * first; call `announceTombstones` after the commit.
   */
  async tombstoneIn(tx: Tx, roomId: string, filter: TombstoneFilter, deletedBy: string, limit: number): Promise<TombstoneBatch> {
    const repo = this.repo.with(tx);
    const live = await repo.lockLive(roomId, filter, limit);
    if (live.length === 0) return { roomId, deletedBy, rows: [], deletedAt: null, lastChangeSeq: undefined, files: [] };
    const files: string[] = [];
    for (const m of live) if (m.hasMedia) files.push(...(await this.media.erase(tx, m.id)));
    const { rows, at, lastChangeSeq } = await repo.tombstone(roomId, live, deletedBy);
    await this.eventLog.append(
      tx,
      rows.map((r) => ({ type: 'message.deleted', roomId, payload: { messageId: r.id, roomId, seq: r.seq } })),
    );
    return { roomId, deletedBy, rows, deletedAt: at, lastChangeSeq, files };
  }

  /** `tombstoneIn` in its own transaction, with whatever `within` writes in it too (a job's progress), then announced. */
  async tombstoneMany(
    roomId: string,
    filter: TombstoneFilter,
    deletedBy: string,
    limit: number,
    within?: (tx: Tx, batch: TombstoneBatch) => Promise<void>,
  ): Promise<TombstoneBatch> {
    const batch = await this.db.transaction(async (tx) => {
      const done = await this.tombstoneIn(tx, roomId, filter, deletedBy, limit);
      await within?.(tx, done);
      return done;
    });
    await this.announceTombstones(batch);
    return batch;
  }

  /** After the commit: the files go, and live clients get the same message_deleted as for a single delete, in changeSeq order. */
  async announceTombstones(batch: TombstoneBatch): Promise<void> {
    if (batch.files.length) await this.media.purge(batch.files);
    const deletedAt = batch.deletedAt?.toISOString();
    if (!deletedAt) return;
    for (const r of batch.rows) {
      this.bus.publish('message.deleted', {
        chatRoomId: batch.roomId,
        id: r.id,
        seq: r.seq,
        changeSeq: r.changeSeq,
        deletedAt,
        deletedBy: batch.deletedBy,
      });
    }
  }

  /** Earlier versions, newest first; a deleted message has none. */
  async versions(auth: AuthContext, messageId: string): Promise<EditsPageView> {
    const row = isId(messageId) ? await this.messages.findById(messageId) : undefined;
    if (!row) throw notFound('Message');
    await this.guard.messageReader(auth, row.roomId);
    const versions = row.deletedAt ? [] : await this.repo.versions(row.id);
    return { data: versions.map((v) => ({ content: v.content, mentions: v.mentions, editedAt: v.editedAt.toISOString() })) };
  }

  /** The change log: the current state of every message changed after `after`, ascending changeSeq, from one snapshot. */
  async changes(auth: AuthContext, roomId: string, q: ChangesInput): Promise<ChangesPageView> {
    const { room } = await this.guard.reader(auth, roomId);
    const at: PageKey = { roomId: room.id, after: q.after ?? 0, limit: q.limit ?? 100 };
    // With replicas each read goes where the caller's own writes are (a shared read would go to the primary).
    const page = this.replicas.replicated
      ? await this.replicas.forRoom(auth.userId, room, () => this.readPage(at))
      : await this.pages.get(pageKey(at), () => this.readPage(at));
    if (!page) throw notFound('Room');
    return { ...page, data: await this.presenter.forViewer(page.data, auth.userId) };
  }

  /**
   * Clients that reconnect together (a deploy, an outage) ask for the same pages of the same busy room within
   * milliseconds: one read and one presentation answer all the asks for a page that arrive while its read before is
   * under way (SharedRead: a read starts after every ask it answers arrived, so each caller sees their own writes;
   * other pages do not wait). The pages are built for no viewer; forViewer adds each caller's own reactions.
   */
  private readonly pages = new SharedRead<string, ChangesPageView | undefined>();

  private async readPage({ roomId, after, limit }: PageKey): Promise<ChangesPageView | undefined> {
    const found = await this.repo.changesAfter(roomId, after, limit + 1);
    if (!found) return undefined;
    return {
      data: await this.presenter.present(found.rows.slice(0, limit)),
      lastChangeSeq: found.lastChangeSeq,
      hasMore: found.rows.length > limit,
    };
  }
}

interface PageKey {
  roomId: string;
  after: number;
  limit: number;
}
const pageKey = ({ roomId, after, limit }: PageKey): string => `${roomId} ${after} ${limit}`;
