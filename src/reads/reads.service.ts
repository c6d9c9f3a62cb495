import type { ReadRouting } from '../db/replicas.js';
import type { AuthContext } from '../auth/tokens.js';
import { notFound } from '../errors.js';
import type { EventBus } from '../events.js';
import { isId } from '../ids.js';
import type { MessagesRepository } from '../messages/messages.repository.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import type { DeliveryMark, ReadsRepository } from './reads.repository.js';
import type { ReadState } from '../contract/reads.js';

/** Read and delivery watermarks: chat_participant's last_read_seq and last_delivered_seq, moved forward only. */
export class ReadsService {
  constructor(
    private readonly reads: ReadsRepository,
    private readonly messages: MessagesRepository,
    private readonly guard: RoomAccessGuard,
    private readonly bus: EventBus,
    private readonly replicas: Pick<ReadRouting, 'forUser'>,
  ) {}

  /** Marks a message, and so everything before it, read. */
  async markMessageRead(auth: AuthContext, messageId: string): Promise<ReadState> {
    const target = isId(messageId) ? await this.messages.locate(messageId) : undefined;
    if (!target) throw notFound('Message');
    await this.guard.messageMember(auth, target.roomId);
    return this.advance(auth, target.roomId, target.seq);
  }

  /** Marks the whole room read in constant time. `messageId` narrows it to that message (the socket's mark_as_read). */
  async markRoomRead(auth: AuthContext, roomId: string, messageId?: string): Promise<ReadState> {
    if (messageId === undefined) {
      // The whole room: the update moves the caller's own participant row and answers nothing without one, so it is
      // the membership check itself (the same 404 as the guard's), and a mark is one statement and one round trip.
      if (!isId(roomId)) throw notFound('Room');
      return this.advance(auth, roomId.toLowerCase(), null);
    }
    const { room } = await this.guard.member(auth, roomId);
    const target = isId(messageId) ? await this.messages.locate(messageId) : undefined;
    if (!target || target.roomId !== room.id) throw notFound('Message');
    return this.advance(auth, room.id, target.seq);
  }

  private async advance(auth: AuthContext, roomId: string, seq: number | null): Promise<ReadState> {
    const mark = await this.reads.advanceRead(roomId, auth.userId, seq);
    if (!mark) throw notFound('Room'); // not in the room (any more)
    const state: ReadState = {
      chatRoomId: roomId,
      userId: auth.userId,
      messageId: mark.messageId,
      lastReadSeq: mark.seq,
      readAt: mark.at ? mark.at.toISOString() : null,
    };
    if (mark.advanced) this.bus.publish('read.advanced', { ...state, readAt: state.readAt! });
    return state;
  }

  /**
   * Recipients' clients acknowledged `new_message`: each user's delivery watermark in each room moves to the highest
   * acknowledged seq, in one write for the whole batch. An ack from someone no longer in the room moves nothing.
   * Each watermark that moved is announced once the write has committed, to the senders of the messages it passed
   * (their "delivered" ticks): to the whole room it would cost n² packets per message in a room of n. An ack that moves
   * nothing (a repeat, or one below the watermark) announces nothing. Returns the marks whose row was held by another
   * write (a send of that user in that room, usually): the caller puts them in its next batch.
   */
  async markDelivered(marks: DeliveryMark[]): Promise<DeliveryMark[]> {
    const { moved, busy } = await this.reads.advanceDelivered(marks);
    for (const m of moved) {
      if (m.senders.length === 0) continue;
      this.bus.publish('delivery.advanced', {
        event: { chatRoomId: m.roomId, userId: m.userId, lastDeliveredSeq: m.seq, deliveredAt: m.at.toISOString() },
        senders: m.senders,
      });
    }
    return busy;
  }

  async receipts(
    auth: AuthContext,
    messageId: string,
  ): Promise<{ data: Array<{ userId: string; deliveredAt: string | null; readAt: string | null }> }> {
    const target = isId(messageId) ? await this.messages.locate(messageId) : undefined;
    if (!target) throw notFound('Message');
    await this.guard.messageReader(auth, target.roomId);
    const rows = await this.replicas.forUser(auth.userId, () => this.reads.receipts(target.roomId, target.seq));
    return {
      data: rows.map((r) => ({
        userId: r.userId,
        deliveredAt: r.deliveredAt?.toISOString() ?? null,
        readAt: r.readAt?.toISOString() ?? null,
      })),
    };
  }
}
