import type { Config } from '../config.js';
import type { Log } from '../log.js';
import { cachingResolver, type DestinationPolicy, type Resolver } from '../net/outbound.js';
import type { PresenceStore } from '../presence/presence.store.js';
import { postWebhook, pushEndpointPolicy, pushTopic, sendPush, type Attempt, type Outcome } from './delivery.js';
import type { NotificationChangesRepository } from './changes.repository.js';
import { targetsOf, type ReadMessages } from './notifications.consumer.js';
import type { BatchRow, DeliveryRow, NotificationsRepository, RecipientState, SubscriptionRow } from './notifications.repository.js';
import type { DeliveryPayload, NotificationPayload } from './notifications.types.js';
import { previewOf, truncate } from './notifications.service.js';
import { Alarm } from '../timers.js';

/** The longest the worker sleeps: what peers (or a run before a restart) queued is found within this. */
const POLL_MS = 1000;
/** Shortest sleep when something is due but could not be taken (locked by a peer, or all delivery slots busy). */
const MIN_SLEEP_MS = 25;
const SATURATED_SLEEP_MS = 200;
/** A taken notification not released within this is retaken by another worker (ours died). */
const BATCH_LEASE_MS = 60_000;
const CLAIM_BATCHES = 100;
/** Deliveries under way at once, per instance. */
const MAX_IN_FLIGHT = 32;
/** Beyond its timeout, how long a delivery stays ours before another worker may try it. */
const LEASE_MARGIN_MS = 30_000;
const MAX_BACKOFF_MS = 60 * 60 * 1000;
/** A chat notification a day old is not worth showing: push services drop it after this. */
const PUSH_TTL_S = 24 * 60 * 60;
/** How many times a notification is looked at again when its messages are deleted while it leaves. */
const MAX_LOOKS = 3;
/** Who was notified of which message is kept this long (a week), for retracting it if it is deleted; then forgotten. */
const KEEP_SENT_MS = 7 * 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60_000;
const PRUNE_BATCH = 1000;

/**
 * Sends what the outbox holds. Every instance runs one; rows are taken with FOR UPDATE SKIP LOCKED and a lease, so each
 * notification is sent by one of them, and one that dies mid-way is picked up by another when its lease ends.
 * Delivery is at least once: a receiver de-duplicates by the notification `id`.
 */
export class OutboxWorker {
  private readonly alarm = new Alarm(() => this.run());
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private saturated = false;
  private readonly halt = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  /** Push endpoints are checked again at every send: the host's DNS answer may have changed since it was registered. */
  private readonly pushPolicy: DestinationPolicy;

  private nextPruneAt = 0;

  constructor(
    private readonly repo: NotificationsRepository,
    private readonly changes: NotificationChangesRepository,
    private readonly presence: PresenceStore,
    private readonly notify: Config['notify'],
    private readonly readMessages: ReadMessages,
    private readonly log: Log,
    resolve: Resolver,
  ) {
    // Checked at every push; the lookups behind the checks are shared (cachingResolver).
    this.pushPolicy = pushEndpointPolicy(notify, cachingResolver(resolve));
  }

  start(): void {
    this.stopped = false;
    this.wake(0);
  }

  /** Run in `delayMs` at the latest (an earlier wake-up stands). */
  wake(delayMs: number): void {
    if (!this.stopped) this.alarm.set(delayMs);
  }

