import { BatchLoader } from '../batch-loader.js';
import type { DomainEvents, EventBus } from '../events.js';
import type { Log } from '../log.js';
import type { MessageView } from '../contract/messages.js';
import type { ReadsService } from '../reads/reads.service.js';
import type { DeliveryMark } from '../reads/reads.repository.js';
import { sleep } from '../timers.js';
import type { RoomsService } from '../rooms/rooms.service.js';
import { roomChannel, userChannel, type ChatNamespace, type ChatSocket } from './gateway.js';
import type { RealtimeRepository } from './realtime.repository.js';
import { Replayer, type MissedMessages } from './replay.js';
import { ChangeOrder, RoomOrder } from './room-order.js';
import { EVENT_PACKET } from './packet-index.js';
import { CLUSTER_BROADCAST, type ClusterMessage } from './stream-recovery.js';

const DELIVERY_FLUSH_MS = 100;
const CLOSE_FLUSH_ATTEMPTS = 5;
const CLOSE_FLUSH_RETRY_MS = 20;
/** Where new_message travels between instances: a channel no socket joins, so recovery never replays it. */
const MESSAGES_CHANNEL = 'internal:new-messages';
type ChangeEvent = 'message_updated' | 'message_deleted' | 'reaction_updated';
const CHANGE_EVENTS = new Set<string>(['message_updated', 'message_deleted', 'reaction_updated']);

/**
 * Lets `take` handle broadcasts of other instances before they reach this instance's sockets: `emitHere` emits one as
 * the adapter would have (with its recovery offset). Uses the cluster adapter's `onMessage`, which Redis adapters call
 * for every message they read; `take` answers false to leave a message to the adapter.
 */
function interceptRemote(nsp: ChatNamespace, take: (event: string, payload: unknown, emitHere: () => void) => boolean): void {
  const adapter = nsp.adapter as unknown as { uid?: string; onMessage?: (message: ClusterMessage, offset?: string) => void };
  const original = adapter.onMessage?.bind(adapter);
  if (!original) throw new Error('socket.io adapter internals changed: onMessage is gone, events of other instances cannot be ordered');
  adapter.onMessage = (message, offset) => {
    const data = message.data?.packet?.data;
    const remoteBroadcast = message.type === CLUSTER_BROADCAST && message.uid !== adapter.uid && message.nsp === nsp.name;
    if (remoteBroadcast && message.data?.requestId === undefined && typeof data?.[0] === 'string') {
      if (take(data[0], data[1], () => original(message, offset))) return;
    }
    original(message, offset);
  };
}
type Delivered = DomainEvents['delivery.advanced'];
/** Socket.IO keeps a socket's pending acks in this private map; its own broadcast timeout clears them the same way. */
type WithAcks = { acks: Map<number, unknown> };
/** A client that has not acknowledged by then is not counted as delivered (the message stays unacknowledged). */
const DELIVERY_ACK_TIMEOUT_MS = 60_000;

export interface FanoutDeps {
  bus: EventBus;
  rooms: RoomsService;
  /** Replays read through the messages service (MessagesService), as every reader of messages does. */
  messages: MissedMessages;
  reads: ReadsService;
  repo: RealtimeRepository;
  /** Several instances share rooms (Redis adapter): each delivers new_message to its own sockets. */
  clustered: boolean;
  log: Pick<Log, 'error'>;
}

/**
 * The one place domain events become socket events. Services publish after commit; nothing else emits, so a REST
 * write and a socket write reach clients identically.
 */
export class Fanout {
  /** Delivery acks gathered per user and room and written as one watermark move: a busy room costs no write per ack. */
  private readonly pendingDelivery = new Map<string, DeliveryMark>();
  private flushTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /** Delivery moves of this turn of the event loop, published to the other instances together. */
  private deliveredBatch: Delivered[] = [];
  private readonly unsubscribe: Array<() => void> = [];
  private readonly replayer: Replayer;
  /** Presence changes come in bursts (a deploy reconnects everyone): one query finds the room mates of a burst. */
  private readonly roomMates: BatchLoader<string, string[]>;
  private readonly order: ChangeOrder;

