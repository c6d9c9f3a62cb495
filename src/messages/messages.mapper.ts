import type { MediaService } from '../media/media.service.js';
import type { MessageRow } from './messages.repository.js';
import type { MessageView } from './messages.schemas.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toMessageView(row: MessageRow, media: MessageView['media'] = []): MessageView {
  return {
    id: row.id,
    chatRoomId: row.roomId,
    seq: row.seq,
    senderId: row.senderId,
    type: row.type,
    content: row.content,
    mentions: row.mentions,
    replyToId: row.replyId,
    replyTo:
      row.replyId === null
        ? null
        : { id: row.replyId, seq: row.replySeq!, senderId: row.replySenderId!, type: row.replyType!, content: row.replyContent ?? '' },
    media,
    clientMessageId: row.clientMessageId,
    createdAt: row.createdAt.toISOString(),
    editedAt: iso(row.editedAt),
    deletedAt: iso(row.deletedAt),
  };
}

/**
 * Messages as clients see them, media included: each read mints fresh signed URLs, one query for the whole page.
 * History, search, room lists, sends and replays all present messages through here.
 */
export class MessagePresenter {
  constructor(private readonly media: Pick<MediaService, 'viewsFor'>) {}

  async present(rows: MessageRow[]): Promise<MessageView[]> {
    const withMedia = rows.filter((r) => r.hasMedia).map((r) => r.id);
    const media = withMedia.length ? await this.media.viewsFor(withMedia) : new Map<string, MessageView['media']>();
    return rows.map((row) => toMessageView(row, media.get(row.id) ?? []));
  }

  async one(row: MessageRow): Promise<MessageView> {
    const [view] = await this.present([row]);
    return view!;
  }
}
