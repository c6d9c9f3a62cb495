import { SharedRead } from '../batch-loader.js';
import type { ReadRouting } from '../db/replicas.js';
import type { AuthContext } from '../auth/tokens.js';
import { isUniqueViolation, type Db } from '../db/client.js';
import { AppError, notFound, invalid } from '../errors.js';
import type { EventBus } from '../events.js';
import { isId, newId } from '../ids.js';
import type { WindowGate } from '../limits/window-gate.js';
import { type RoomAccessGuard } from '../rooms/rooms.access.js';
import { actorOf, can } from '../rooms/rooms.policy.js';
import type { RoomRow, RoomsRepository } from '../rooms/rooms.repository.js';
import { documentVector } from '../text/tokenize.js';
import type { MediaRow } from '../media/media.repository.js';
import type { MediaService } from '../media/media.service.js';
import type { DirectWriteCheck } from './message-changes.service.js';
import { GroupCommit } from './messages.group-commit.js';
import type { MessagePresenter } from './messages.presenter.js';
import { RETRIED, type MessageRow, type MessagesRepository, type StoredMessage } from './messages.repository.js';
import type { NewMessage } from './write.statements.js';
import type { HistoryInput, MessageView, SendMessageInput } from '../contract/messages.js';

/** The row a read would return for a message just written, from what the write path knows. */
function writtenRow(row: NewMessage, stored: StoredMessage, parent: MessageRow | undefined): MessageRow {
  return {
    id: row.id,
    roomId: row.roomId,
    seq: stored.seq,
    senderId: row.senderId,
    type: row.type,
    content: row.content,
    mentions: row.mentions,
    clientMessageId: row.clientMessageId,
    hasMedia: row.hasMedia,
    createdAt: stored.createdAt,
    editedAt: null,
    deletedAt: null,
    deletedBy: null,
    changeSeq: stored.changeSeq,
    pinnedAt: null,
    pinnedBy: null,
    reactions: [],
    replyId: parent?.id ?? null,
    replySeq: parent?.seq ?? null,
    replySenderId: parent?.senderId ?? null,
    replyType: parent?.type ?? null,
    replyDeletedAt: parent?.deletedAt ?? null,
    replyContent: parent?.content ?? null,
  };
}

/** Mentions name participants of the room only, on send and on edit (`rooms` may be bound to a transaction). */
export async function checkMentions(rooms: RoomsRepository, roomId: string, mentions: string[]): Promise<void> {
  if (mentions.length === 0) return;
  const present = await rooms.whichAreParticipants(roomId, mentions);
  const strangers = mentions.filter((m) => !present.has(m));
  if (strangers.length) throw invalid(`mentions must name participants of the room: ${strangers.join(', ')}`, '/mentions');
}

/** What a send checks on its rare path only, injected by app.ts: blocks (moderation/) and slow mode's shared windows. */
export interface SendGates {
  directWrite: DirectWriteCheck;
  slowMode: WindowGate;
}

export interface HistoryPage {
  data: MessageView[];
  hasMore: boolean;
  hasOlder: boolean;
  hasNewer: boolean;
}

/** How many of before, after and around a history request gives: at most one. */
const given = (q: HistoryInput) => [q.before, q.after, q.around].filter((v) => v !== undefined).length;

export class MessagesService {
  private readonly commits: GroupCommit;

  constructor(
    private readonly db: Db,
    private readonly messages: MessagesRepository,
    private readonly rooms: RoomsRepository,
    private readonly guard: RoomAccessGuard,
    private readonly bus: EventBus,
    private readonly media: MediaService,
    private readonly presenter: MessagePresenter,
    private readonly gates: SendGates,
    private readonly replicas: Pick<ReadRouting, 'forRoom' | 'replicated'>,
    /** Group-commit writers with a statement in flight at once, rooms spread over them. */
    writeLanes = 1,
  ) {
    this.commits = new GroupCommit(messages, { lanes: writeLanes });
  }

