import type { AuthContext } from '../auth/tokens.js';
import { isUniqueViolation, type Db } from '../db/client.js';
import { AppError, notFound, invalid } from '../errors.js';
import type { EventBus } from '../events.js';
import { isId, newId } from '../ids.js';
import { type RoomAccessGuard } from '../rooms/rooms.access.js';
import type { RoomsRepository } from '../rooms/rooms.repository.js';
import { documentVector } from '../search/tokenize.js';
import type { MediaRow } from '../media/media.repository.js';
import type { MediaService } from '../media/media.service.js';
import { GroupCommit } from './messages.group-commit.js';
import type { MessagePresenter } from './messages.mapper.js';
import type { MessagesRepository, NewMessage } from './messages.repository.js';
import { REPLY_PREVIEW_CODE_POINTS, type HistoryInput, type MessageView, type SendMessageInput } from './messages.schemas.js';

export interface HistoryPage {
  data: MessageView[];
  hasMore: boolean;
  hasOlder: boolean;
  hasNewer: boolean;
}

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
  ) {
    this.commits = new GroupCommit(messages);
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
      return { message: await this.create(auth, room?.id ?? roomId, input, clientMessageId), created: true };
    } catch (err) {
      // Retries are rare, so they are not looked up before every send: a retry of a stored clientMessageId fails on
      // the unique index (or, past the room check, on a check that no longer passes, such as its media being claimed
      // already) and is answered with the stored message.
      if (clientMessageId !== null && (isUniqueViolation(err, 'chat_message_client_id_uq') || (room && err instanceof AppError))) {
        const existing = await this.messages.findByClientId(roomId, auth.userId, clientMessageId);
        if (existing) return { message: await this.presenter.one(existing), created: false };
      }
      throw err;
    }
  }

  private async create(auth: AuthContext, roomId: string, input: SendMessageInput, clientMessageId: string | null): Promise<MessageView> {
    const content = input.content;
    const mediaIds = input.mediaIds ?? [];
    if (mediaIds.length === 0 && content.trim() === '') throw invalid('content must not be empty', '/content');
    // Checked before anything is written; claimed inside the transaction below.
    const pending = mediaIds.length ? await this.media.pending(auth, roomId, mediaIds) : [];

    const mentions = [...new Set(input.mentions ?? [])];
    if (mentions.length) {
      const present = await this.rooms.whichAreParticipants(roomId, mentions);
      const strangers = mentions.filter((m) => !present.has(m));
      if (strangers.length) throw invalid(`mentions must name participants of the room: ${strangers.join(', ')}`, '/mentions');
    }
    let replyTo: MessageView['replyTo'] = null;
    if (input.replyToId != null) {
      const target = isId(input.replyToId) ? await this.messages.findById(input.replyToId) : undefined;
      if (!target || target.roomId !== roomId) throw invalid('replyToId must name a message of the same room', '/replyToId');
      replyTo = {
        id: target.id,
        seq: target.seq,
        senderId: target.senderId,
        type: target.type,
        content: [...target.content].slice(0, REPLY_PREVIEW_CODE_POINTS).join(''),
      };
    }
    const type = this.media.messageType(pending);
    const row: NewMessage = {
      id: newId(),
      roomId,
      senderId: auth.userId,
      type,
      content,
      mentions,
      replyToSeq: replyTo?.seq ?? null,
      clientMessageId,
      hasMedia: pending.length > 0,
      searchDoc: documentVector(content),
    };
    // Text messages are written by group commit; files are claimed in the same transaction as their message.
    const stored = pending.length
      ? await this.db.transaction(async (tx) => {
          const inserted = await this.messages.with(tx).insertNext(row);
          return inserted && { ...inserted, media: await this.media.claim(tx, auth, roomId, mediaIds, row.id) };
        })
      : await this.commits.insert(row).then((inserted) => inserted && { ...inserted, media: [] as MediaRow[] });
    // Gone, or the sender is not (or no longer) in it.
    if (!stored) throw notFound('Room');
    // Everything is known: no read-back of the row just written.
    const message: MessageView = {
      id: row.id,
      chatRoomId: roomId,
      seq: stored.seq,
      senderId: auth.userId,
      type,
      content,
      mentions,
      replyToId: replyTo?.id ?? null,
      replyTo,
      media: stored.media.length ? await this.media.views(stored.media) : [],
      clientMessageId,
      createdAt: stored.createdAt.toISOString(),
      editedAt: null,
      deletedAt: null,
    };
    this.bus.publish('message.created', { message, roomType: stored.roomType });
    return message;
  }

  /** Keyset pages by seq: the latest, before/after a seq, or around a message. Data is always ascending. */
  async history(auth: AuthContext, roomId: string, q: HistoryInput): Promise<HistoryPage> {
    const { room } = await this.guard.reader(auth, roomId);
    const limit = q.limit ?? 50;
    const given = [q.before, q.after, q.around].filter((v) => v !== undefined).length;
    if (given > 1) throw invalid('use only one of before, after and around');
    const top = room.lastSeq;

    if (q.after !== undefined) {
      const rows = await this.messages.newer(room.id, q.after, limit + 1);
      const page = rows.slice(0, limit);
      const hasNewer = rows.length > limit;
      return { data: await this.presenter.present(page), hasMore: hasNewer, hasOlder: Math.min(q.after, top) >= 1, hasNewer };
    }
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
      return { data: await this.presenter.present(data), hasMore: hasOlder || hasNewer, hasOlder, hasNewer };
    }
    const rows = await this.messages.older(room.id, q.before, limit + 1);
    const page = rows.slice(0, limit).reverse();
    const hasOlder = rows.length > limit;
    const newest = page[page.length - 1]?.seq ?? (q.before !== undefined ? q.before - 1 : top);
    return { data: await this.presenter.present(page), hasMore: hasOlder, hasOlder, hasNewer: newest < top };
  }
}
