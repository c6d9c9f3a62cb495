import type { Config } from '../config.js';
import type { Tx } from '../db/client.js';
import { MESSAGE_CREATED_PUSHABLE, type LoggedEvent } from '../event-log/event-log.repository.js';
import type { EventHandler } from '../event-log/log-consumer.js';
import { newId } from '../ids.js';
import type { PresenceStore } from '../presence/presence.store.js';
import type { Deletion, Edit, NotificationChangesRepository } from './changes.repository.js';
import type { Enqueued, MessageToNotify, NotificationsRepository, Targets } from './notifications.repository.js';
import { previewOf } from './notifications.service.js';
import type { RetractionPayload } from './notifications.types.js';

export { NOTIFICATIONS_CONSUMER } from './changes.repository.js';

/**
 * What the notifications read from the log: sends, edits that newly mention someone, deletes. With Web Push alone
 * (no notification webhook, which may notify anyone) only the sends into rooms where someone could get a push.
 */
export const notificationEvents = (notify: Config['notify']): string[] => [
  // Web Push alone: pushable rooms only. 'message.created' stays listed beside it, which this version's send statement
  // reads as the narrower of the two but an earlier version's (which knows only 'message.created') as every send: in
  // a rolling upgrade, the instances not yet upgraded keep logging their sends for the notifications.
  ...(notify.webhookUrl ? ['message.created'] : ['message.created', MESSAGE_CREATED_PUSHABLE]),
  'message.edited',
  'message.deleted',
];

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

export const targetsOf = (notify: Config['notify']): Targets => ({ webhook: Boolean(notify.webhookUrl), push: Boolean(notify.vapid) });

/** What handling one event writes: the message joins notifications, or a deleted message leaves them (and is retracted). */
type Work = { kind: 'notify'; note: Enqueued } | { kind: 'deleted'; messageId: string; roomId: string; seq: number; roomType: string };

interface Repos {
  repo: NotificationsRepository;
  changes: NotificationChangesRepository;
}

/**
 * Turns events of the log into notifications. A sent message, or an edit that newly mentions someone, joins the open
 * notification of each participant who may need one, in the outbox, where a worker on any instance takes it once its
 * window has passed. A deleted message leaves the open notifications, and each user it was already notified to gets
 * `message.retracted`. What an event needs is written in the transaction that marks it handled, so each event is
 * handled once, and one taken by a process that died is handled by the next.
 */
export function notificationHandler(
  { repo, changes }: Repos,
  presence: PresenceStore,
  notify: Config['notify'],
  readMessages: ReadMessages,
  /** Told, after the commit, how long until what was just queued falls due. */
  onQueued: (dueInMs: number) => void,
): EventHandler<Work> {
  return {
    async plan(events: LoggedEvent[]) {
      const work = new Map<number, Work>();
      const created = events.flatMap((e) => (e.type === 'message.created' ? [[String(e.payload['messageId']), e.id] as const] : []));
      const eventOf = new Map(created);
      const edits: Edit[] = events.flatMap((e) =>
        e.type === 'message.edited'
          ? [{ eventId: e.id, messageId: String(e.payload['messageId']), newMentions: (e.payload['newMentions'] as string[]) ?? [] }]
          : [],
      );
      // Without a webhook, only users with a push subscription can be reached: the others need no row at all.
      const withSubscription = !notify.webhookUrl;
      const toNotify = [
        ...(await repo.messagesToNotify([...eventOf.keys()], withSubscription)).map((m) => ({ ...m, eventId: eventOf.get(m.messageId)! })),
        ...(await changes.editsToNotify(edits, withSubscription)),
      ];
      for (const [eventId, note] of await notesFor(toNotify, presence, readMessages)) work.set(eventId, { kind: 'notify', note });
      for (const [eventId, deletion] of await deletionsOf(events, changes)) work.set(eventId, deletion);
      return new Map([...work].sort(([a], [b]) => a - b));
    },
    async write(tx: Tx, work: Work[]) {
      let retracted = 0;
      for (const w of work) {
        if (w.kind === 'notify') await repo.enqueue(tx, w.note);
        else retracted += await retract(tx, { repo, changes }, w, targetsOf(notify));
      }
      // A retraction is due at once; a notification once its window has passed.
      return () => onQueued(retracted > 0 ? 0 : notify.coalesceMs);
    },
  };
}

/**
 * The notifications the messages need, by event id: to the candidates offline now. Who is online now gets the
 * message live; whether they are still online is asked again when the notification leaves. Without an answer (Redis
 * away), queue for everyone: the check when the notification leaves still applies.
 */
async function notesFor(
  messages: Array<MessageToNotify & { eventId: number }>,
  presence: PresenceStore,
  readMessages: ReadMessages,
): Promise<Map<number, Enqueued>> {
  const notes = new Map<number, Enqueued>();
  const candidates = messages.filter((m) => m.candidates.length > 0);
  if (candidates.length === 0) return notes;
  const online = await presence
    .live([...new Set(candidates.flatMap((m) => m.candidates.map((c) => c.userId)))])
    .catch(() => new Set<string>());
  const offline = candidates.flatMap((m) => {
    const recipients = m.candidates.filter((c) => !online.has(c.userId));
    return recipients.length > 0 ? [{ ...m, recipients }] : [];
  });
  // Only the messages someone is notified of are presented (fresh media URLs are signed for each).
  if (offline.length === 0) return notes;
  const views = await readMessages([...new Set(offline.map((m) => m.messageId))]);
  for (const { recipients, eventId, ...m } of offline) {
    const view = views.get(m.messageId);
    if (!view) continue;
    notes.set(eventId, {
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
  return notes;
}

/** The deletes that concern the notifications (a notification open or sent for the message), by event id. */
async function deletionsOf(events: LoggedEvent[], changes: NotificationChangesRepository): Promise<Map<number, Work>> {
  const deletes = events.flatMap((e) =>
    e.type === 'message.deleted'
      ? [{ eventId: e.id, messageId: String(e.payload['messageId']), roomId: String(e.payload['roomId']), seq: Number(e.payload['seq']) }]
      : [],
  );
  const roomTypes = await changes.deletionsToHandle(deletes.map(({ messageId, roomId }): Deletion => ({ messageId, roomId })));
  const work = new Map<number, Work>();
  for (const { eventId, ...d } of deletes) {
    const roomType = roomTypes.get(d.messageId);
    if (roomType) work.set(eventId, { kind: 'deleted', ...d, roomType });
  }
  return work;
}

/** The deleted message leaves the open notifications; each user it was notified to is sent `message.retracted`. */
async function retract(tx: Tx, { repo, changes }: Repos, d: Extract<Work, { kind: 'deleted' }>, targets: Targets): Promise<number> {
  await changes.removeFromOutbox(tx, d.roomId, d.messageId, d.seq);
  const users = await changes.takeNotified(tx, d.messageId);
  const notes = users.map((userId) => {
    const payload: RetractionPayload = {
      id: newId(),
      event: 'message.retracted',
      userId,
      chatRoomId: d.roomId,
      roomType: d.roomType,
      messageIds: [d.messageId],
    };
    return { userId, notificationId: payload.id, payload: JSON.stringify(payload) };
  });
  return notes.length ? repo.queueDeliveries(tx, notes, targets) : 0;
}