  /**
   * The write path. Returns `created: false` with the stored message when the sender retries a clientMessageId.
   * The event is published after commit, so nobody hears of a message that was not stored.
   */
  async send(auth: AuthContext, roomId: string, input: SendMessageInput): Promise<{ message: MessageView; created: boolean }> {
    const clientMessageId = input.clientMessageId ?? null;
    // Plain text needs nothing read before it is written: the statement that writes it is the access check (only a
    // participant's message is written), which saves the busiest call a round trip. Anything else is checked first.
    const plain = !input.mediaIds?.length && !input.mentions?.length && input.replyToId == null && input.content.trim() !== '';
    if (plain && !isId(roomId)) throw notFound('Room');
    const room = plain ? undefined : (await this.guard.member(auth, roomId)).room;
    try {
      const message = await this.create(auth, room?.id ?? roomId, input, clientMessageId);
      if (message !== RETRIED) return { message, created: true };
    } catch (err) {
      // Retries are not looked up before a send: the statement that writes it finds a stored clientMessageId (RETRIED),
      // or a retry fails on the unique index (sent twice at once), or, past the room check, on a check that no longer
      // passes (its media claimed already); so is a retry refused by slow mode (its window started with the stored
      // message) or by a block since. Each is answered with the stored message.
      const refused = err instanceof AppError && (room !== undefined || err.code === 'RATE_LIMITED' || err.code === 'FORBIDDEN');
      const existing =
        clientMessageId !== null && (isUniqueViolation(err, 'chat_message_client_id_uq') || refused)
          ? await this.stored(auth, roomId, clientMessageId)
          : undefined;
      if (existing) return existing;
      throw err;
    }
    const existing = await this.stored(auth, roomId, clientMessageId!);
    if (!existing) throw new Error('a retried clientMessageId is not stored');
    return existing;
  }

  /** The message `auth` stored in the room under `clientMessageId`, as a retry of it is answered. */
  private async stored(auth: AuthContext, roomId: string, clientMessageId: string) {
    const existing = await this.messages.findByClientId(roomId, auth.userId, clientMessageId);
    return existing && { message: await this.presenter.one(existing, auth.userId), created: false };
  }

  private async create(
    auth: AuthContext,
    roomId: string,
    input: SendMessageInput,
    clientMessageId: string | null,
  ): Promise<MessageView | typeof RETRIED> {
    const content = input.content;
    const mediaIds = input.mediaIds ?? [];
    if (mediaIds.length === 0 && content.trim() === '') throw invalid('content must not be empty', '/content');
    // Checked before anything is written; claimed inside the transaction below.
    const pending = mediaIds.length ? await this.media.pending(auth, roomId, mediaIds) : [];
    const mentions = [...new Set(input.mentions ?? [])];
    await checkMentions(this.rooms, roomId, mentions);
    const parent = input.replyToId == null ? undefined : await this.replyTarget(roomId, input.replyToId);
    const row: NewMessage = {
      id: newId(),
      roomId,
      senderId: auth.userId,
      type: this.media.messageType(pending),
      content,
      mentions,
      replyToSeq: parent?.seq ?? null,
      clientMessageId,
      hasMedia: pending.length > 0,
      searchDoc: documentVector(content),
    };
    let stored = await this.insert(auth, row, mediaIds, pending.length > 0);
    if (stored === RETRIED) return RETRIED;
    if (!stored) {
      // Not written: the room is gone or the sender not in it, a block stands in a direct room, or the room is in slow
      // mode. Rare, so only now is anything read to tell which; a send that passes slow mode is written again.
      const release = await this.refusal(auth, roomId);
      try {
        stored = await this.insert(auth, { ...row, slowChecked: true }, mediaIds, pending.length > 0);
      } catch (err) {
        await release?.();
        throw err;
      }
      if (!stored || stored === RETRIED) await release?.();
      if (stored === RETRIED) return RETRIED;
      if (!stored) throw notFound('Room');
    }
    // Everything is known: no read-back of the row just written.
    const message = await this.presenter.written(writtenRow(row, stored, parent), stored.media);
    this.bus.publish('message.created', { message, roomType: stored.roomType });
    // The recipients have it; the sender is answered once their own message no longer counts as unread for them.
    if (stored.readHeld) await this.messages.moveSenderRead(row.roomId, row.senderId, stored.seq);
    return message;
  }

