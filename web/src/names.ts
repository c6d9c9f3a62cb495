import type { Room } from 'chat-service/client';

/** A person as the room knows them: their name from their latest token, else their user id. */
export function nameIn(room: Room | undefined, userId: string): string {
  return room?.participants.find((p) => p.userId === userId)?.name ?? userId;
}

/** The other person of a direct room (undefined for other rooms, or a direct room with yourself). */
export function partnerOf(room: Room, me: string): string | undefined {
  if (room.type !== 'direct') return undefined;
  return room.participants.find((p) => p.userId !== me)?.userId;
}

export function roomTitle(room: Room, me: string): string {
  if (room.type === 'direct') {
    const partner = partnerOf(room, me);
    return partner ? nameIn(room, partner) : nameIn(room, me);
  }
  if (room.name) return room.name;
  if (room.type === 'support') {
    const customer = room.participants.find((p) => p.role !== 'agent')?.userId ?? room.createdBy;
    return customer === me ? 'Support' : `Support: ${nameIn(room, customer)}`;
  }
  const others = room.participants.filter((p) => p.userId !== me).map((p) => p.name ?? p.userId);
  return others.length ? others.slice(0, 3).join(', ') + (others.length > 3 ? ` +${others.length - 3}` : '') : 'Untitled';
}

export function previewOf(room: Room, me: string): string {
  const m = room.lastMessage;
  if (!m) return room.type === 'support' ? 'Support conversation' : 'No messages yet';
  if (m.deletedAt) return 'Message deleted';
  const text = (m.content.trim() || (m.media.length ? `${m.media.length === 1 ? m.media[0]!.kind : `${m.media.length} files`}` : ''))
    .replace(/\s+/g, ' ')
    .slice(0, 80);
  // In a direct room the title already names the other person: only your own messages say who wrote them.
  if (m.senderId === me) return `You: ${text}`;
  return room.type === 'direct' ? text : `${nameIn(room, m.senderId)}: ${text}`;
}

const day = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

export const formatDay = (iso: string) => day.format(new Date(iso));
export const formatTime = (iso: string) => time.format(new Date(iso));
export const sameDay = (a: string, b: string) => new Date(a).toDateString() === new Date(b).toDateString();
