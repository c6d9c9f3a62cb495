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
import { EditMessageBody, MessageRef, ReactionSummarySchema, SendMessageBody, type MessageView } from './messages.js';
import { EmojiParam } from './reactions.js';
import { ReadStateRef, type ReadState } from './reads.js';
import { RoomRef, type RoomView } from './rooms.js';
import { SuspendedEvent } from './suspensions.js';

export type { MessageView as Message, ReadState, RoomView as Room, ErrorCode, AckError };
export type { SuspendedEvent };

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

const MessageIdField = Type.String({ minLength: 1, maxLength: 200, description: 'A message id; one of another shape is not found' });

export const EditMessagePayload = Type.Composite([Type.Object({ messageId: MessageIdField }), EditMessageBody]);
export type EditMessagePayload = Static<typeof EditMessagePayload>;

export const MessagePayload = Type.Object({ messageId: MessageIdField });
export type MessagePayload = Static<typeof MessagePayload>;

export const ReactionPayload = Type.Object({ messageId: MessageIdField, emoji: EmojiParam });
export type ReactionPayload = Static<typeof ReactionPayload>;

export const PinPayload = Type.Object({ chatRoomId: RoomId, messageId: MessageIdField });
export type PinPayload = Static<typeof PinPayload>;

export const ClientEventSchemas = {
  send_message: SendMessagePayload,
  typing_start: RoomPayload,
  typing_stop: RoomPayload,
  mark_as_read: MarkAsReadPayload,
  join_chat: RoomPayload,
  leave_chat: RoomPayload,
  edit_message: EditMessagePayload,
  delete_message: MessagePayload,
  add_reaction: ReactionPayload,
  remove_reaction: ReactionPayload,
  pin_message: PinPayload,
  unpin_message: PinPayload,
};

export interface ClientToServerEvents {
  send_message: (payload: SendMessagePayload, ack?: Ack<MessageView>) => void;
  typing_start: (payload: RoomPayload, ack?: Ack<null>) => void;
  typing_stop: (payload: RoomPayload, ack?: Ack<null>) => void;
  mark_as_read: (payload: MarkAsReadPayload, ack?: Ack<ReadState>) => void;
  join_chat: (payload: RoomPayload, ack?: Ack<null>) => void;
  leave_chat: (payload: RoomPayload, ack?: Ack<null>) => void;
  /** As PATCH /messages/:id, DELETE /messages/:id, PUT/DELETE …/reactions/:emoji and PUT/DELETE /rooms/:id/pins/:messageId. */
  edit_message: (payload: EditMessagePayload, ack?: Ack<MessageView>) => void;
  delete_message: (payload: MessagePayload, ack?: Ack<MessageView>) => void;
  add_reaction: (payload: ReactionPayload, ack?: Ack<MessageView>) => void;
  remove_reaction: (payload: ReactionPayload, ack?: Ack<MessageView>) => void;
  pin_message: (payload: PinPayload, ack?: Ack<MessageView>) => void;
  unpin_message: (payload: PinPayload, ack?: Ack<MessageView>) => void;
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

export const MessageDeliveredEvent = Type.Object({
  chatRoomId: Type.String(),
  userId: Type.String(),
  lastDeliveredSeq: Type.Integer({ description: "Every message up to this seq has reached one of the user's clients" }),
  deliveredAt: IsoDate,
});
export type MessageDeliveredEvent = Static<typeof MessageDeliveredEvent>;

export const MessageDeletedEvent = Type.Object({
  chatRoomId: Type.String(),
  id: Type.String(),
  seq: Type.Integer(),
  changeSeq: Type.Integer(),
  deletedAt: IsoDate,
  deletedBy: Type.String(),
});
export type MessageDeletedEvent = Static<typeof MessageDeletedEvent>;

export const ReactionUpdatedEvent = Type.Object({
  chatRoomId: Type.String(),
  messageId: Type.String(),
  changeSeq: Type.Integer(),
  emoji: Type.String(),
  userId: Type.String(),
  added: Type.Boolean(),
  count: Type.Integer({ minimum: 0, description: 'How many now react with this emoji' }),
  reactions: Type.Array(ReactionSummarySchema, { description: "The message's whole list after the change, in order of first use" }),
});
export type ReactionUpdatedEvent = Static<typeof ReactionUpdatedEvent>;

/** What each server event carries; Message, Room and ReadState by reference to their $id. */
export const ServerEventSchemas = {
  ready: ReadyEvent,
  new_message: MessageRef,
  message_updated: MessageRef,
  message_deleted: MessageDeletedEvent,
  reaction_updated: ReactionUpdatedEvent,
  user_typing: TypingEvent,
  message_read: ReadStateRef,
  message_delivered: MessageDeliveredEvent,
  user_online: UserOnlineEvent,
  user_offline: UserOfflineEvent,
  room_created: RoomRef,
  room_updated: RoomRef,
  participant_added: ParticipantAddedEvent,
  participant_removed: ParticipantRemovedEvent,
  suspended: SuspendedEvent,
};

export interface ServerToClientEvents {
  /** Once per connection, right after connect: who you are and whether the previous session was recovered. */
  ready: (info: ReadyEvent) => void;
  /** Acknowledge it (call `ack()`) to advance your delivery position (lastDeliveredSeq). */
  new_message: (message: MessageView, ack: () => void) => void;
  /** After an edit, a pin or an unpin: the message's current state (reactions[].me is false in broadcasts). */
  message_updated: (message: MessageView) => void;
  /** Deleted for everyone: drop its content, media, reactions and pin; keep it in its place as a tombstone. */
  message_deleted: (event: MessageDeletedEvent) => void;
  reaction_updated: (event: ReactionUpdatedEvent) => void;
  user_typing: (event: TypingEvent) => void;
  message_read: (event: ReadState) => void;
  /** A participant's client acknowledged new_message up to lastDeliveredSeq (only when it moves forward). */
  message_delivered: (event: MessageDeliveredEvent) => void;
  user_online: (event: UserOnlineEvent) => void;
  user_offline: (event: UserOfflineEvent) => void;
  room_created: (room: RoomView) => void;
  room_updated: (room: RoomView) => void;
  participant_added: (event: ParticipantAddedEvent) => void;
  participant_removed: (event: ParticipantRemovedEvent) => void;
  /**
   * You were suspended (also sent on connect while you are): every write is refused with FORBIDDEN until `until`
   * (null: until lifted). Reads still work.
   */
  suspended: (event: SuspendedEvent) => void;
}

/** Between instances of one deployment (Redis adapter); not seen by clients. */
export interface ServerToServerEvents {
  /**
   * A message stored on another instance, broadcast to a channel no socket joins (so it travels in the Redis stream
   * with the room's other events): each instance delivers new_message (with per-socket acks) to its own sockets.
   */
  'chat:message': (message: MessageView) => void;
  /** Suspensions changed on another instance: reload them. */
  'chat:suspensions': () => void;
}
