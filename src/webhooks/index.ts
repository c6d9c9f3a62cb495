import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { EventLogRepository } from '../event-log/event-log.repository.js';
import { LogConsumer } from '../event-log/log-consumer.js';
import type { Feature } from '../feature.js';
import type { Log } from '../log.js';
import { cachingResolver, systemResolver, type Resolver } from '../net/outbound.js';
import type { RoomPresenter, RoomsRepository } from '../rooms/index.js';
import { WEBHOOK_EVENTS } from '../contract/webhooks.js';
import { logTypesOf, webhookHandler, type ReadMessages, type ReadRooms } from './webhooks.consumer.js';
import { WEBHOOKS_CONSUMER, WebhooksRepository } from './webhooks.repository.js';
import { DeliveryQueueRepository } from './delivery-queue.repository.js';
import { webhooksRoutes } from './webhooks.routes.js';
import { WebhookSender } from './webhooks.sender.js';
import { webhookUrlPolicy, WebhooksService } from './webhooks.service.js';

export type { ReadMessages, ReadRooms } from './webhooks.consumer.js';
export { WebhooksService } from './webhooks.service.js';

/** How often every instance looks whether webhooks exist and what the log holds for them (peers' writes, leftovers). */
const POLL_MS = 1000;
/** Handled events are kept a day (as the notifications keep them); pruned here too, for deployments without those. */
const KEEP_EVENTS_MS = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60_000;

export interface Webhooks extends Feature {
  service: WebhooksService;
}

/**
 * Outgoing webhooks. The log keeps events for them only while a webhook exists (the registration is written with
 * the webhook, in the database, so every instance's writers see it): with none, a send writes nothing more. Every
 * instance polls whether webhooks exist; while some do, it turns log events into delivery rows (LogConsumer, any
 * instance, once per event) and sends due deliveries (WebhookSender).
 */
export function createWebhooks(
  config: Config,
  db: Db,
  read: { messages: ReadMessages; rooms: ReadRooms },
  resolve: Resolver = systemResolver,
): Webhooks {
  const repo = new WebhooksRepository(db);
  const queue = new DeliveryQueueRepository(db);
  const eventLog = new EventLogRepository(db);
  let active = false;
  let stopped = true;
  let timer: NodeJS.Timeout | undefined;
  let soon: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let nextPruneAt = 0;
  let sender: WebhookSender | undefined;
  let consumer: LogConsumer | undefined;
  let log: Pick<Log, 'info' | 'warn' | 'error'> | undefined;

  const wake = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = pump().finally(() => {
      running = undefined;
      if (stopped) return;
      timer = setTimeout(wake, again ? 0 : POLL_MS);
      timer.unref();
    });
  };
  /** After a write: soon, so a burst of sends shares one transaction. Nothing at all while no webhook exists. */
  const wakeSoon = (): void => {
    if (!active || soon || stopped) return;
    soon = setTimeout(() => {
      soon = undefined;
      wake();
    }, 50);
    soon.unref();
  };

  async function pump(): Promise<void> {
    do {
      again = false;
      try {
        const was = active;
        active = await repo.any();
        if (active && !was) sender?.wake(0);
        if (!active) return;
        await consumer!.drain();
        if (Date.now() >= nextPruneAt) {
          nextPruneAt = Date.now() + PRUNE_EVERY_MS;
          await eventLog.prune(KEEP_EVENTS_MS, 1000);
        }
      } catch (err) {
        // The database is away, or a room's earlier event is being handled by a peer: the events stay pending.
        log?.error({ err }, 'webhook event consumer failed');
        return;
      }
    } while (again && !stopped);
  }

  const service = new WebhooksService(repo, config.webhooks, resolve, () => {
    again = true;
    wake();
  });

  return {
    name: 'webhooks',
    service,
    routes: (api) => api.register(webhooksRoutes, { webhooks: service }),
    subscribers: (bus) => {
      const off = [
        bus.on('message.created', wakeSoon),
        bus.on('message.updated', wakeSoon),
        bus.on('message.deleted', wakeSoon),
        bus.on('reaction.updated', wakeSoon),
        bus.on('room.created', wakeSoon),
        bus.on('room.updated', wakeSoon),
        bus.on('participant.added', wakeSoon),
        bus.on('participant.removed', wakeSoon),
      ];
      return () => off.forEach((unsubscribe) => unsubscribe());
    },
    async start(l) {
      log = l;
      // The sender checks the URL at every attempt; the lookups behind it are shared (cachingResolver).
      const policy = webhookUrlPolicy(config.webhooks, cachingResolver(resolve));
      sender = new WebhookSender(queue, config.webhooks, l, policy, () => active);
      // Never start()ed: that would register the consumer; the registration follows the webhooks (see the repository).
      consumer = new LogConsumer(db, {
        name: WEBHOOKS_CONSUMER,
        types: logTypesOf([[...WEBHOOK_EVENTS]]),
        handle: webhookHandler(repo, queue, read, () => sender?.wake(0)),
        log: l,
        byPosition: true,
      });
      // A consumer registered by an earlier version (pending rows) goes on by position from here.
      await eventLog.readByPositionFromEnd(WEBHOOKS_CONSUMER);
      stopped = false;
      sender.start();
      wake();
      await running;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(soon);
      // The consumer stops after its batch under way (the rest stays in the log for the next start or a peer).
      await Promise.all([consumer?.stop(), running]);
      await sender?.stop();
    },
  };
}

/** Rooms as a platform admin sees them: every participant, no one's unread count or mute state (`room.*` data). */
export function adminRoomViews(rooms: RoomsRepository, presenter: RoomPresenter): ReadRooms {
  return async (ids) => {
    const rows = (await Promise.all([...new Set(ids)].map((id) => rooms.findById(id)))).flatMap((r) => (r ? [r] : []));
    const views = await presenter.views({ userId: '', role: 'admin' }, rows);
    return new Map(views.map((v) => [v.id, v]));
  };
}
