import { sql, type SQL } from 'drizzle-orm';

/*
 * Where the change log finds a message (GET /rooms/:id/changes, CHANGES_AFTER): at its base_change_seq in
 * chat_message_base_change_idx while that equals its change_seq, else at its change_seq in chat_message_change. A write
 * that moves indexed columns anyway (a send, an edit, a delete, a pin) moves base_change_seq with change_seq; a reaction
 * moves change_seq alone, so its update touches no indexed column and PostgreSQL can make it a HOT update (migration
 * 0020). Every statement that moves a change_seq runs these parts, under the message's row lock, so a message has a
 * row in chat_message_change exactly when its change_seq is past its base_change_seq.
 */

/**
 * The set-clause part of a write that moves indexed columns: base_change_seq follows the new change_seq (`to`). Its
 * entry in chat_message_change, if a reaction left one, goes with `unlisted`.
 */
export const baseFollows = (to: SQL): SQL => sql`base_change_seq = ${to}`;

/**
 * A CTE dropping the chat_message_change rows of messages a write moves back to their base: `ids` is a relation with
 * an `id` column, one row per changed message (most have no row; the probe of the primary key finds none). Only
 * statements whose snapshot holds the message as locked run it (a delete does not see a row committed after its
 * snapshot): one that locks first and writes in a later statement, or a one-statement change that writes only when
 * the row is unchanged since.
 */
export const unlisted = (ids: SQL): SQL => sql`unlisted as (delete from chat_message_change c using ${ids} b where c.message_id = b.id)`;

/**
 * A CTE listing messages a reaction moved: `after` is a relation of (id, room_id, change_seq), their new positions.
 * An upsert, so a row a concurrent reaction committed after this statement's snapshot is moved, not left behind.
 */
export const listed = (after: SQL): SQL =>
  sql`listed as (
        insert into chat_message_change (message_id, room_id, change_seq) select a.id, a.room_id, a.change_seq from ${after} a
        on conflict (message_id) do update set room_id = excluded.room_id, change_seq = excluded.change_seq)`;
