import type { MediaRow, MediaService, MediaView } from '../media/index.js';
import type { MessageRow } from './messages.repository.js';
import { REPLY_PREVIEW_CODE_POINTS, type MessageKind, type MessageView } from '../contract/messages.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** Reads cut the preview in SQL already; a row built by the write path carries the whole parent, cut here. */
const replyPreview = (text: string): string =>
  text.length <= REPLY_PREVIEW_CODE_POINTS ? text : [...text].slice(0, REPLY_PREVIEW_CODE_POINTS).join('');

/** The one function that turns a row into what clients see: a rule on what a message shows belongs here. */
function toView(row: MessageRow, media: MediaView[], mine: ReadonlySet<string> | undefined): MessageView {
  return {
    id: row.id,
    chatRoomId: row.roomId,
    seq: row.seq,
    senderId: row.senderId,
    // The column is text; only the service writes it, always one of the contract's kinds.
    type: row.type as MessageKind,
    content: row.content,
    mentions: row.mentions,
    replyToId: row.replyId,
    replyTo:
      row.replyId === null
        ? null
        : {
            id: row.replyId,
            seq: row.replySeq!,
            senderId: row.replySenderId!,
            type: row.replyType as MessageKind,
            content: replyPreview(row.replyContent ?? ''),
            deletedAt: iso(row.replyDeletedAt),
          },
    media,
    clientMessageId: row.clientMessageId,
    createdAt: row.createdAt.toISOString(),
    editedAt: iso(row.editedAt),
    deletedAt: iso(row.deletedAt),
    deletedBy: row.deletedBy,
    changeSeq: row.changeSeq,
    pinnedAt: iso(row.pinnedAt),
    pinnedBy: row.pinnedBy,
    reactions: row.reactions.map((r) => ({ emoji: r.emoji, count: r.count, me: mine?.has(reactionKey(row.id, r.emoji)) ?? false })),
  };
}

/** How a viewer's own reactions are keyed: message id and emoji. */
export const reactionKey = (messageId: string, emoji: string): string => `${messageId}\n${emoji}`;

/** The reactions `userId` made among these messages, as reactionKey()s (provided by the reactions module). */
export type OwnReactions = (userId: string, messageIds: string[]) => Promise<Set<string>>;

/**
 * Messages as clients see them, media included: each read mints fresh signed URLs, one query for the whole page.
 * Every Message that leaves the service is built here (sends, history, room lists, search, replay, and through the
 * message.created event notifications too), so what a message shows is decided once for all of them.
 */
export class MessagePresenter {
  constructor(
    private readonly media: Pick<MediaService, 'viewsFor' | 'views'>,
    private readonly ownReactions: OwnReactions,
  ) {}

  /**
   * `viewerId`: whose `reactions[].me` to fill in (REST answers); without one every `me` is false (broadcasts, which
   * many users share). Messages nobody reacted to cost nothing more.
   */
  async present(rows: MessageRow[], viewerId?: string): Promise<MessageView[]> {
    const withMedia = rows.filter((r) => r.hasMedia).map((r) => r.id);
    const reacted = viewerId === undefined ? [] : rows.filter((r) => r.reactions.length > 0).map((r) => r.id);
    const [media, mine] = await Promise.all([
      withMedia.length ? this.media.viewsFor(withMedia) : new Map<string, MediaView[]>(),
      reacted.length ? this.ownReactions(viewerId!, reacted) : undefined,
    ]);
    return rows.map((row) => toView(row, media.get(row.id) ?? [], mine));
  }

  /**
   * Views built for no viewer (shared by many callers), with `reactions[].me` filled in for `viewerId`: one lookup for
   * the page, and new objects only for the messages someone reacted to (the shared ones are never changed).
   */
  async forViewer(views: MessageView[], viewerId: string): Promise<MessageView[]> {
    const reacted = views.filter((v) => v.reactions.length > 0).map((v) => v.id);
    if (reacted.length === 0) return views;
    const mine = await this.ownReactions(viewerId, reacted);
    return views.map((v) =>
      v.reactions.length ? { ...v, reactions: v.reactions.map((r) => ({ ...r, me: mine.has(reactionKey(v.id, r.emoji)) })) } : v,
    );
  }

  async one(row: MessageRow, viewerId?: string): Promise<MessageView> {
    const [view] = await this.present([row], viewerId);
    return view!;
  }

  /** A message whose viewer's own reactions are known already (read with the row a change locked): no lookup. */
  async withOwn(row: MessageRow, ownEmoji: Iterable<string>): Promise<MessageView> {
    const [view] = await this.present([row]);
    const own = new Set(ownEmoji);
    return { ...view!, reactions: view!.reactions.map((r) => ({ ...r, me: own.has(r.emoji) })) };
  }

  /** A message just written: its files are the ones just claimed, so nothing is read back. */
  async written(row: MessageRow, files: MediaRow[]): Promise<MessageView> {
    return toView(row, files.length ? await this.media.views(files) : [], undefined);
  }
}