  /** Stops taking work, cuts deliveries under way short (handed back, due at once), and waits for that to be written. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.alarm.clear();
    this.halt.abort();
    await this.running;
    await Promise.all(this.inFlight);
  }

  private run(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  private async loop(): Promise<void> {
    let sleep: number;
    do {
      this.again = false;
      try {
        await this.tick();
        if (Date.now() >= this.nextPruneAt) await this.prune();
        const due = await this.repo.nextDueInMs(this.notify.coalesceMs);
        // With every delivery slot busy, a due delivery cannot be taken anyway (the next one to finish wakes the
        // worker): poll gently, for notifications falling due, instead of spinning.
        const floor = this.saturated ? SATURATED_SLEEP_MS : MIN_SLEEP_MS;
        sleep = due === null ? POLL_MS : Math.min(POLL_MS, Math.max(floor, due));
      } catch (err) {
        // The database is away, most likely; nothing is lost (rows stay queued), so try again shortly.
        this.log.error({ err }, 'notification worker failed');
        sleep = POLL_MS;
      }
    } while (this.again && !this.stopped);
    this.wake(sleep);
  }

  private async tick(): Promise<void> {
    for (let full = true; full && !this.stopped;) {
      const batches = await this.repo.claimBatches(this.notify.coalesceMs, BATCH_LEASE_MS, CLAIM_BATCHES);
      if (batches.length) await this.release(batches);
      full = batches.length === CLAIM_BATCHES;
    }
    if (this.stopped) return;
    const room = MAX_IN_FLIGHT - this.inFlight.size;
    const deliveries = await this.repo.claimDeliveries(this.notify.timeoutMs + LEASE_MARGIN_MS, room);
    this.saturated = deliveries.length === room;
    if (deliveries.length === 0) return;
    const subs = await this.repo.subscriptionsByIds(deliveries.flatMap((d) => (d.subscriptionId ? [d.subscriptionId] : [])));
    const byId = new Map(subs.map((s) => [s.id, s]));
    for (const d of deliveries) this.track(this.deliver(d, d.subscriptionId ? byId.get(d.subscriptionId) : undefined));
  }

  private async prune(): Promise<void> {
    this.nextPruneAt = Date.now() + PRUNE_EVERY_MS;
    while (!this.stopped && (await this.changes.pruneSent(KEEP_SENT_MS, PRUNE_BATCH)) === PRUNE_BATCH);
  }

  /** Decides, at the moment each notification leaves, whether it still goes and what it says. */
  private async release(batches: BatchRow[]): Promise<void> {
    const online = await this.presence.live([...new Set(batches.map((b) => b.userId))]);
    for (const batch of batches) {
      try {
        await this.releaseOne(batch, online.has(batch.userId));
      } catch (err) {
        // Left claimed: the lease runs out and the notification is taken again.
        this.log.error({ err, notificationId: batch.id }, 'releasing a notification failed');
      }
    }
  }

  private async releaseOne(batch: BatchRow, online: boolean): Promise<void> {
    // Back online: the messages reach their sockets (and history on reconnect) — no notification.
    if (online) return this.repo.dropBatch(batch);
    // A message deleted between the look and the release sends the worker to look again.
    for (let look = 0; look < MAX_LOOKS; look++) {
      const state = await this.repo.recipientState(batch);
      const payload = state && (await this.payloadOf(batch, state));
      // Left the room, every covered message deleted, or read up to the latest meanwhile (another device, REST).
      if (!payload) return this.repo.dropBatch(batch);
      const outcome = await this.repo.release(batch, payload.messageIds, JSON.stringify(payload), targetsOf(this.notify));
      if (outcome !== 'changed') return;
    }
    // Left claimed: the lease runs out and the notification is looked at again.
    this.log.warn({ notificationId: batch.id }, 'the messages of a notification kept changing as it left; trying again later');
  }

  /**
   * The notification as it leaves, of the covered messages still there: a deleted one is not notified (nor counted),
   * and if the latest was deleted, the latest remaining one is previewed. Undefined: nothing is left to notify.
   */
  private async payloadOf(batch: BatchRow, state: RecipientState): Promise<NotificationPayload | undefined> {
    const latest = state.messages.at(-1);
    if (!latest || state.lastReadSeq >= latest.seq) return undefined;
    const gone = batch.messageIds.length - state.messages.length;
    let preview = batch.preview;
    if (latest.seq !== batch.lastSeq) {
      const view = state.hidePreviews ? undefined : (await this.readMessages([latest.id])).get(latest.id);
      preview = view ? previewOf(view) : '';
    }
    // Messages older than the ids kept are not looked at: a mention among them still counts.
    const untracked = batch.count > batch.messageIds.length;
    return {
      id: batch.id,
      event: 'message.new',
      userId: batch.userId,
      chatRoomId: batch.roomId,
      roomType: batch.roomType,
      senderId: latest.senderId,
      senderName: truncate(latest.senderName ?? latest.senderId, 100),
      count: Math.max(state.messages.length, batch.count - gone),
      mentioned: state.messages.some((m) => m.mentionsRecipient) || (untracked && batch.mentioned),
      preview,
      unreadCount: state.unreadCount,
      messageIds: state.messages.map((m) => m.id),
    };
  }

