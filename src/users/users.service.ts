import type { AuthContext } from '../auth/tokens.js';
import { BatchLoader } from '../batch-loader.js';
import type { OwnProfile, UsersRepository } from './users.repository.js';
import type { UpdateMeInput } from '../contract/users.js';

const CACHE_LIMIT = 50_000;

/**
 * Keeps each user's name, picture and role from the latest token seen. Writes only when they change, so an
 * authenticated request costs no database write in the common case. The user's own settings (showPresence) are set
 * only through PATCH /me; a token never changes them.
 */
export class UsersService {
  private readonly seen = new Map<string, string>();
  /** The latest profile of each user waiting for the write of this tick. */
  private readonly pending = new Map<string, AuthContext>();
  // New users arrive in bursts (a deploy reconnects everyone): the profiles of one tick are written in one statement.
  private readonly writes = new BatchLoader<string, true>(async (ids) => {
    const profiles = ids.map((id) => this.pending.get(id)!).map((a) => ({ id: a.userId, name: a.name, picture: a.picture, role: a.role }));
    for (const id of ids) this.pending.delete(id);
    await this.repo.upsertProfiles(profiles);
    return new Map(ids.map((id) => [id, true as const]));
  });

  constructor(private readonly repo: UsersRepository) {}

  async remember(auth: AuthContext): Promise<void> {
    const fingerprint = `${auth.name ?? ''}\u0000${auth.picture ?? ''}\u0000${auth.role}`;
    if (this.seen.get(auth.userId) === fingerprint) return;
    this.pending.set(auth.userId, auth);
    await this.writes.one(auth.userId);
    if (this.seen.size >= CACHE_LIMIT) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(auth.userId, fingerprint);
  }

  /** The caller's profile as stored (the authentication hook has just remembered it) and settings. */
  async me(auth: AuthContext): Promise<OwnProfile> {
    // The row exists once remember() ran; should it not (deleted by hand), the token's profile with defaults.
    return (await this.repo.findOwn(auth.userId)) ?? { userId: auth.userId, name: auth.name, picture: auth.picture, showPresence: true };
  }

  /**
   * Changes the caller's settings. Showing or hiding presence announces nothing by itself (as the contract says):
   * room mates see the change on their next GET /presence, and the next connect or disconnect is announced or not.
   */
  async update(auth: AuthContext, changes: UpdateMeInput): Promise<OwnProfile> {
    return this.repo.setShowPresence(auth.userId, changes.showPresence);
  }
}
