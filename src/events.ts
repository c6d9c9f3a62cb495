import type { MessageDeletedEvent, MessageDeliveredEvent, ReactionUpdatedEvent } from './contract/events.js';
import type { MessageView } from './contract/messages.js';

/**
 * Domain events, published by services after their transaction has committed — never before. The realtime layer
 * and the notifications layer subscribe; a REST write and a socket write publish exactly the same events.
 */
export interface DomainEvents {
  'message.created': { message: MessageView; roomType: string };
  /** An edit, a pin or an unpin. `message` as broadcast (reactions[].me false); `newMentions`: users an edit newly mentions. */
  'message.updated': { message: MessageView; newMentions: string[] };
  'message.deleted': MessageDeletedEvent;
  'reaction.updated': ReactionUpdatedEvent;
  'read.advanced': { chatRoomId: string; userId: string; messageId: string | null; lastReadSeq: number; readAt: string };
  /** A participant's delivery watermark moved forward (their client acknowledged new_message), past messages of `senders`. */
  'delivery.advanced': { event: MessageDeliveredEvent; senders: string[] };
  'room.created': { roomId: string; participantIds: string[] };
  'room.updated': { roomId: string };
  'participant.added': { roomId: string; userIds: string[] };
  'participant.removed': { roomId: string; userId: string; remainingIds: string[] };
  /** Presence changes are not writes, but reach sockets through the same single fan-out point. */
  'presence.online': { userId: string };
  'presence.offline': { userId: string; lastSeenAt: string };
}

export type EventName = keyof DomainEvents;
type Handler<E extends EventName> = (payload: DomainEvents[E]) => void | Promise<void>;

export class EventBus {
  private readonly handlers = new Map<EventName, Set<Handler<never>>>();

  constructor(private readonly onError: (err: unknown, event: EventName) => void = () => {}) {}

  on<E extends EventName>(event: E, handler: Handler<E>): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as Handler<never>);
    return () => set.delete(handler as Handler<never>);
  }

  /** Handlers run in order; one that fails is logged and does not stop the others or the publisher. */
  publish<E extends EventName>(event: E, payload: DomainEvents[E]): void {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const handler of set) {
      try {
        const result = (handler as Handler<E>)(payload);
        if (result instanceof Promise) result.catch((err) => this.onError(err, event));
      } catch (err) {
        this.onError(err, event);
      }
    }
  }
}