  constructor(
    private readonly nsp: ChatNamespace,
    private readonly deps: FanoutDeps,
  ) {
    const { bus } = deps;
    this.replayer = new Replayer(deps.repo, deps.messages);
    this.roomMates = new BatchLoader((userIds) => deps.repo.roomMatesOf(userIds));
    this.order = new ChangeOrder(new RoomOrder((err) => deps.log.error({ err }, 'room event failed')));
    this.unsubscribe.push(
      bus.on('message.created', ({ message }) =>
        this.order.submit(message.chatRoomId, message.changeSeq, () => {
          this.deliver(message);
          // new_message carries a per-socket ack, which a broadcast through the adapter cannot tell apart; so every
          // instance hears of the message (through the same Redis stream as the other events of the room, so in
          // their order) and delivers it to its own sockets.
          if (deps.clustered) return this.broadcast(MESSAGES_CHANNEL, 'chat:message', message);
        }),
      ),
      bus.on('message.updated', ({ message }) => this.toRoom(message.chatRoomId, message.changeSeq, 'message_updated', message)),
      bus.on('message.deleted', (e) => this.toRoom(e.chatRoomId, e.changeSeq, 'message_deleted', e)),
      bus.on('reaction.updated', (e) => this.toRoom(e.chatRoomId, e.changeSeq, 'reaction_updated', e)),
      bus.on('read.advanced', (e) => void this.nsp.to(roomChannel(e.chatRoomId)).emit('message_read', e)),
      bus.on('delivery.advanced', (advanced) => this.delivered(advanced)),
      bus.on('room.created', async ({ roomId, participantIds }) => {
        for (const userId of participantIds) this.nsp.in(userChannel(userId)).socketsJoin(roomChannel(roomId));
        for (const [userId, room] of await this.deps.rooms.memberViews(roomId)) this.nsp.to(userChannel(userId)).emit('room_created', room);
      }),
      bus.on('room.updated', async ({ roomId }) => {
        for (const [userId, room] of await this.deps.rooms.memberViews(roomId)) this.nsp.to(userChannel(userId)).emit('room_updated', room);
      }),
      bus.on('participant.added', async ({ roomId, userIds }) => {
        for (const userId of userIds) this.nsp.in(userChannel(userId)).socketsJoin(roomChannel(roomId));
        const views = await this.deps.rooms.memberViews(roomId);
        for (const added of userIds) {
          for (const [userId, room] of views)
            this.nsp.to(userChannel(userId)).emit('participant_added', { chatRoomId: roomId, userId: added, room });
        }
      }),
      bus.on('participant.removed', ({ roomId, userId }) => {
        this.nsp.to([roomChannel(roomId), userChannel(userId)]).emit('participant_removed', { chatRoomId: roomId, userId });
        this.nsp.in(userChannel(userId)).socketsLeave(roomChannel(roomId));
      }),
      bus.on('presence.online', async ({ userId }) => {
        const mates = (await this.roomMates.one(userId)) ?? [];
        if (mates.length) this.nsp.to(mates.map(userChannel)).emit('user_online', { userId });
      }),
      bus.on('presence.offline', async ({ userId, lastSeenAt }) => {
        const mates = (await this.roomMates.one(userId)) ?? [];
        if (mates.length) this.nsp.to(mates.map(userChannel)).emit('user_offline', { userId, lastSeenAt });
      }),
    );
    if (deps.clustered) {
      interceptRemote(this.nsp, (event, payload, emitHere) => {
        if (event === 'chat:message') {
          const message = payload as MessageView;
          this.order.submit(message.chatRoomId, message.changeSeq, () => this.deliver(message));
          return true;
        }
        if (event === 'chat:delivered') {
          for (const d of payload as Delivered[]) this.nsp.local.to(d.senders.map(userChannel)).emit('message_delivered', d.event);
          return true;
        }
        if (!CHANGE_EVENTS.has(event)) return false;
        const change = payload as { chatRoomId: string; changeSeq: number };
        this.order.submit(change.chatRoomId, change.changeSeq, emitHere);
        return true;
      });
    }
  }

  /**
   * A change event to the room, on every instance, in the room's order. Sent through the adapter like any broadcast, so
   * Socket.IO keeps it for sockets that recover their session (these carry no ack, unlike new_message).
   */
  private toRoom(roomId: string, changeSeq: number, event: ChangeEvent, payload: unknown): void {
    this.order.submit(roomId, changeSeq, () => this.broadcast(roomChannel(roomId), event, payload));
  }

  /**
   * message_delivered to the senders whose messages a delivery move passed. Between instances the moves of one flush
   * (one per room) travel as one packet: each instance writes its own sockets' acks every 100 ms, so one packet per
   * room would make the receipts of a busy room cost every instance a packet per instance and flush. Clients do not
   * depend on these packets after a reconnect: the catch-up's room views carry the positions.
   */
  private delivered(d: Delivered): void {
    if (!this.deps.clustered) return void this.nsp.to(d.senders.map(userChannel)).emit('message_delivered', d.event);
    this.nsp.local.to(d.senders.map(userChannel)).emit('message_delivered', d.event);
    if (this.deliveredBatch.push(d) > 1) return;
    setImmediate(() => {
      const batch = this.deliveredBatch;
      this.deliveredBatch = [];
      Promise.resolve(this.broadcast(MESSAGES_CHANNEL, 'chat:delivered', batch)).catch((err: unknown) =>
        this.deps.log.error({ err }, 'delivery receipts not published'),
      );
    });
  }

