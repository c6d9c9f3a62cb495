import type { AuthContext } from '../auth/tokens.js';
import { invalid } from '../errors.js';
import { BatchLoader } from '../batch-loader.js';
import type { EventBus } from '../events.js';
import type { PresenceRepository } from './presence.repository.js';
import type { PresenceStore } from './presence.store.js';

const MAX_QUERY_USERS = 200;

/**
 * Who is online. The first socket of a user anywhere announces them online; when the last one leaves, a grace
 * period starts, and if no socket came back by its end the user is announced offline with the time the socket left,
 * which is kept as lastSeenAt. A periodic sweep ends grace periods, so it works the same whichever instance (or
 * none, if it died) saw the socket leave.
 *
 * A user who hides their presence (showPresence false) is tracked the same way, and their lastSeenAt recorded, but
 * nothing is announced for them and others see them offline with no last-seen time. The setting is read when an
 * announcement is due (rare: a first socket, the end of a grace period), so a change applies from the next one.
 */
export class PresenceService {
  private readonly sweeper: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<unknown>>();
  // A deploy reconnects everyone at once: the settings of one burst of announcements are read in one statement.
  private readonly hiddenLoader = new BatchLoader<string, true>(
    async (ids) => new Map([...(await this.repo.hidden(ids))].map((id) => [id, true as const])),
  );

  constructor(
    private readonly repo: PresenceRepository,
    private readonly store: PresenceStore,
    private readonly bus: EventBus,
    private readonly graceMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    this.sweeper = setInterval(() => this.track(this.sweep()), Math.min(1000, Math.max(50, Math.floor(graceMs / 4))));
    this.sweeper.unref();
    this.track(this.store.tick(new Date()));
  }

  /**
   * A socket asks to connect: false (nothing counted) when the user already has `max` live sockets anywhere. Counted
   * in the handshake, atomically, so a burst of handshakes cannot overshoot; the caller must call disconnected() for
   * every admitted socket, connected in the end or not.
   */
  async admit(userId: string, max: number): Promise<boolean> {
    const { admitted, announce } = await this.store.join(userId, max);
    if (announce) {
      // A failed read of the setting announces nothing (tracked as an error): privacy over promptness.
      this.track(
        this.hiddenLoader.one(userId).then((hidden) => {
          if (!hidden) this.bus.publish('presence.online', { userId });
        }),
      );
    }
    return admitted;
  }

  disconnected(userId: string): void {
    const now = new Date();
    this.track(this.store.leave(userId, now, new Date(now.getTime() + this.graceMs)));
  }

  private async sweep(): Promise<void> {
    const now = new Date();
    await this.store.tick(now);
    const departures = await this.store.due(now);
    if (departures.length === 0) return;
    // Unknown settings (database down): no departure is announced rather than a hidden user's.
    const hidden = await this.hiddenLoader.get(departures.map((d) => d.userId)).catch((err: unknown) => {
      this.onError(err);
      return undefined;
    });
    for (const { userId, leftAt } of departures) {
      await this.repo.setLastSeen(userId, leftAt).catch(this.onError); // the announcement matters more than the stored time
      if (hidden && !hidden.has(userId)) this.bus.publish('presence.offline', { userId, lastSeenAt: leftAt.toISOString() });
    }
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch(this.onError).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /**
   * Online state of users who share a room with the caller; others are left out (no leak of who exists). A room mate
   * who hides their presence is offline with no last-seen time; the caller asking about themself gets the truth.
   */
  async query(
    auth: AuthContext,
    userIds: string[],
  ): Promise<{ data: Array<{ userId: string; online: boolean; lastSeenAt: string | null }> }> {
    const wanted = [...new Set(userIds.map((u) => u.trim()).filter(Boolean))];
    if (wanted.length === 0) throw invalid('userIds must name at least one user', '/userIds');
    if (wanted.length > MAX_QUERY_USERS) throw invalid(`at most ${MAX_QUERY_USERS} userIds`, '/userIds');
    const mates = new Map((await this.repo.roomMates(auth.userId, wanted)).map((m) => [m.userId, m]));
    const visible = wanted.filter((id) => mates.has(id));
    const shown = new Set(visible.filter((id) => mates.get(id)!.showPresence !== false || id === auth.userId));
    const online = await this.store.online([...shown]);
    return {
      data: visible.map((userId) =>
        shown.has(userId)
          ? { userId, online: online.has(userId), lastSeenAt: mates.get(userId)!.lastSeenAt?.toISOString() ?? null }
          : { userId, online: false, lastSeenAt: null },
      ),
    };
  }

  /** Waits for socket arrivals and departures in flight, then leaves the shared store (shutdown). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all(this.inFlight);
    await this.store.close();
  }
}
