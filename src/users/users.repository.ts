import { inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { chatUser } from '../db/schema.js';

export interface UserProfile {
  id: string;
  name: string | null;
  picture: string | null;
  role: string;
  lastSeenAt: Date | null;
}

export class UsersRepository {
  constructor(private readonly db: Executor) {}

  /** One statement for many users (ids distinct): each row is created or takes the given name, picture and role. */
  async upsertProfiles(profiles: Array<{ id: string; name: string | null; picture: string | null; role: string }>): Promise<void> {
    if (profiles.length === 0) return;
    await this.db
      .insert(chatUser)
      .values(profiles)
      .onConflictDoUpdate({
        target: chatUser.id,
        set: { name: sql`excluded.name`, picture: sql`excluded.picture`, role: sql`excluded.role`, updatedAt: sql`now()` },
      });
  }

  async findMany(ids: string[]): Promise<UserProfile[]> {
    if (ids.length === 0) return [];
    return this.db
      .select({ id: chatUser.id, name: chatUser.name, picture: chatUser.picture, role: chatUser.role, lastSeenAt: chatUser.lastSeenAt })
      .from(chatUser)
      .where(inArray(chatUser.id, ids));
  }
}
