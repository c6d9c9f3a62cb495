import type { AuthContext } from '../auth/tokens.js';
import type { EventBus } from '../events.js';
import { invalid } from '../rooms/rooms.access.js';
import type { PresenceRepository } from './presence.repository.js';

const MAX_QUERY_USERS = 200;

/**
 * Who is online: live sockets counted per user on this instance. The first socket announces the user online; the
 * last one leaving starts a grace period, after which (if no socket came back) the user is announced offline with
 * the time the socket left, and that time is kept as lastSeenAt.
 */
export class PresenceService {
  private readonly sockets = new Map<string, number>();
  private readonly pendingOffline = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly repo: PresenceRepository,
    private readonly bus: EventBus,
    private readonly graceMs: number,
  ) {}

  connected(userId: string): void {
    const count = (this.sockets.get(userId) ?? 0) + 1;
    this.sockets.set(userId, count);
    const pending = this.pendingOffline.get(userId);
    if (pending) {
      // Back within the grace period: nobody was told they left, so nobody is told they are back.
      clearTimeout(pending);
      this.pendingOffline.delete(userId);
      return;
    }
    if (count === 1) this.bus.publish('presence.online', { userId });
  }

  disconnected(userId: string): void {
    const count = (this.sockets.get(userId) ?? 1) - 1;
    if (count > 0) {
      this.sockets.set(userId, count);
      return;
    }
    this.sockets.delete(userId);
    const leftAt = new Date();
    const timer = setTimeout(() => {
      this.pendingOffline.delete(userId);
      void this.repo
        .setLastSeen(userId, leftAt)
        .catch(() => {}) // the announcement matters more than the stored time
        .then(() => this.bus.publish('presence.offline', { userId, lastSeenAt: leftAt.toISOString() }));
    }, this.graceMs);
    timer.unref();
    this.pendingOffline.set(userId, timer);
  }

  isOnline(userId: string): boolean {
    return this.sockets.has(userId) || this.pendingOffline.has(userId);
  }

  /** Online state of users who share a room with the caller; others are left out (no leak of who exists). */
  async query(auth: AuthContext, userIds: string[]): Promise<{ data: Array<{ userId: string; online: boolean; lastSeenAt: string | null }> }> {
    const wanted = [...new Set(userIds.map((u) => u.trim()).filter(Boolean))];
    if (wanted.length === 0) throw invalid('userIds must name at least one user', '/userIds');
    if (wanted.length > MAX_QUERY_USERS) throw invalid(`at most ${MAX_QUERY_USERS} userIds`, '/userIds');
    const mates = new Map((await this.repo.roomMates(auth.userId, wanted)).map((m) => [m.userId, m.lastSeenAt]));
    const data = wanted
      .filter((id) => mates.has(id))
      .map((userId) => ({ userId, online: this.isOnline(userId), lastSeenAt: mates.get(userId)?.toISOString() ?? null }));
    return { data };
  }

  /** Stops pending offline timers (shutdown). */
  close(): void {
    for (const t of this.pendingOffline.values()) clearTimeout(t);
    this.pendingOffline.clear();
  }
}