  /** Through the adapter, as `nsp.to(channel).emit` does, but with its promise: with Redis, it settles once published. */
  private broadcast(channel: string, event: string, payload: unknown): unknown {
    const adapter = this.nsp.adapter as unknown as {
      broadcast(packet: unknown, opts: { rooms: Set<string>; except: Set<string>; flags: object }): unknown;
    };
    return adapter.broadcast({ type: EVENT_PACKET, data: [event, payload] }, { rooms: new Set([channel]), except: new Set(), flags: {} });
  }

  /** new_message to every socket of this instance in the room. */
  private deliver(message: MessageView): void {
    const sids = this.nsp.adapter.rooms.get(roomChannel(message.chatRoomId));
    if (sids) this.emitMessage(message, sids);
  }

  /**
   * new_message to some sockets of this instance: encoded once for all of them, each with its own ack so we know whose
   * client received it (Socket.IO calls a broadcast's ack with the acking socket as `this`). Local only: with
   * connection state recovery on, packets with an ack are never kept for recovery anyway — replayMissed covers them.
   * One timer per message lets go of the acks of clients that never answer.
   */
  private emitMessage(message: MessageView, sids: Iterable<string>): void {
    const waiting = new Set(sids);
    if (waiting.size === 0) return;
    const packet: { type: number; data: unknown[]; id?: number } = { type: EVENT_PACKET, data: ['new_message', message] };
    const timer = setTimeout(() => {
      for (const sid of waiting) (this.nsp.sockets.get(sid) as unknown as WithAcks | undefined)?.acks.delete(packet.id!);
    }, DELIVERY_ACK_TIMEOUT_MS);
    timer.unref();
    const acked = (socket: ChatSocket) => this.acked(socket, message);
    this.nsp.adapter.broadcastWithAck(
      packet,
      { rooms: new Set(waiting), flags: { local: true } },
      () => {},
      function (this: ChatSocket) {
        if (!waiting.delete(this.id)) return;
        if (waiting.size === 0) clearTimeout(timer);
        acked(this);
      },
    );
  }

  private acked(socket: ChatSocket, message: MessageView): void {
    const { auth, seen } = socket.data;
    if ((seen[message.chatRoomId] ?? 0) < message.seq) seen[message.chatRoomId] = message.seq;
    this.pend({ roomId: message.chatRoomId, userId: auth.userId, seq: message.seq });
  }

  private pend(mark: DeliveryMark): void {
    const key = `${mark.userId}\n${mark.roomId}`;
    const pending = this.pendingDelivery.get(key);
    if (!pending || pending.seq < mark.seq) this.pendingDelivery.set(key, mark);
    if (!this.closing) this.flushTimer ??= setTimeout(() => void this.flushDeliveries(), DELIVERY_FLUSH_MS);
  }

  private async flushDeliveries(): Promise<void> {
    this.flushTimer = undefined;
    if (this.pendingDelivery.size === 0) return;
    const batch = [...this.pendingDelivery.values()];
    this.pendingDelivery.clear();
    const busy = await this.deps.reads.markDelivered(batch).catch((err: unknown) => {
      this.deps.log.error({ err }, 'delivery update failed');
      return [];
    });
    // Rows another write held: with the next batch (a send holds its sender's row for one statement).
    for (const mark of busy) this.pend(mark);
  }

  /** After a recovered reconnect: the messages of each room above what this socket acknowledged. */
  async replayMissed(socket: ChatSocket): Promise<void> {
    for (const { roomId, messages } of await this.replayer.missed(socket.data.seen)) {
      if (!socket.connected || !socket.rooms.has(roomChannel(roomId))) continue;
      for (const message of messages) this.emitMessage(message, [socket.id]);
    }
  }

  async close(): Promise<void> {
    for (const off of this.unsubscribe) off();
    this.order.close();
    this.closing = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    // A mark whose row a last send still held is tried again a few times rather than dropped with the instance.
    for (let attempt = 0; attempt < CLOSE_FLUSH_ATTEMPTS && this.pendingDelivery.size > 0; attempt++) {
      if (attempt > 0) await sleep(CLOSE_FLUSH_RETRY_MS);
      await this.flushDeliveries();
    }
  }
}