  /** Text messages are written by group commit; files are claimed in the same transaction as their message. */
  private async insert(auth: AuthContext, row: NewMessage, mediaIds: string[], withMedia: boolean) {
    if (!withMedia) {
      return this.commits
        .insert(row)
        .then((inserted) => (inserted && inserted !== RETRIED ? { ...inserted, media: [] as MediaRow[] } : inserted));
    }
    return this.db.transaction(async (tx) => {
      const inserted = await this.messages.with(tx).insertNext(row);
      // A retry claims nothing: its files went with the message stored the first time.
      if (!inserted || inserted === RETRIED) return inserted;
      return { ...inserted, media: await this.media.claim(tx, auth, row.roomId, mediaIds, row.id) };
    });
  }

  /**
   * Why a send was not written, thrown as the caller is told (404 not in the room, 403 a block, 429 slow mode); when
   * nothing refuses it (any more), the slow-mode window it took, for giving back should the write fail.
   */
  private async refusal(auth: AuthContext, roomId: string): Promise<(() => Promise<void>) | undefined> {
    const { room, participant } = await this.guard.member(auth, roomId);
    if (room.type === 'direct') await this.gates.directWrite(this.db, room.id, auth.userId);
    if (room.slowModeS === 0 || can(actorOf(auth, participant), 'exempt-slow-mode', room)) return undefined;
    // The window's length is in the key: a changed slow mode starts afresh rather than keeping the old waits.
    const key = `slow:${room.id}:${room.slowModeS}:${auth.userId}`;
    const leftMs = await this.gates.slowMode.take(key, room.slowModeS * 1000);
    if (leftMs > 0) {
      const retryAfter = Math.max(1, Math.ceil(leftMs / 1000));
      throw new AppError('RATE_LIMITED', `slow mode: one message every ${room.slowModeS} s; retry in ${retryAfter} s`, { retryAfter });
    }
    return () => this.gates.slowMode.release(key);
  }

  private async replyTarget(roomId: string, replyToId: string): Promise<MessageRow> {
    const target = isId(replyToId) ? await this.messages.findById(replyToId) : undefined;
    if (!target || target.roomId !== roomId) throw invalid('replyToId must name a message of the same room', '/replyToId');
    return target;
  }

  /**
   * The last message of each room that has one, keyed by room id. For room lists (the rooms module calls it through
   * an injected function); no access check: callers pass rooms the reader was already checked in.
   */
  async lastMessages(roomIds: string[], viewerId?: string): Promise<Map<string, MessageView>> {
    const views = await this.presenter.present(await this.messages.lastOf(roomIds), viewerId);
    return new Map(views.map((v) => [v.chatRoomId, v]));
  }

  /**
   * Messages by id as clients see them, keyed by id; unknown ids are absent. For readers that hold ids (the
   * notification previews of the event log); no access check: callers hold ids of messages they were told of.
   */
  async viewsByIds(ids: string[]): Promise<Map<string, MessageView>> {
    const views = await this.presenter.present(await this.messages.findByIds([...new Set(ids)].filter(isId)));
    return new Map(views.map((v) => [v.id, v]));
  }

  /**
   * What a recovered socket missed in a room: afterSeq < seq <= upToSeq, oldest first, at most `limit`. No access
   * check: realtime replays only the rooms the socket is in.
   */
  async missedSince(roomId: string, afterSeq: number, upToSeq: number, limit: number): Promise<MessageView[]> {
    const rows = await this.messages.newer(roomId, afterSeq, limit);
    return this.presenter.present(rows.filter((r) => r.seq <= upToSeq));
  }

