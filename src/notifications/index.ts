import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { EventLogRepository, narrowLog } from '../event-log/event-log.repository.js';
import { LogConsumer } from '../event-log/log-consumer.js';
import type { Feature } from '../feature.js';
import { systemResolver, type Resolver } from '../net/outbound.js';
import type { PresenceStore } from '../presence/presence.store.js';
import { DELETES_THAT_CONCERN_NOTIFICATIONS, NotificationChangesRepository } from './changes.repository.js';
import {
  notificationEvents,
  NOTIFICATIONS_CONSUMER,
  notificationHandler,
  notificationsEnabled,
  type ReadMessages,
} from './notifications.consumer.js';
import { NotificationsRepository } from './notifications.repository.js';
import { notificationsRoutes } from './notifications.routes.js';
import { PushSubscriptionsService } from './notifications.service.js';
import { OutboxWorker } from './outbox.worker.js';

export type { ReadMessages } from './notifications.consumer.js';

/**
 * Started before the app takes requests: from then on every message sent is in the event log for the notifications.
 * Stopped after the last sends have been answered and before the database closes.
 */
export interface Notifications extends Feature {
  subscriptions: PushSubscriptionsService;
}

/**
 * Offline notifications: `message.created` events are read from the durable event log (written with each message),
 * queued in the outbox, and sent from there (webhook and Web Push); so are edits that newly mention someone
 * (`message.edited`), and deletes (`message.deleted`: the message leaves what is not yet sent, and what was sent is
 * retracted). The bus only wakes the consumer, so a crash between a change's commit and its queueing loses nothing.
 * `readMessages`: the messages as the message presenter shows them (what a notification previews). `resolve` answers
 * for push endpoint hosts (tests answer without a network).
 */
export function createNotifications(
  config: Config,
  db: Db,
  presence: PresenceStore,
  readMessages: ReadMessages,
  resolve: Resolver = systemResolver,
): Notifications {
  narrowLog(DELETES_THAT_CONCERN_NOTIFICATIONS);
  const repo = new NotificationsRepository(db);
  const changes = new NotificationChangesRepository(db);
  const subscriptions = new PushSubscriptionsService(repo, config, resolve);
  let worker: OutboxWorker | undefined;
  let consumer: LogConsumer | undefined;
  return {
    name: 'notifications',
    subscriptions,
    routes: (api) => api.register(notificationsRoutes, { subscriptions }),
    // Batched: notifications wait NOTIFY_COALESCE_MS anyway, so 50 ms more lets a burst of sends share one transaction.
    subscribers: (bus) => {
      const off = [
        bus.on('message.created', () => consumer?.wakeWithin(50)),
        // Edits, pins and unpins are published alike: only an edit that newly mentions someone was logged for us.
        bus.on('message.updated', ({ newMentions }) => void (newMentions.length > 0 && consumer?.wakeWithin(50))),
        bus.on('message.deleted', () => consumer?.wakeWithin(50)),
      ];
      return () => off.forEach((unsubscribe) => unsubscribe());
    },
    async start(log) {
      const vapid = config.notify.vapid;
      if (vapid?.generated)
        log.info(
          { file: `${config.dataDir}/vapid-keys.json` },
          'development VAPID keys in use (set VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY/VAPID_SUBJECT in production)',
        );
      if (!vapid) log.info({}, 'Web Push is off: no VAPID keys configured');
      // Nothing could be delivered: the log stops keeping messages for notifications (the deployment turned them off).
      if (!notificationsEnabled(config.notify)) return new EventLogRepository(db).unregister(NOTIFICATIONS_CONSUMER);
      const outbox = new OutboxWorker(repo, changes, presence, config.notify, readMessages, log, resolve);
      const queueing = new LogConsumer(db, {
        name: NOTIFICATIONS_CONSUMER,
        types: notificationEvents(config.notify),
        handle: notificationHandler({ repo, changes }, presence, config.notify, readMessages, (ms) => outbox.wake(ms)),
        log,
      });
      [worker, consumer] = [outbox, queueing];
      // What a previous run left in the log is queued first, so a notification never leaves without messages it covers.
      await queueing.start();
      outbox.start();
    },
    async stop() {
      await consumer?.stop();
      await worker?.stop();
    },
  };
}
