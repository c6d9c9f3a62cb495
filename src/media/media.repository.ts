import { and, asc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { chatMedia } from '../db/schema.js';

export type MediaRow = typeof chatMedia.$inferSelect;
export type NewMediaRow = typeof chatMedia.$inferInsert;
export interface StoredKeys {
  id: string;
  storageKey: string;
  thumbnailKey: string | null;
}

const keys = { id: chatMedia.id, storageKey: chatMedia.storageKey, thumbnailKey: chatMedia.thumbnailKey };

export class MediaRepository {
  constructor(private readonly db: Executor) {}

  with(tx: Executor): MediaRepository {
    return new MediaRepository(tx);
  }

  async insertMany(rows: NewMediaRow[]): Promise<MediaRow[]> {
    if (rows.length === 0) return [];
    return this.db.insert(chatMedia).values(rows).returning();
  }

  /**
   * Attaches pending uploads of `uploaderId` in `roomId` to a message, in the order of `ids`. Only rows matching every
   * condition are taken; the caller compares the count. The row lock makes a concurrent claim or sweep of the same
   * row wait, and then find it no longer pending.
   */
  async claim(ids: string[], roomId: string, uploaderId: string, messageId: string): Promise<MediaRow[]> {
    if (ids.length === 0) return [];
    const order = sql`array_position(array[${sql.join(
      ids.map((id) => sql`${id}`),
      sql`, `,
    )}]::uuid[], ${chatMedia.id}) - 1`;
    const rows = await this.db
      .update(chatMedia)
      .set({ messageId, position: order })
      .where(
        and(inArray(chatMedia.id, ids), eq(chatMedia.roomId, roomId), eq(chatMedia.uploaderId, uploaderId), isNull(chatMedia.messageId)),
      )
      .returning();
    return rows.sort((a, b) => a.position - b.position);
  }

  /** The pending uploads among `ids` of `uploaderId` in `roomId`, in the order of `ids` (no lock: a pre-check). */
  async findPending(ids: string[], roomId: string, uploaderId: string): Promise<MediaRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .select()
      .from(chatMedia)
      .where(
        and(inArray(chatMedia.id, ids), eq(chatMedia.roomId, roomId), eq(chatMedia.uploaderId, uploaderId), isNull(chatMedia.messageId)),
      );
    return rows.sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
  }

  async byMessageIds(messageIds: string[]): Promise<MediaRow[]> {
    if (messageIds.length === 0) return [];
    return this.db
      .select()
      .from(chatMedia)
      .where(inArray(chatMedia.messageId, messageIds))
      .orderBy(asc(chatMedia.messageId), asc(chatMedia.position));
  }

  /** Removes pending uploads created before `before`, oldest first, at most `limit`; returns what to delete from storage. */
  async deletePendingBefore(before: Date, limit: number): Promise<StoredKeys[]> {
    const oldest = this.db
      .select({ id: chatMedia.id })
      .from(chatMedia)
      .where(and(isNull(chatMedia.messageId), lt(chatMedia.createdAt, before)))
      .orderBy(asc(chatMedia.createdAt))
      .limit(limit);
    return this.db
      .delete(chatMedia)
      .where(and(inArray(chatMedia.id, oldest), isNull(chatMedia.messageId)))
      .returning(keys);
  }

  /** Removes the given pending uploads of one uploader (a message that failed after its files were stored). */
  async deletePending(ids: string[], uploaderId: string): Promise<StoredKeys[]> {
    if (ids.length === 0) return [];
    return this.db
      .delete(chatMedia)
      .where(and(inArray(chatMedia.id, ids), eq(chatMedia.uploaderId, uploaderId), isNull(chatMedia.messageId)))
      .returning(keys);
  }
}
