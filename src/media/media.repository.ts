import { and, asc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import { queryRows, type Executor } from '../db/client.js';
import { onePer } from '../db/replicas.js';
import { chatMedia, mediaGarbage } from '../db/schema.js';

export type MediaRow = typeof chatMedia.$inferSelect;
export type NewMediaRow = typeof chatMedia.$inferInsert;
export interface StoredKeys {
  id: string;
  storageKey: string;
  thumbnailKey: string | null;
}

const keys = { id: chatMedia.id, storageKey: chatMedia.storageKey, thumbnailKey: chatMedia.thumbnailKey };

/**
 * How long a garbage row is left to the one who took it (the purge after a delete's commit, or a sweep) before a sweep
 * may try it again: long enough for a slow storage call, short enough that a crash in between delays little.
 */
export const GARBAGE_LEASE_S = 120;
/** A failed removal waits 30 s, then twice as long after each further failure, never more than an hour. */
export const GARBAGE_BACKOFF_BASE_S = 30;
export const GARBAGE_BACKOFF_MAX_S = 3600;

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

  /**
   * Lets go of a message's files for good, in the caller's transaction: its media rows are deleted and every object
   * key (files and thumbnails) is listed in media_garbage, one statement. Until the row is gone the key is unreadable
   * (the local file route asks `listedAsGarbage`) and the sweep retries it; the lease leaves the first try to the purge
   * that follows the commit. Returns the keys in the message's file order.
   */
  async eraseMessage(messageId: string): Promise<string[]> {
    const rows = await queryRows<{ storage_key: string; thumbnail_key: string | null }>(
      this.db,
      sql`with gone as (
            delete from ${chatMedia} where ${chatMedia.messageId} = ${messageId}
            returning ${chatMedia.storageKey}, ${chatMedia.thumbnailKey}, ${chatMedia.position}
          ),
          listed as (
            insert into ${mediaGarbage} (storage_key, next_attempt_at)
            select k, now() + make_interval(secs => ${GARBAGE_LEASE_S})
            from gone cross join lateral unnest(array[gone.storage_key, gone.thumbnail_key]) as k
            where k is not null
            on conflict do nothing
          )
          select storage_key, thumbnail_key from gone order by position`,
    );
    return rows.flatMap((r) => (r.thumbnail_key ? [r.storage_key, r.thumbnail_key] : [r.storage_key]));
  }

  /** True while `key` waits for its removal. Asked by every read of a local file, so one primary-key probe, prepared. */
  async listedAsGarbage(key: string): Promise<boolean> {
    const rows = await this.garbageProbe().execute({ key });
    return rows.length > 0;
  }

  private readonly garbageProbeQuery = onePer<ReturnType<MediaRepository['prepareGarbageProbe']>>();
  private garbageProbe() {
    return this.garbageProbeQuery(this.db, () => this.prepareGarbageProbe());
  }

  private prepareGarbageProbe() {
    return this.db
      .select({ one: sql<number>`1` })
      .from(mediaGarbage)
      .where(eq(mediaGarbage.storageKey, sql.placeholder('key')))
      .limit(1)
      .prepare('media_garbage_listed');
  }

  /**
   * Takes up to `limit` garbage rows that are due, the longest waiting first, and leases them (their next attempt moves
   * GARBAGE_LEASE_S ahead), so another instance sweeping at the same time skips them instead of trying them twice.
   */
  async claimDueGarbage(limit: number): Promise<string[]> {
    const rows = await queryRows<{ key: string; was: number }>(
      this.db,
      sql`with due as (
            select storage_key, next_attempt_at from ${mediaGarbage}
            where next_attempt_at <= now()
            order by next_attempt_at
            limit ${limit}
            for update skip locked
          )
          update ${mediaGarbage} as g set next_attempt_at = now() + make_interval(secs => ${GARBAGE_LEASE_S})
          from due where g.storage_key = due.storage_key
          returning g.storage_key as key, extract(epoch from due.next_attempt_at)::float8 as was`,
    );
    // RETURNING keeps no order of its own.
    return rows.sort((a, b) => a.was - b.was).map((r) => r.key);
  }

  /** The storage confirmed these objects gone: nothing is left to retry or to refuse. */
  async removeGarbage(storageKeys: string[]): Promise<void> {
    if (storageKeys.length === 0) return;
    await this.db.delete(mediaGarbage).where(inArray(mediaGarbage.storageKey, storageKeys));
  }

  /** A removal failed: counted, and the next try backed off (doubling from the base, capped). */
  async garbageFailed(storageKeys: string[]): Promise<void> {
    if (storageKeys.length === 0) return;
    // The exponent is capped too, so a key failing for weeks never overflows the interval arithmetic.
    const backoff = sql`least(${GARBAGE_BACKOFF_BASE_S} * power(2, least(${mediaGarbage.attempts}, 16)), ${GARBAGE_BACKOFF_MAX_S})`;
    await this.db
      .update(mediaGarbage)
      .set({ attempts: sql`${mediaGarbage.attempts} + 1`, nextAttemptAt: sql`now() + make_interval(secs => ${backoff})` })
      .where(inArray(mediaGarbage.storageKey, storageKeys));
  }
}
