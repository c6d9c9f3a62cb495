/**
 * The typed Socket.IO event map of the `/chat` namespace, shared by the server, the tests and client code:
 *   import type { ClientToServerEvents, ServerToClientEvents } from 'chat-service/events';
 *   const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url + '/chat', { auth: { token } });
 * Every payload has a schema here and its type is derived from it: the gateway validates client payloads with
 * ClientEventSchemas, and ServerEventSchemas describe what the server emits.
 */
import { Type, type Static } from '@sinclair/typebox';
import { IsoDate, RoomId } from './common.js';
import type { AckError, ErrorCode } from './errors.js';
import { MessageRef, SendMessageBody, type MessageView } from './messages.js';
import { ReadStateRef, type ReadState } from './reads.js';
import { RoomRef, type RoomView } from './rooms.js';

export type { MessageView as Message, ReadState, RoomView as Room, ErrorCode, AckError };

/** Every client event may pass an acknowledgement callback; it receives one of these. */
export type AckResponse<T> = { ok: true; data: T } | { ok: false; error: AckError };
export type Ack<T> = (response: AckResponse<T>) => void;

// Client → server. Payloads cross the same kind of schema as HTTP bodies; a bad one is acked VALIDATION_FAILED.

export const RoomPayload = Type.Object({ chatRoomId: RoomId });
export type RoomPayload = Static<typeof RoomPayload>;

export const SendMessagePayload = Type.Composite([
  Type.Object({
    chatRoomId: RoomId,
    mediaIds: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100, description: 'From POST /rooms/:id/media' }),
    ),
  }),
  SendMessageBody,
]);
export type SendMessagePayload = Static<typeof SendMessagePayload>;

export const MarkAsReadPayload = Type.Object({
  chatRoomId: RoomId,
  messageId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Omitted: the whole room' })),
});
export type MarkAsReadPayload = Static<typeof MarkAsReadPayload>;

export const ClientEventSchemas = {
  send_message: SendMessagePayload,
  typing_start: RoomPayload,
  typing_stop: RoomPayload,
  mark_as_read: MarkAsReadPayload,
  join_chat: RoomPayload,
  leave_chat: RoomPayload,
};

export interface ClientToServerEvents {
  send_message: (payload: SendMessagePayload, ack?: Ack<MessageView>) => void;
  typing_start: (payload: RoomPayload, ack?: Ack<null>) => void;
  typing_stop: (payload: RoomPayload, ack?: Ack<null>) => void;
  mark_as_read: (payload: MarkAsReadPayload, ack?: Ack<ReadState>) => void;
  join_chat: (payload: RoomPayload, ack?: Ack<null>) => void;
  leave_chat: (payload: RoomPayload, ack?: Ack<null>) => void;
}

// Server → client.

export const ReadyEvent = Type.Object({ userId: Type.String(), recovered: Type.Boolean() });
export type ReadyEvent = Static<typeof ReadyEvent>;

export const TypingEvent = Type.Object({ chatRoomId: Type.String(), userId: Type.String(), isTyping: Type.Boolean() });
export type TypingEvent = Static<typeof TypingEvent>;

export const UserOnlineEvent = Type.Object({ userId: Type.String() });
export type UserOnlineEvent = Static<typeof UserOnlineEvent>;

export const UserOfflineEvent = Type.Object({ userId: Type.String(), lastSeenAt: IsoDate });
export type UserOfflineEvent = Static<typeof UserOfflineEvent>;

export const ParticipantAddedEvent = Type.Object({ chatRoomId: Type.String(), userId: Type.String(), room: RoomRef });
export type ParticipantAddedEvent = Static<typeof ParticipantAddedEvent>;

export const ParticipantRemovedEvent = Type.Object({ chatRoomId: Type.String(), userId: Type.String() });
export type ParticipantRemovedEvent = Static<typeof ParticipantRemovedEvent>;

/** What each server event carries; Message, Room and ReadState by reference to their $id. */
export const ServerEventSchemas = {
  ready: ReadyEvent,
  new_message: MessageRef,
  user_typing: TypingEvent,
  message_read: ReadStateRef,
  user_online: UserOnlineEvent,
  user_offline: UserOfflineEvent,
  room_created: RoomRef,
  room_updated: RoomRef,
  participant_added: ParticipantAddedEvent,
  participant_removed: ParticipantRemovedEvent,
};

export interface ServerToClientEvents {
  /** Once per connection, right after connect: who you are and whether the previous session was recovered. */
  ready: (info: ReadyEvent) => void;
  /** Acknowledge it (call `ack()`) to advance your delivery position (lastDeliveredSeq). */
  new_message: (message: MessageView, ack: () => void) => void;
  user_typing: (event: TypingEvent) => void;
  message_read: (event: ReadState) => void;
  user_online: (event: UserOnlineEvent) => void;
  user_offline: (event: UserOfflineEvent) => void;
  room_created: (room: RoomView) => void;
  room_updated: (room: RoomView) => void;
  participant_added: (event: ParticipantAddedEvent) => void;
  participant_removed: (event: ParticipantRemovedEvent) => void;
}

/** Between instances of one deployment (Redis adapter); not seen by clients. */
export interface ServerToServerEvents {
  /** A message stored on another instance: each instance delivers new_message (with per-socket acks) to its own sockets. */
  'chat:message': (message: MessageView) => void;
}