  /** Keyset pages by seq: the latest, before/after a seq, or around a message. Data is always ascending. */
  async history(auth: AuthContext, roomId: string, q: HistoryInput): Promise<HistoryPage> {
    const limit = q.limit ?? 50;
    if (!this.replicas.replicated && q.around === undefined && given(q) <= 1 && isId(roomId)) {
      // Without read replicas the page's read goes out with the room check, on another connection: a page costs one
      // round trip instead of two. It is presented only once the check has passed, and its failure is told after the
      // check's (a room the caller cannot read stays a 404 whatever else went wrong).
      const rows = this.sharedRows(roomId, q, limit);
      rows.catch(() => {});
      const { room } = await this.guard.reader(auth, roomId);
      return this.pageOf(auth, room, q, limit, await rows);
    }
    const { room } = await this.guard.reader(auth, roomId);
    return this.replicas.forRoom(auth.userId, room, () => this.page(auth, room, q, limit));
  }

  /**
   * Clients that come back together (a deploy, an outage) ask for the same page of a room within milliseconds: the
   * asks for a page that arrive while its read is under way share the next read (SharedRead: a read begins after
   * every ask it answers arrived, so each caller sees their own writes). Each caller's access is still checked, and
   * the rows are presented for each caller (their own reactions); only the read is shared. Without read replicas only:
   * with them each read goes where the caller's own writes are.
   */
  private readonly pageRows = new SharedRead<string, MessageRow[]>();

  private sharedRows(roomId: string, q: HistoryInput, limit: number): Promise<MessageRow[]> {
    const { after, before } = q;
    return after !== undefined
      ? this.pageRows.get(`${roomId} >${after} ${limit}`, () => this.messages.newer(roomId, after, limit + 1))
      : this.pageRows.get(`${roomId} <${before ?? ''} ${limit}`, () => this.messages.older(roomId, before, limit + 1));
  }

  private async page(auth: AuthContext, room: RoomRow, q: HistoryInput, limit: number): Promise<HistoryPage> {
    if (given(q) > 1) throw invalid('use only one of before, after and around');
    if (q.around !== undefined) {
      const target = isId(q.around) ? await this.messages.locate(q.around) : undefined;
      if (!target || target.roomId !== room.id) throw notFound('Message');
      // Centred on the target; near either end the other side fills the page, so a jump shows `limit` messages.
      const [older, newer] = await Promise.all([
        this.messages.older(room.id, target.seq, limit),
        this.messages.newer(room.id, target.seq, limit + 1, true),
      ]);
      let olderCount = Math.floor((limit - 1) / 2);
      let newerCount = limit - olderCount;
      if (older.length < olderCount) [olderCount, newerCount] = [older.length, limit - older.length];
      else if (newer.length < newerCount) [olderCount, newerCount] = [Math.min(older.length, limit - newer.length), newer.length];
      const hasOlder = older.length > olderCount;
      const hasNewer = newer.length > newerCount;
      const data = [...older.slice(0, olderCount).reverse(), ...newer.slice(0, newerCount)];
      return { data: await this.presenter.present(data, auth.userId), hasMore: hasOlder || hasNewer, hasOlder, hasNewer };
    }
    const rows =
      q.after !== undefined
        ? await this.messages.newer(room.id, q.after, limit + 1)
        : await this.messages.older(room.id, q.before, limit + 1);
    return this.pageOf(auth, room, q, limit, rows);
  }

  /** The page after `q.after`, or before `q.before` (the latest without either), from the `limit + 1` rows read for it. */
  private async pageOf(auth: AuthContext, room: RoomRow, q: HistoryInput, limit: number, rows: MessageRow[]): Promise<HistoryPage> {
    const top = room.lastSeq;
    if (q.after !== undefined) {
      const page = rows.slice(0, limit);
      const hasNewer = rows.length > limit;
      return { data: await this.presenter.present(page, auth.userId), hasMore: hasNewer, hasOlder: Math.min(q.after, top) >= 1, hasNewer };
    }
    const page = rows.slice(0, limit).reverse();
    const hasOlder = rows.length > limit;
    const newest = page[page.length - 1]?.seq ?? (q.before !== undefined ? q.before - 1 : top);
    return { data: await this.presenter.present(page, auth.userId), hasMore: hasOlder, hasOlder, hasNewer: newest < top };
  }
}
