import { webhookSignature } from '../net/signature.js';
import type { WebhooksConfig } from '../config/webhooks.js';
import type { Log } from '../log.js';
import { checkDestination, DestinationRefused, postTo, type DestinationPolicy } from '../net/outbound.js';
import type { ClaimedDelivery, DeliveryQueueRepository, SettledDelivery } from './delivery-queue.repository.js';
import { Alarm, LoopAllowance } from '../timers.js';

/** The longest the sender sleeps: deliveries written by peers, or left by a crashed one, are found within this. */
const POLL_MS = 1000;
/**
 * Attempts under way at once on this instance, in all and per webhook: a slow receiver holds at most its own share.
 * Only the oldest pending event of a room goes at a time, so the per-webhook bound matters when many rooms are busy.
 */
const MAX_IN_FLIGHT = 256;
const MAX_PER_WEBHOOK = 64;
/**
 * Events of one (webhook, room) taken together behind its head and sent one after the other, each once the one before
 * was answered 2xx: a busy room's order costs one claim per run instead of a claim and a settle wait per event.
 */
const RUN_LENGTH = 32;
/** Attempts settled in one transaction at most; those that end while one is being written wait for the next. */
const SETTLE_BATCH = 200;
/** Beyond the timeout, how long a taken delivery stays this instance's before another may try it (ours died). */
const LEASE_MARGIN_MS = 30_000;
const MAX_BACKOFF_MS = 60 * 60 * 1000;
/** Delivered and failed deliveries are kept a week for the deliveries log, then deleted in batches. */
const KEEP_MS = 7 * 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60_000;
const PRUNE_BATCH = 1000;

type Outcome = { ok: true; status: number } | { ok: false; status: number | null; error: string } | { ok: 'stopped' };

/**
 * Sends what webhook_delivery holds, on every instance. A claim takes the oldest pending delivery of each (webhook,
 * room) that is due, so a room's events go out one after the other in order, while other rooms and other webhooks go
 * on in parallel: a dead receiver only delays its own deliveries. Delivery is at least once (receivers de-duplicate by
 * the body's `id`): a crash after the POST and before the row is marked sends it again.
 */
export class WebhookSender {
  private readonly alarm = new Alarm(() => this.run());
  /**
   * Deliveries yield to live traffic: while the event loop runs late, fewer attempts start. Never fewer than 32: a room's
   * events go one at a time, each after a POST and a settle (10-20 ms on a loaded box), so rooms in parallel are what
   * keeps pace with a steady stream; with 4 the sender fell behind 1,000 events/s for good and its lag grew without end.
   */
  private readonly allowance = new LoopAllowance(32, MAX_IN_FLIGHT, 20);
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private readonly halt = new AbortController();
  private readonly inFlight = new Map<Promise<void>, string>();
  private readonly policy: DestinationPolicy;
  private nextPruneAt = 0;
  private readonly settling: Array<{ done: SettledDelivery; resolve: () => void; reject: (err: unknown) => void }> = [];
  private flushing = false;
  /** When this instance's own retries fall due: the sleep after a run ends at the earliest (a wake-up may replace another). */
  private retryTimes: number[] = [];

  constructor(
    private readonly repo: DeliveryQueueRepository,
    private readonly config: WebhooksConfig,
    private readonly log: Pick<Log, 'info' | 'warn' | 'error'>,
    policy: DestinationPolicy,
    /** False while no webhook exists: the sender then only looks again at the poll. */
    private readonly active: () => boolean,
  ) {
    this.policy = policy;
  }

  start(): void {
    this.stopped = false;
    this.wake(0);
  }

  /** Run in `delayMs` at the latest (an earlier wake-up stands). */
  wake(delayMs = 0): void {
    if (!this.stopped) this.alarm.set(delayMs);
  }

  /** Stops taking work and cuts attempts under way short: they are handed back, due at once, for any instance. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.alarm.clear();
    this.allowance.stop();
    this.halt.abort();
    await this.running;
    await Promise.all(this.inFlight.keys());
  }

  private run(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
      const now = Date.now();
      this.retryTimes = this.retryTimes.filter((at) => at > now);
      this.wake(this.again ? 0 : Math.min(POLL_MS, ...this.retryTimes.map((at) => at - now)));
    });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      // The loop is measured only while some webhook exists: an idle service keeps no 10 ms timer for it.
      if (!this.active()) return this.allowance.stop();
      this.allowance.start();
      try {
        await this.tick();
        if (Date.now() >= this.nextPruneAt) await this.prune();
      } catch (err) {
        // The database is away, most likely: nothing is lost (rows stay pending); the poll tries again.
        this.log.error({ err }, 'webhook sender failed');
        return;
      }
    } while (this.again && !this.stopped);
  }

  private async tick(): Promise<void> {
    const busy: Record<string, number> = {};
    for (const w of this.inFlight.values()) busy[w] = (busy[w] ?? 0) + 1;
    const allowed = this.allowance.value;
    const room = allowed - this.inFlight.size;
    const leaseMs = this.config.timeoutMs + LEASE_MARGIN_MS;
    const heads = await this.repo.claim(room, Math.min(MAX_PER_WEBHOOK, allowed), busy, leaseMs);
    const followers = await this.repo.claimFollowers(heads, RUN_LENGTH - 1, leaseMs);
    const queue = (d: ClaimedDelivery) => `${d.webhookId}/${d.roomId ?? ''}`;
    const runs = new Map(heads.map((h) => [queue(h), [h]]));
    for (const f of followers) runs.get(queue(f))?.push(f);
    for (const run of runs.values()) this.track(run[0]!.webhookId, this.attemptRun(run, Date.now() + leaseMs / 2));
  }

  /**
   * A queue's run, in order: the next goes once the one before was answered 2xx and settled (written, so a crash never
   * sends an acknowledged event again). A failure, a shutdown or half the lease spent ends the run; the rows not tried
   * are handed back untouched (their attempt was never counted).
   */
  private async attemptRun(run: ClaimedDelivery[], stopBy: number): Promise<void> {
    let untried = 0;
    try {
      for (const [i, d] of run.entries()) {
        if (untried > 0 && (this.halt.signal.aborted || Date.now() >= stopBy)) break;
        untried++;
        if (!(await this.attempt(d, run[i + 1]?.id))) break;
      }
    } finally {
      await this.repo.unclaim(run.slice(untried).map((d) => d.id));
    }
  }

