import type { Tx } from '../db/client.js';
import type { LoggedEvent } from '../event-log/event-log.repository.js';
import type { EventHandler } from '../event-log/log-consumer.js';
import type { MessageView } from '../contract/messages.js';
import type { RoomView } from '../contract/rooms.js';
import { WEBHOOK_EVENTS, type WebhookEventType } from '../contract/webhooks.js';
import type { WebhookRow, WebhooksRepository } from './webhooks.repository.js';
import type { DeliveryQueueRepository, NewDelivery } from './delivery-queue.repository.js';

/** Which log types make each webhook event: an edit, a pin and an unpin are all `message.updated`. */
const LOG_TYPES: Record<WebhookEventType, string[]> = {
  'message.created': ['message.created'],
  'message.updated': ['message.edited', 'message.revised', 'message.pinned', 'message.unpinned'],
  'message.deleted': ['message.deleted'],
  'reaction.added': ['reaction.added'],
  'reaction.removed': ['reaction.removed'],
  'room.created': ['room.created'],
  'room.updated': ['room.updated'],
  'participant.added': ['participant.added'],
  'participant.removed': ['participant.removed'],
  'report.created': ['report.created'],
};
const WEBHOOK_TYPE = new Map(Object.entries(LOG_TYPES).flatMap(([hook, logs]) => logs.map((l) => [l, hook as WebhookEventType])));

/** The log types the consumer must be registered for, given every webhook's `events`. */
export function logTypesOf(events: string[][]): string[] {
  const wanted = new Set(events.flat().includes('*') ? WEBHOOK_EVENTS : (events.flat() as WebhookEventType[]));
  return [...wanted].flatMap((t) => LOG_TYPES[t] ?? []).sort();
}

const subscribes = (w: Pick<WebhookRow, 'events'>, type: WebhookEventType) => w.events.includes('*') || w.events.includes(type);

/** Messages as a participant sees them (tombstones for deleted ones), by id; no viewer, so no reaction is `me`. */
export type ReadMessages = (ids: string[]) => Promise<Map<string, MessageView>>;
/** Rooms as a platform admin sees them, without anyone's unread count or mute state, by id. */
export type ReadRooms = (ids: string[]) => Promise<Map<string, RoomView>>;

/** One event's deliveries, one per subscribed webhook, with the body every attempt sends. */
interface Work {
  eventId: number;
  roomId: string | null;
  deliveries: NewDelivery[];
}

/**
 * A room's events must reach each webhook in the order they were committed (their log ids, see rooms/, messages/).
 * Two instances can split one batch between their transactions; the one holding a room's later events then waits for
 * the earlier ones to be handled (its transaction rolls back, the events stay pending and are taken again).
 */
export class OutOfOrder extends Error {
  override readonly name = 'OutOfOrder';
}

/**
 * Turns log events into webhook deliveries: at plan time each event's body is built once (the same bytes for every
 * webhook and every attempt: `{ id, type, createdAt, data }`), and a delivery row per subscribed webhook is written in
 * the transaction that takes the event, so a crash neither loses nor doubles one. `data` of a message event is the
 * message as it is when the event is handled (an edit soon after a send shows in both).
 */
export function webhookHandler(
  repo: Pick<WebhooksRepository, 'list'>,
  queue: DeliveryQueueRepository,
  read: { messages: ReadMessages; rooms: ReadRooms },
  onWritten: () => void,
): EventHandler<Work> {
  return {
    async plan(events: LoggedEvent[]) {
      const work = new Map<number, Work>();
      const hooks = await repo.list();
      const relevant = events.flatMap((e) => {
        const type = WEBHOOK_TYPE.get(e.type);
        const targets = type ? hooks.filter((w) => subscribes(w, type)) : [];
        return type && targets.length ? [{ e, type, targets }] : [];
      });
      if (relevant.length === 0) return work;
      const idsOf = (prefix: string, key: string) =>
        relevant.flatMap(({ e, type }) => (type.startsWith(prefix) && typeof e.payload[key] === 'string' ? [e.payload[key]] : []));
      const [messages, rooms] = await Promise.all([
        idsOf('message.', 'messageId').length ? read.messages(idsOf('message.', 'messageId')) : new Map<string, MessageView>(),
        idsOf('room.', 'roomId').length ? read.rooms(idsOf('room.', 'roomId')) : new Map<string, RoomView>(),
      ]);
      for (const { e, type, targets } of relevant) {
        const data = dataOf(e, type, messages, rooms);
        // A message or room that is no longer there (erased) has nothing to show: the event is not sent.
        if (data === undefined) continue;
        const body = JSON.stringify({ id: `evt_${e.id}`, type, createdAt: e.createdAt.toISOString(), data });
        work.set(e.id, {
          eventId: e.id,
          roomId: e.roomId,
          deliveries: targets.map((w) => ({ webhookId: w.id, eventId: `evt_${e.id}`, type, roomId: e.roomId, body })),
        });
      }
      return work;
    },
    async write(tx: Tx, work: Work[]) {
      const firstByRoom = new Map<string, number>();
      for (const w of work) if (w.roomId && !firstByRoom.has(w.roomId)) firstByRoom.set(w.roomId, w.eventId);
      if (await queue.olderPending(tx, firstByRoom)) throw new OutOfOrder('an earlier event of the same room is being handled elsewhere');
      const inserted = await queue.insertDeliveries(
        tx,
        work.flatMap((w) => w.deliveries),
      );
      return inserted > 0 ? onWritten : undefined;
    },
  };
}

function dataOf(e: LoggedEvent, type: WebhookEventType, messages: Map<string, MessageView>, rooms: Map<string, RoomView>): unknown {
  const p = e.payload;
  switch (type) {
    case 'message.created':
    case 'message.updated':
    case 'message.deleted':
      return messages.get(String(p['messageId']));
    case 'room.created':
    case 'room.updated':
      return rooms.get(String(p['roomId']));
    default:
      // reaction.*, participant.*, report.created: the payload is the data, as written with the change.
      return p;
  }
}
