import type { Config } from '../config.js';
import type { Tx } from '../db/client.js';
import type { LoggedEvent } from '../event-log/event-log.repository.js';
import type { EventHandler } from '../event-log/log-consumer.js';
import type { PresenceStore } from '../presence/presence.store.js';
import type { Enqueued, NotificationsRepository } from './notifications.repository.js';
import { previewOf } from './notifications.service.js';

/** The consumer's name in the event log: its pending rows are kept under it, on every instance, across restarts. */
export const NOTIFICATIONS_CONSUMER = 'notifications';

/**
 * Messages as clients see them (the message presenter's views), by id. A notification shows what a client would: a
 * rule on what a message shows (a redaction, a tombstone) reaches the notifications through it, not around it.
 */
export type ReadMessages = (
  ids: string[],
) => Promise<Map<string, { mentions: string[]; content: string; media: ReadonlyArray<{ kind: string; fileName?: string }> }>>;

/** Off when neither channel exists: nothing could be delivered. */
export function notificationsEnabled(notify: Config['notify']): boolean {
  return Boolean(notify.webhookUrl || notify.vapid);
}

/**
 * Turns `message.created` events of the log into notifications for each participant who may need one: they join the
 * recipient's open notification in the outbox, where a worker on any instance takes it once its window has passed.
 * The outbox rows are written in the transaction that marks the events handled, so each event is queued once, and
 * one taken by a process that died is queued by the next.
 */
export function notificationHandler(
  repo: NotificationsRepository,
  presence: PresenceStore,
  notify: Config['notify'],
  readMessages: ReadMessages,
  /** Told, after the commit, how long until what was just queued falls due. */
  onQueued: (dueInMs: number) => void,
): EventHandler<Enqueued> {
  return {
    async plan(events: LoggedEvent[]) {
      const work = new Map<number, Enqueued>();
      const eventOf = new Map(
        events.flatMap((e) => (e.type === 'message.created' ? [[String(e.payload['messageId']), e.id] as const] : [])),
      );
      // Without a webhook, only users with a push subscription can be reached: the others need no row at all.
      const messages = (await repo.messagesToNotify([...eventOf.keys()], !notify.webhookUrl)).filter((m) => m.candidates.length > 0);
      if (messages.length === 0) return work;
      // Who is online now gets the message live; whether they are still online is asked again when the notification
      // leaves. Without an answer (Redis away), queue for everyone: the check when the notification leaves still applies.
      const online = await presence
        .live([...new Set(messages.flatMap((m) => m.candidates.map((c) => c.userId)))])
        .catch(() => new Set<string>());
      const offline = messages.flatMap((m) => {
        const recipients = m.candidates.filter((c) => !online.has(c.userId));
        return recipients.length > 0 ? [{ ...m, recipients }] : [];
      });
      // Only the messages someone is notified of are presented (fresh media URLs are signed for each).
      if (offline.length === 0) return work;
      const views = await readMessages(offline.map((m) => m.messageId));
      for (const { recipients, ...m } of offline) {
        const view = views.get(m.messageId);
        if (!view) continue;
        work.set(eventOf.get(m.messageId)!, {
          recipients,
          roomId: m.roomId,
          roomType: m.roomType,
          messageId: m.messageId,
          seq: Number(m.seq),
          senderId: m.senderId,
          preview: previewOf(view),
          mentions: view.mentions,
        });
      }
      return work;
    },
    async write(tx: Tx, work: Enqueued[]) {
      for (const e of work) await repo.enqueue(tx, e);
      return () => onQueued(notify.coalesceMs);
    },
  };
}