  private async prune(): Promise<void> {
    this.nextPruneAt = Date.now() + PRUNE_EVERY_MS;
    while (!this.stopped && (await this.repo.prune(KEEP_MS, PRUNE_BATCH)) === PRUNE_BATCH);
    if (await this.repo.repairQueues()) this.wake(0);
  }

  private track(webhookId: string, p: Promise<void>): void {
    const tracked: Promise<void> = p
      .catch((err: unknown) => this.log.error({ err, webhookId }, 'webhook delivery failed'))
      .finally(() => {
        this.inFlight.delete(tracked);
        // Its room's next event may go now, or a slot is free.
        this.wake(0);
      });
    this.inFlight.set(tracked, webhookId);
  }

  /**
   * One attempt; true when delivered (and settled), false when the run must stop (handed back, retried or given up).
   * `next`: the run's next row. A delivery's settle names it, as the run goes on to it (the settle hands nothing over);
   * a run that stops names none, and its settle or `unclaim` hands its queue over.
   */
  private async attempt(d: ClaimedDelivery, next: number | undefined): Promise<boolean> {
    const outcome = await this.post(d);
    if (outcome.ok === 'stopped') {
      await this.repo.release(d.id, d.attempts);
      return false;
    }
    if (outcome.ok) {
      await this.settle({ delivery: d, delivered: true, statusCode: outcome.status, next });
      return true;
    }
    // Counted from when the event was queued for this webhook: a backlog behind a dead receiver drains once it is old.
    const giveUp = Date.now() - d.createdAt.getTime() >= this.config.retryForS * 1000;
    const ctx = { webhookId: d.webhookId, eventId: d.eventId, attempts: d.attempts, error: outcome.error };
    if (giveUp) {
      this.log.warn(ctx, 'webhook delivery given up');
      await this.settle({ delivery: d, delivered: false, statusCode: outcome.status, error: outcome.error });
      return false;
    }
    const delay = this.backoff(d.attempts);
    this.log.info({ ...ctx, retryInMs: Math.round(delay) }, 'webhook delivery failed; will retry');
    await this.repo.retryLater(d.id, d.attempts, outcome.status, outcome.error, delay);
    this.retryTimes.push(Date.now() + delay);
    this.wake(delay);
    return false;
  }

  /**
   * Settles with whatever else ended meanwhile: one transaction for many attempts, so a busy webhook costs the database
   * a fraction of a write per event. Resolves once this one is written (its room's next event is due then).
   */
  private settle(done: SettledDelivery): Promise<void> {
    return new Promise((resolve, reject) => {
      this.settling.push({ done, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.settling.length > 0) {
        const batch = this.settling.splice(0, SETTLE_BATCH);
        try {
          await this.repo.settle(batch.map((b) => b.done));
          for (const b of batch) b.resolve();
        } catch (err) {
          // Not written: the rows stay pending under their lease and are tried again once it runs out.
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Full jitter: anywhere up to base·2^(attempts−1), at most an hour, so receivers coming back are not hit in waves. */
  private backoff(attempts: number): number {
    return Math.random() * Math.min(MAX_BACKOFF_MS, this.config.retryBaseMs * 2 ** Math.min(attempts - 1, 30));
  }

  /** One POST to the address the URL resolves to now (checked again: a DNS answer may have changed since creation). */
  private async post(d: ClaimedDelivery): Promise<Outcome> {
    if (this.halt.signal.aborted) return { ok: 'stopped' };
    let dest;
    try {
      dest = await checkDestination(d.url, this.policy);
    } catch (err) {
      if (err instanceof DestinationRefused) return { ok: false, status: null, error: `destination refused: the URL ${err.message}` };
      throw err;
    }
    try {
      const res = await postTo(dest, {
        headers: {
          'content-type': 'application/json',
          'user-agent': 'chat-service',
          'x-chat-signature': webhookSignature(d.secret, d.body),
          'x-chat-event-id': d.eventId,
          'x-chat-attempt': String(d.attempts),
        },
        body: d.body,
        stop: this.halt.signal,
        timeoutMs: this.config.timeoutMs,
      });
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      return { ok: false, status: res.status, error: `HTTP ${res.status}` };
    } catch (err) {
      if (this.halt.signal.aborted) return { ok: 'stopped' };
      const e = err as { name?: string; code?: string; message?: string; cause?: { name?: string } };
      const timedOut = e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError';
      return {
        ok: false,
        status: null,
        error: timedOut ? `no answer within ${this.config.timeoutMs} ms` : (e.code ?? e.message ?? 'request failed'),
      };
    }
  }
}
