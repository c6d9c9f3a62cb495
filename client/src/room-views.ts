import type { Message, Room } from './types.js';

/**
 * How an entry of `client.rooms` follows what happens in its room, as pure functions of the entry: the list shows the
 * last message, its preview and the unread count without asking the service again.
 */

/** A stored message: the room's newest (unless already counted), unread for others, read up to it for its sender. */
export function withMessage(room: Room, m: Message, me: string): Room | undefined {
  if (m.seq <= room.lastSeq) return undefined;
  const mine = m.senderId === me;
  const participants = mine ? room.participants.map((p) => (p.userId === me ? { ...p, lastReadSeq: m.seq } : p)) : room.participants;
  return {
    ...room,
    lastSeq: m.seq,
    lastChangeSeq: Math.max(room.lastChangeSeq, m.changeSeq),
    lastMessage: m,
    unreadCount: mine ? 0 : room.unreadCount + 1,
    participants,
  };
}

/** An edit or delete of the room's last message: its preview changes; a deleted unread message is no longer counted. */
export function withLastChanged(room: Room, messageId: string, next: (last: Message) => Message, me: string): Room | undefined {
  if (!room.lastMessage || room.lastMessage.id !== messageId) return undefined;
  const lastMessage = next(room.lastMessage);
  if (lastMessage.changeSeq < room.lastMessage.changeSeq) return undefined;
  const deletedUnread = lastMessage.deletedAt && !room.lastMessage.deletedAt && lastMessage.senderId !== me;
  const reader = room.participants.find((p) => p.userId === me);
  const unread = deletedUnread && reader && reader.lastReadSeq < lastMessage.seq ? 1 : 0;
  return { ...room, lastMessage, unreadCount: Math.max(0, room.unreadCount - unread) };
}

/** Latest activity first: the last message's time, or the room's creation for a room without messages. */
export function byActivity(rooms: Room[]): Room[] {
  const activity = (room: Room) => Date.parse(room.lastMessage?.createdAt ?? room.createdAt);
  return rooms.sort((a, b) => activity(b) - activity(a));
}
