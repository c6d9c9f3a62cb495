import type { AuthContext } from '../auth/tokens.js';
import type { EventBus } from '../events.js';
import { invalid } from '../rooms/rooms.access.js';
import type { PresenceRepository } from './presence.repository.js';
import type { PresenceStore } from './presence.store.js';

const MAX_QUERY_USERS = 200;

/**
 * Who is online. The first socket of a user anywhere announces them online; when the last one leaves, a grace
 * period starts, and if no socket came back by its end the user is announced offline with the time the socket left,
 * which is kept as lastSeenAt. A periodic sweep ends grace periods, so it works the same whichever instance (or
 * none, if it died) saw the socket leave.
 */
export class PresenceService {
  private readonly sweeper: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<unknown>>();

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

  connected(userId: string): void {
    this.track(
      this.store.join(userId).then((announce) => {
        if (announce) this.bus.publish('presence.online', { userId });
      }),
    );
  }

  disconnected(userId: string): void {
    const now = new Date();
    this.track(this.store.leave(userId, now, new Date(now.getTime() + this.graceMs)));
  }

  private async sweep(): Promise<void> {
    const now = new Date();
    await this.store.tick(now);
    for (const { userId, leftAt } of await this.store.due(now)) {
      await this.repo.setLastSeen(userId, leftAt).catch(this.onError); // the announcement matters more than the stored time
      this.bus.publish('presence.offline', { userId, lastSeenAt: leftAt.toISOString() });
    }
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.catch(this.onError).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /** Online state of users who share a room with the caller; others are left out (no leak of who exists). */
  async query(auth: AuthContext, userIds: string[]): Promise<{ data: Array<{ userId: string; online: boolean; lastSeenAt: string | null }> }> {
    const wanted = [...new Set(userIds.map((u) => u.trim()).filter(Boolean))];
    if (wanted.length === 0) throw invalid('userIds must name at least one user', '/userIds');
    if (wanted.length > MAX_QUERY_USERS) throw invalid(`at most ${MAX_QUERY_USERS} userIds`, '/userIds');
    const mates = new Map((await this.repo.roomMates(auth.userId, wanted)).map((m) => [m.userId, m.lastSeenAt]));
    const visible = wanted.filter((id) => mates.has(id));
    const online = await this.store.online(visible);
    return { data: visible.map((userId) => ({ userId, online: online.has(userId), lastSeenAt: mates.get(userId)?.toISOString() ?? null })) };
  }

  /** Waits for socket arrivals and departures in flight, then leaves the shared store (shutdown). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all(this.inFlight);
    await this.store.close();
  }
}
