/**
 * The typed Socket.IO event map of the `/chat` namespace, shared by the server, the tests and client code:
 *   import type { ClientToServerEvents, ServerToClientEvents } from 'chat-service/events';
 *   const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url + '/chat', { auth: { token } });
 */
import type { ErrorCode } from '../errors.js';
import type { MessageView } from '../messages/messages.schemas.js';
import type { ReadState } from '../reads/reads.schemas.js';
import type { RoomView } from '../rooms/rooms.schemas.js';

export type { MessageView as Message, ReadState, RoomView as Room, ErrorCode };

/** Every client event may pass an acknowledgement callback; it receives one of these. */
export type AckResponse<T> = { ok: true; data: T } | { ok: false; error: { code: ErrorCode; message: string } };
export type Ack<T> = (response: AckResponse<T>) => void;

export interface SendMessagePayload {
  chatRoomId: string;
  content: string;
  replyToId?: string | null;
  mentions?: string[];
  clientMessageId?: string | null;
  /** Ids from POST /rooms/:id/media, uploaded ahead of the send. */
  mediaIds?: string[];
}
export interface RoomRef {
  chatRoomId: string;
}
export interface MarkAsReadPayload {
  chatRoomId: string;
  /** Omitted: the whole room. */
  messageId?: string;
}

export interface ClientToServerEvents {
  send_message: (payload: SendMessagePayload, ack?: Ack<MessageView>) => void;
  typing_start: (payload: RoomRef, ack?: Ack<null>) => void;
  typing_stop: (payload: RoomRef, ack?: Ack<null>) => void;
  mark_as_read: (payload: MarkAsReadPayload, ack?: Ack<ReadState>) => void;
  join_chat: (payload: RoomRef, ack?: Ack<null>) => void;
  leave_chat: (payload: RoomRef, ack?: Ack<null>) => void;
}

export interface TypingEvent {
  chatRoomId: string;
  userId: string;
  isTyping: boolean;
}

export interface ServerToClientEvents {
  /** Once per connection, right after connect: who you are and whether the previous session was recovered. */
  ready: (info: { userId: string; recovered: boolean }) => void;
  /** Acknowledge it (call `ack()`) to advance your delivery position (lastDeliveredSeq). */
  new_message: (message: MessageView, ack: () => void) => void;
  user_typing: (event: TypingEvent) => void;
  message_read: (event: ReadState) => void;
  user_online: (event: { userId: string }) => void;
  user_offline: (event: { userId: string; lastSeenAt: string }) => void;
  room_created: (room: RoomView) => void;
  room_updated: (room: RoomView) => void;
  participant_added: (event: { chatRoomId: string; userId: string; room: RoomView }) => void;
  participant_removed: (event: { chatRoomId: string; userId: string }) => void;
}

/** Between instances of one deployment (Redis adapter); not seen by clients. */
export interface ServerToServerEvents {
  /** A message stored on another instance: each instance delivers new_message (with per-socket acks) to its own sockets. */
  'chat:message': (message: MessageView) => void;
}
