import type { AuthContext } from '../auth/tokens.js';
import { BatchLoader } from '../batch-loader.js';
import type { UsersRepository } from './users.repository.js';

const CACHE_LIMIT = 50_000;

/**
 * Keeps each user's name, picture and role from the latest token seen. Writes only when they change, so an
 * authenticated request costs no database write in the common case.
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
}
