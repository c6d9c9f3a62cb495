import { and, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { queryRows, type Executor } from '../db/client.js';
import { chatMessage, chatMessageEdit, chatParticipant, chatReaction, chatRoom } from '../db/schema.js';
import { newId } from '../ids.js';
import { hotStatement } from '../db/prepared.js';
import { baseFollows, unlisted } from './change-index.js';
import {
  MESSAGE_SELECT,
  messageColumns,
  messageRowOf,
  REPLY_JOIN,
  reply,
  type MessageRow,
  type RawMessage,
} from './messages.repository.js';

/**
 * A page of the change log with the room's last_change_seq, from one snapshot: the room's row always, its messages
 * changed after `after` (none: one row of nulls beside the room's position). Every client's catch-up pages through
 * it, so it is prepared once per connection and mapped by hand (the ORM's row mapping was a third of a page's CPU).
 */
export const CHANGES_AFTER = hotStatement<{ last_change_seq: number | string } & { [K in keyof RawMessage]: RawMessage[K] | null }>(
  'chat_changes_after',
  ['uuid', 'bigint', 'int'],
  // Two ordered reads merged: messages at their base position (change_seq = base_change_seq) and those a reaction
  // moved, listed in chat_message_change (messages/change-index.ts); each is one range of its index.
  (roomId, after, limit) => sql`select cr.last_change_seq, ${MESSAGE_SELECT}
    from chat_room cr left join (
      (select m.* from chat_message m
        where m.room_id = ${roomId} and m.base_change_seq > ${after} and m.change_seq = m.base_change_seq
        order by m.base_change_seq limit ${limit})
      union all
      (select m.* from chat_message_change c join chat_message m on m.room_id = c.room_id and m.id = c.message_id
        where c.room_id = ${roomId} and c.change_seq > ${after} and m.change_seq = c.change_seq
        order by c.change_seq limit ${limit})) m on true
    ${REPLY_JOIN}
    where cr.id = ${roomId} order by m.change_seq asc limit ${limit}`,
);

type RoomRow = typeof chatRoom.$inferSelect;
type ParticipantRow = typeof chatParticipant.$inferSelect;

/** A message locked for a change, with its room and the caller's part in it (for the policy). */
export interface LockedMessage {
  row: MessageRow;
  room: RoomRow;
  participant: ParticipantRow | null;
  /** The emoji the caller reacted to the message with (for `me` in the answer). */
  ownEmoji: string[];
}

/** What a change writes on the message row besides its change_seq (column name → value). */
export type ChangeSet = Partial<{
  content: string;
  mentions: string[];
  searchDoc: string;
  editedAt: 'now' | null;
  deletedAt: 'now';
  deletedBy: string;
  pinnedAt: 'now' | null;
  pinnedBy: string | null;
  reactions: Array<{ emoji: string; count: number }>;
  hasMedia: boolean;
}>;

/** What a delete for everyone writes: the same by the one-statement path (DELETE) and the ordinary one. */
export const tombstoneSet = (deletedBy: string): ChangeSet => ({
  content: '',
  mentions: [],
  searchDoc: '',
  reactions: [],
  hasMedia: false,
  editedAt: null,
  pinnedAt: null,
  pinnedBy: null,
  deletedAt: 'now',
  deletedBy,
});

const COLUMN: Record<keyof ChangeSet, string> = {
  content: 'content',
  mentions: 'mentions',
  searchDoc: 'search_doc',
  editedAt: 'edited_at',
  deletedAt: 'deleted_at',
  deletedBy: 'deleted_by',
  pinnedAt: 'pinned_at',
  pinnedBy: 'pinned_by',
  reactions: 'reactions',
  hasMedia: 'has_media',
};

function assignment(key: keyof ChangeSet, value: unknown): SQL {
  const column = sql.raw(COLUMN[key]);
  if (value === 'now') return sql`${column} = now()`;
  if (value === null) return sql`${column} = null`;
  // As JSON: the driver would spread an array into a list of parameters.
  if (key === 'mentions') return sql`${column} = array(select jsonb_array_elements_text(${JSON.stringify(value)}::jsonb))`;
  if (key === 'searchDoc') return sql`${column} = ${value as string}::tsvector`;
  if (key === 'reactions') return sql`${column} = ${JSON.stringify(value)}::jsonb`;
  return sql`${column} = ${value as string | boolean}`;
}

/** Which live messages of a room a batch of tombstones (purge, erase, retention) takes. */
export interface TombstoneFilter {
  senderId?: string;
  fromSeq?: number;
  throughSeq?: number;
}

/** A live message locked for a batch of tombstones. */
export interface LiveMessage {
  id: string;
  seq: number;
  hasMedia: boolean;
  pinned: boolean;
}

/** One message a batch turned into a tombstone. */
export interface TombstoneRow {
  id: string;
  seq: number;
  changeSeq: number;
}

/** What a change wrote: the message's new change_seq and the times the database set. */
export interface Applied {
  changeSeq: number;
  at: Date;
}

/**
 * The SQL of changes to existing messages. Every change first locks the message row (NO KEY UPDATE, which the reply
 * foreign-key checks of concurrent sends do not wait on), then takes the room's next change_seq under the room row's
 * lock, like a send: so changes of a room commit in change_seq order, and a change racing a delete sees the tombstone.
 */
export class MessageChangesRepository {
  constructor(private readonly db: Executor) {}

  with(tx: Executor): MessageChangesRepository {
    return new MessageChangesRepository(tx);
  }

  async lock(messageId: string, userId: string): Promise<LockedMessage | undefined> {
    const [found] = await this.db
      .select({
        row: messageColumns,
        room: chatRoom,
        participant: chatParticipant,
        ownEmoji: sql<
          string[]
        >`array(select r.emoji from chat_reaction r where r.message_id = ${chatMessage.id} and r.user_id = ${userId})`,
      })
      .from(chatMessage)
      .innerJoin(chatRoom, eq(chatRoom.id, chatMessage.roomId))
      .leftJoin(reply, and(eq(reply.roomId, chatMessage.roomId), eq(reply.seq, chatMessage.replyToSeq)))
      .leftJoin(chatParticipant, and(eq(chatParticipant.roomId, chatMessage.roomId), eq(chatParticipant.userId, userId)))
      .where(eq(chatMessage.id, messageId))
      .for('no key update', { of: chatMessage });
    return found && { row: found.row as MessageRow, room: found.room, participant: found.participant, ownEmoji: found.ownEmoji };
  }

  /**
   * Writes `set` and the room's next change_seq on the message, in one statement. `pins` moves the room's pinned count;
   * with `maxPins`, a pin beyond it changes nothing and answers undefined.
   */
  async apply(row: MessageRow, set: ChangeSet, pins = 0, maxPins = 2_147_483_647): Promise<Applied | undefined> {
    const assignments = Object.entries(set).map(([k, v]) => assignment(k as keyof ChangeSet, v));
    const [applied] = await queryRows<{ change_seq: number; at: Date | string }>(
      this.db,
      sql`with room as (
            update chat_room set last_change_seq = last_change_seq + 1, pinned_count = greatest(0, pinned_count + ${pins}::int)
            where id = ${row.roomId} and (${pins}::int <= 0 or pinned_count + ${pins}::int <= ${maxPins}::int)
            returning last_change_seq),
          -- Every change set writes an indexed column (text, pin, tombstone): the message moves in the change log's index.
          ${unlisted(sql`(select ${row.id}::uuid as id from room)`)}
          update chat_message m set ${sql.join(
            [...assignments, sql`change_seq = room.last_change_seq`, baseFollows(sql`room.last_change_seq`)],
            sql`, `,
          )}
          from room where m.id = ${row.id}
          -- Rounded as the timestamp(3) columns round it: the answer shows exactly what every later read shows.
          returning m.change_seq, now()::timestamptz(3) as at`,
    );
    return applied && { changeSeq: Number(applied.change_seq), at: new Date(applied.at) };
  }

  /** Keeps the version an edit replaces; `editedAt` is the edit's own time (the transaction's now()). */
  async keepVersion(row: MessageRow): Promise<void> {
    await this.db.insert(chatMessageEdit).values({
      id: newId(),
      messageId: row.id,
      content: row.content,
      mentions: row.mentions,
      editedAt: sql`now()`,
    });
  }

  /** What a delete erases besides the row's own columns: the message's reactions and earlier versions. */
  async eraseTraces(messageId: string): Promise<void> {
    await this.db.delete(chatReaction).where(eq(chatReaction.messageId, messageId));
    await this.db.delete(chatMessageEdit).where(eq(chatMessageEdit.messageId, messageId));
  }

  /**
   * Locks up to `limit` live messages of a room matching `filter`, lowest seq first: the order every batch takes its
   * locks in, and the same lock a single change takes (so a batch and a single delete of one message queue, never both
   * write it).
   */
  async lockLive(roomId: string, filter: TombstoneFilter, limit: number): Promise<LiveMessage[]> {
    const rows = await queryRows<{ id: string; seq: number | string; has_media: boolean; pinned: boolean }>(
      this.db,
      sql`select id, seq, has_media, pinned_at is not null as pinned from chat_message
          where room_id = ${roomId} and deleted_at is null
            ${filter.senderId === undefined ? sql`` : sql`and sender_id = ${filter.senderId}`}
            ${filter.fromSeq === undefined ? sql`` : sql`and seq >= ${filter.fromSeq}`}
            ${filter.throughSeq === undefined ? sql`` : sql`and seq <= ${filter.throughSeq}`}
          order by seq limit ${limit}
          for no key update`,
    );
    return rows.map((r) => ({ id: r.id, seq: Number(r.seq), hasMedia: r.has_media, pinned: r.pinned }));
  }

  /**
   * Turns locked messages (`lockLive`, in seq order) into tombstones as a delete does, in one statement: the room's
   * last_change_seq moves by their count under its row lock, so they get one contiguous range of change_seqs, in seq
   * order. Their reactions and earlier versions go first.
   */
  async tombstone(
    roomId: string,
    live: LiveMessage[],
    deletedBy: string,
  ): Promise<{ rows: TombstoneRow[]; at: Date; lastChangeSeq: number }> {
    const ids = live.map((m) => m.id);
    await this.db.delete(chatReaction).where(inArray(chatReaction.messageId, ids));
    await this.db.delete(chatMessageEdit).where(inArray(chatMessageEdit.messageId, ids));
    const n = live.length;
    const pinned = live.filter((m) => m.pinned).length;
    const input = JSON.stringify(live.map((m, i) => ({ id: m.id, ord: i + 1 })));
    const rows = await queryRows<{
      id: string;
      seq: number | string;
      change_seq: number | string;
      at: Date | string;
      last: number | string;
    }>(
      this.db,
      sql`with room as (
            update chat_room set last_change_seq = last_change_seq + ${n}::int, pinned_count = greatest(0, pinned_count - ${pinned}::int)
            where id = ${roomId} returning last_change_seq),
          input as (select * from jsonb_to_recordset(${input}::jsonb) as i(id uuid, ord int)),
          ${unlisted(sql`input`)}
          update chat_message m set content = '', mentions = '{}', search_doc = ''::tsvector, reactions = '[]'::jsonb,
            has_media = false, edited_at = null, pinned_at = null, pinned_by = null, deleted_at = now(), deleted_by = ${deletedBy},
            change_seq = room.last_change_seq - ${n}::int + i.ord, ${baseFollows(sql`room.last_change_seq - ${n}::int + i.ord`)}
          from room, input i where m.id = i.id
          returning m.id, m.seq, m.change_seq, now()::timestamptz(3) as at, room.last_change_seq as last`,
    );
    rows.sort((a, b) => Number(a.change_seq) - Number(b.change_seq));
    return {
      rows: rows.map((r) => ({ id: r.id, seq: Number(r.seq), changeSeq: Number(r.change_seq) })),
      at: new Date(rows[0]!.at),
      lastChangeSeq: Number(rows[0]!.last),
    };
  }

  async versions(messageId: string): Promise<Array<{ content: string; mentions: string[]; editedAt: Date }>> {
    return this.db
      .select({ content: chatMessageEdit.content, mentions: chatMessageEdit.mentions, editedAt: chatMessageEdit.editedAt })
      .from(chatMessageEdit)
      .where(eq(chatMessageEdit.messageId, messageId))
      .orderBy(desc(chatMessageEdit.editedAt), desc(chatMessageEdit.id));
  }

  /**
   * The change log of a room: messages whose latest change is after `after`, ascending, at most `limit`, and the room's
   * last_change_seq — in one statement, so one snapshot: a row changed again meanwhile is never skipped, and no row goes
   * past the answer's last_change_seq.
   */
  async changesAfter(roomId: string, after: number, limit: number): Promise<{ rows: MessageRow[]; lastChangeSeq: number } | undefined> {
    const found = await CHANGES_AFTER(this.db, [roomId, after, limit]);
    if (found.length === 0) return undefined;
    const rows = found.flatMap((f) => (f.id === null ? [] : [messageRowOf(f as RawMessage)]));
    return { rows, lastChangeSeq: Number(found[0]!.last_change_seq) };
  }
}
