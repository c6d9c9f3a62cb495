import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { EventBus } from '../events.js';
import { systemResolver, type Resolver } from '../net/outbound.js';
import type { PresenceStore } from '../presence/presence.store.js';
import { NotificationsRepository } from './notifications.repository.js';
import { NotificationQueue, PushSubscriptionsService } from './notifications.service.js';
import { OutboxWorker, type Log } from './outbox.worker.js';

export { notificationsRoutes } from './notifications.routes.js';

export interface Notifications {
  subscriptions: PushSubscriptionsService;
  start(log: Log): void;
  /** After the last sends have been answered and before the database closes. */
  stop(): Promise<void>;
}

/**
 * Offline notifications: queue on message.created, send from the outbox (webhook and Web Push). `resolve` answers
 * for push endpoint hosts (tests answer without a network).
 */
export function createNotifications(
  config: Config,
  db: Db,
  bus: EventBus,
  presence: PresenceStore,
  resolve: Resolver = systemResolver,
): Notifications {
  const repo = new NotificationsRepository(db);
  let worker: OutboxWorker | undefined;
  let queue: NotificationQueue | undefined;
  let unsubscribe = () => {};
  return {
    subscriptions: new PushSubscriptionsService(repo, config, resolve),
    start(log) {
      worker = new OutboxWorker(repo, presence, config.notify, log, resolve);
      queue = new NotificationQueue(repo, presence, config.notify, log, (ms) => worker?.wake(ms));
      const vapid = config.notify.vapid;
      if (vapid?.generated)
        log.info(
          { file: `${config.dataDir}/vapid-keys.json` },
          'development VAPID keys in use (set VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY/VAPID_SUBJECT in production)',
        );
      if (!vapid) log.info({}, 'Web Push is off: no VAPID keys configured');
      if (!queue.enabled) return;
      unsubscribe = bus.on('message.created', (e) => queue?.onMessage(e));
      worker.start();
    },
    async stop() {
      unsubscribe();
      await queue?.drain();
      await worker?.stop();
    },
  };
}
