import type { MessageRow } from './messages.repository.js';
import type { MessageView } from './messages.schemas.js';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toMessageView(row: MessageRow): MessageView {
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
    media: [],
    clientMessageId: row.clientMessageId,
    createdAt: row.createdAt.toISOString(),
    editedAt: iso(row.editedAt),
    deletedAt: iso(row.deletedAt),
  };
}
