import { and, eq, gte, isNull, lt, not, or, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { chatMessage, chatParticipant } from '../db/schema.js';
import type { MessageRow, MessagesRepository } from '../messages/messages.repository.js';
import type { MatchCondition } from './query.js';

export interface SearchFilter {
  /** Only rooms this user participates in. */
  userId: string;
  must: MatchCondition[];
  mustNot: MatchCondition[];
  roomId?: string | undefined;
  type?: string | undefined;
  senderId?: string | undefined;
  /** created_at >= from */
  from?: Date | undefined;
  /** created_at < to */
  to?: Date | undefined;
  hasMedia?: boolean | undefined;
  /** Keyset: ids below this one (ids are time-ordered, results newest first). */
  beforeId?: string | undefined;
  limit: number;
}

const matches = (m: MatchCondition): SQL => {
  const ts = sql`${chatMessage.searchDoc} @@ ${m.tsquery}::tsquery`;
  return m.like === null ? ts : or(ts, sql`${chatMessage.content} ilike ${m.like}`)!;
};

/**
 * Only rooms the user is in, as the list itself rather than a join: the planner then estimates the rows of those rooms
 * from the column's statistics and reads the text index once. As a semi-join it could loop over the rooms and repeat the
 * index scan in each (a CJK word over 61 rooms: 61 scans of 16k entries, 0.5-0.9 s instead of 25 ms).
 */
const inRooms = (roomIds: string[]): SQL => sql`${chatMessage.roomId} = any(${`{${roomIds.join(',')}}`}::uuid[])`;

/**
 * The messages of `roomIds` that match, live ones only: the text indexes hold no deleted message (migration 0019), so
 * the `deleted_at is null` here is also what lets the planner use them.
 */
export function searchWhere(roomIds: string[], f: SearchFilter): SQL {
  return and(
    inRooms(roomIds),
    isNull(chatMessage.deletedAt),
    ...f.must.map(matches),
    ...f.mustNot.map((m) => not(matches(m))),
    f.type === undefined ? undefined : eq(chatMessage.type, f.type),
    f.senderId === undefined ? undefined : eq(chatMessage.senderId, f.senderId),
    f.from === undefined ? undefined : gte(chatMessage.createdAt, f.from),
    f.to === undefined ? undefined : lt(chatMessage.createdAt, f.to),
    f.hasMedia === undefined ? undefined : eq(chatMessage.hasMedia, f.hasMedia),
    f.beforeId === undefined ? undefined : lt(chatMessage.id, f.beforeId),
  )!;
}

/** Which messages match, in SQL; the rows come from the messages module with the columns it presents. */
export class SearchRepository {
  constructor(
    readonly db: Executor,
    private readonly messages: MessagesRepository,
  ) {}

  /**
   * Matching messages newest first. With a statement timeout the query runs in a transaction of its own that sets it
   * (SET LOCAL: the pooled connection goes back without it), so PostgreSQL cancels a runaway search.
   */
  async search(f: SearchFilter, statementTimeoutMs?: number): Promise<MessageRow[]> {
    if (statementTimeoutMs === undefined) return this.find(this.db, this.messages, f);
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('statement_timeout', ${String(statementTimeoutMs)}, true)`);
      return this.find(tx, this.messages.with(tx), f);
    });
  }

  private async find(db: Executor, messages: MessagesRepository, f: SearchFilter): Promise<MessageRow[]> {
    const mine = eq(chatParticipant.userId, f.userId);
    const rooms = await db
      .select({ id: chatParticipant.roomId })
      .from(chatParticipant)
      .where(f.roomId === undefined ? mine : and(mine, eq(chatParticipant.roomId, f.roomId)));
    if (rooms.length === 0) return [];
    const roomIds = rooms.map((r) => r.id);
    return messages.newestMatching(searchWhere(roomIds, f), f.limit);
  }
}
