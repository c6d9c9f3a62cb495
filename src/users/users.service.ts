import type { AuthContext } from '../auth/tokens.js';
import type { UsersRepository } from './users.repository.js';

const CACHE_LIMIT = 50_000;

/**
 * Keeps each user's name, picture and role from the latest token seen. Writes only when they change, so an
 * authenticated request costs no database write in the common case.
 */
export class UsersService {
  private readonly seen = new Map<string, string>();

  constructor(private readonly repo: UsersRepository) {}

  async remember(auth: AuthContext): Promise<void> {
    const fingerprint = `${auth.name ?? ''}\u0000${auth.picture ?? ''}\u0000${auth.role}`;
    if (this.seen.get(auth.userId) === fingerprint) return;
    await this.repo.upsertProfile(auth.userId, auth.name, auth.picture, auth.role);
    if (this.seen.size >= CACHE_LIMIT) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(auth.userId, fingerprint);
  }
}
