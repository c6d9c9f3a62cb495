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

  async upsertProfile(id: string, name: string | null, picture: string | null, role: string): Promise<void> {
    await this.db
      .insert(chatUser)
      .values({ id, name, picture, role })
      .onConflictDoUpdate({ target: chatUser.id, set: { name, picture, role, updatedAt: sql`now()` } });
  }

  async findMany(ids: string[]): Promise<UserProfile[]> {
    if (ids.length === 0) return [];
    return this.db
      .select({ id: chatUser.id, name: chatUser.name, picture: chatUser.picture, role: chatUser.role, lastSeenAt: chatUser.lastSeenAt })
      .from(chatUser)
      .where(inArray(chatUser.id, ids));
  }
}