  private track(p: Promise<void>): void {
    const tracked = p
      .catch((err: unknown) => this.log.error({ err }, 'notification delivery failed'))
      .finally(() => {
        this.inFlight.delete(tracked);
        if (this.saturated) this.wake(0);
      });
    this.inFlight.add(tracked);
  }

  private async deliver(d: DeliveryRow, sub: SubscriptionRow | undefined): Promise<void> {
    const n = this.notify;
    const attempt: Attempt = { timeoutMs: n.timeoutMs, stop: this.halt.signal };
    let outcome: Outcome;
    if (this.halt.signal.aborted) outcome = { kind: 'stopped' };
    else if (d.channel === 'webhook') {
      outcome =
        n.webhookUrl && n.webhookSecret
          ? await postWebhook(n.webhookUrl, n.webhookSecret, d.payload, attempt)
          : { kind: 'failed', reason: 'no webhook is configured now' };
    } else if (!sub) {
      return this.repo.deleteDelivery(d.id); // the subscription was removed meanwhile
    } else if (!n.vapid) {
      outcome = { kind: 'failed', reason: 'Web Push is not configured now' };
    } else {
      const p = JSON.parse(d.payload) as DeliveryPayload;
      const urgency = p.roomType === 'direct' || (p.event === 'message.new' && p.mentioned) ? 'high' : 'normal';
      outcome = await sendPush(
        sub,
        d.payload,
        n.vapid,
        { topic: pushTopic(p.chatRoomId), urgency, ttlS: PUSH_TTL_S },
        attempt,
        this.pushPolicy,
      );
    }
    await this.settle(d, outcome);
  }

  private async settle(d: DeliveryRow, outcome: Outcome): Promise<void> {
    const ctx = {
      notificationId: d.notificationId,
      channel: d.channel,
      subscriptionId: d.subscriptionId ?? undefined,
      attempts: d.attempts,
    };
    switch (outcome.kind) {
      case 'sent':
        return this.repo.deleteDelivery(d.id);
      case 'gone':
        this.log.info({ ...ctx, status: outcome.status }, 'push subscription expired or was unsubscribed; removed');
        return this.repo.forgetSubscription(d.subscriptionId!);
      case 'refused':
        this.log.warn(
          { ...ctx, reason: outcome.reason, destination: outcome.origin },
          'push endpoint refused as a destination; subscription removed',
        );
        return this.repo.forgetSubscription(d.subscriptionId!);
      case 'stopped':
        return this.repo.retryDelivery(d.id, 0, true);
      case 'failed':
        this.log.warn({ ...ctx, reason: outcome.reason }, 'notification refused; not retried');
        return this.repo.deleteDelivery(d.id);
      case 'retry': {
        if (d.attempts >= this.notify.maxAttempts) {
          this.log.warn({ ...ctx, reason: outcome.reason }, 'notification not delivered; giving up');
          return this.repo.deleteDelivery(d.id);
        }
        const delay = this.backoff(d.attempts, outcome.retryAfterMs);
        this.log.info({ ...ctx, reason: outcome.reason, retryInMs: Math.round(delay) }, 'notification delivery failed; will retry');
        await this.repo.retryDelivery(d.id, delay);
        this.wake(delay);
      }
    }
  }

  /** Doubling from the base, with jitter so that a receiver coming back is not hit by every retry at once. */
  private backoff(attempts: number, retryAfterMs: number | undefined): number {
    const exp = this.notify.retryBaseMs * 2 ** Math.min(attempts - 1, 30) * (0.8 + Math.random() * 0.4);
    return Math.min(MAX_BACKOFF_MS, Math.max(exp, retryAfterMs ?? 0));
  }
}
