import { eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import { chatUser } from '../db/schema.js';

export interface UserProfile {
  id: string;
  name: string | null;
  picture: string | null;
  role: string;
  lastSeenAt: Date | null;
}

/** What GET /me answers: the profile of the latest token, and the user's own settings. */
export interface OwnProfile {
  userId: string;
  name: string | null;
  picture: string | null;
  showPresence: boolean;
}

/**
 * The profiles of new tokens, written in batches as their connections and requests arrive (a reconnect of every client
 * is a burst of them): prepared once per connection, with the profiles as one JSON array, so no batch size is a new
 * statement to parse and plan. An erased user (admin/) stays anonymous: a token they still hold does not name them again.
 */
const UPSERT_PROFILES = hotStatement<never>(
  'chat_upsert_profiles',
  ['jsonb'],
  (profiles) => sql`insert into chat_user (id, name, picture, role)
    select id, name, picture, role from jsonb_to_recordset(${profiles}) as i(id text, name text, picture text, role text)
    on conflict (id) do update set
      name = case when chat_user.erased_at is null then excluded.name end,
      picture = case when chat_user.erased_at is null then excluded.picture end,
      role = excluded.role,
      updated_at = now()`,
);

const ownColumns = { userId: chatUser.id, name: chatUser.name, picture: chatUser.picture, showPresence: chatUser.showPresence };

export class UsersRepository {
  constructor(private readonly db: Executor) {}

  /**
   * One statement for many users (ids distinct): each row is created or takes the given name, picture and role.
   * Settings (show_presence) are the user's own: a new token never resets them.
   */
  async upsertProfiles(profiles: Array<{ id: string; name: string | null; picture: string | null; role: string }>): Promise<void> {
    if (profiles.length === 0) return;
    await UPSERT_PROFILES(this.db, [JSON.stringify(profiles.map(({ id, name, picture, role }) => ({ id, name, picture, role })))]);
  }

  async findMany(ids: string[]): Promise<UserProfile[]> {
    if (ids.length === 0) return [];
    return this.db
      .select({ id: chatUser.id, name: chatUser.name, picture: chatUser.picture, role: chatUser.role, lastSeenAt: chatUser.lastSeenAt })
      .from(chatUser)
      .where(inArray(chatUser.id, ids));
  }

  async findOwn(id: string): Promise<OwnProfile | undefined> {
    const [row] = await this.db.select(ownColumns).from(chatUser).where(eq(chatUser.id, id));
    return row;
  }

  /** Creates the row if the user was never seen (a write may race the profile's first write), else updates it. */
  async setShowPresence(id: string, showPresence: boolean): Promise<OwnProfile> {
    const [row] = await this.db
      .insert(chatUser)
      .values({ id, showPresence })
      .onConflictDoUpdate({ target: chatUser.id, set: { showPresence, updatedAt: sql`now()` } })
      .returning(ownColumns);
    return row!;
  }
}
