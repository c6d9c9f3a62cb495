import { sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import { MAX_REACTION_KEYS_PER_MESSAGE } from '../contract/reactions.js';
import { REPLY_PREVIEW_CODE_POINTS } from '../contract/messages.js';
import {
  blockedInDirectRoom,
  isParticipant,
  listed,
  loggedChange,
  messageRowOf,
  type MessageRow,
  type RawMessage,
} from '../messages/index.js';

/** The message as locked (no deleted_at: a tombstone is refused), beside what the statement did. */
type ReactRow = Omit<RawMessage, 'id' | 'deleted_at' | 'change_seq' | 'reactions'> & {
  ok: number;
  moved: number;
  change_seq: number | string | null;
  reactions: Array<{ emoji: string; count: number }> | string | null;
  own: string[] | null;
  id: string | null;
};

/**
 * A reaction added or removed in one statement, as a send is written: the message locked (NO KEY UPDATE, as every
 * change), the caller's membership, the tombstone and the 50-emoji cap checked under that lock, the reaction row
 * written (the unique key makes a repeat a no-op), and only if a row moved: the summary and the room's next changeSeq.
 * It answers the message as locked (with its reply preview) and the caller's reactions before this one, so the answer
 * needs nothing read back. `ok = 0`: not allowed as asked (not a participant, a block in a direct room, deleted, at
 * the cap, or no such message) — the caller takes the ordinary path, which tells which.
 */
export const REACT = hotStatement<ReactRow>('chat_react', ['uuid', 'text', 'text', 'boolean'], (messageId, userId, emoji, add) => {
  const known = sql`exists (select 1 from jsonb_array_elements(ok.reactions) e where e->>'emoji' = ${emoji})`;
  const counted = (delta: number) =>
    sql`(select coalesce(jsonb_agg(case when e->>'emoji' = ${emoji} then jsonb_build_object('emoji', e->>'emoji', 'count', (e->>'count')::int + ${sql.raw(String(delta))}) else e end order by i), '[]'::jsonb)
         from jsonb_array_elements(ok.reactions) with ordinality as x(e, i)
         where ${delta < 0 ? sql`not (e->>'emoji' = ${emoji} and (e->>'count')::int <= 1)` : sql`true`})`;
  return sql`with target as materialized (
        select m.* from chat_message m
        where m.id = ${messageId}
          and ${isParticipant(sql`m.room_id`, userId)}
          and not ${blockedInDirectRoom(sql`m.room_id`, userId)}
        for no key update of m),
      ok as materialized (
        select t.* from target t
        where t.deleted_at is null
          and (not ${add} or jsonb_array_length(t.reactions) < ${sql.raw(String(MAX_REACTION_KEYS_PER_MESSAGE))}
               or exists (select 1 from jsonb_array_elements(t.reactions) e where e->>'emoji' = ${emoji}))),
      own as materialized (
        select coalesce(array_agg(r.emoji), '{}') as emojis from chat_reaction r join ok on r.message_id = ok.id where r.user_id = ${userId}),
      added as (
        insert into chat_reaction (message_id, emoji, user_id) select id, ${emoji}, ${userId} from ok where ${add}
        on conflict do nothing returning message_id),
      removed as (
        delete from chat_reaction r using ok
        where not ${add} and r.message_id = ok.id and r.emoji = ${emoji} and r.user_id = ${userId}
        returning r.message_id),
      moved as materialized (select message_id from added union all select message_id from removed),
      summary as (
        select case when ${add} then (case when ${known} then ${counted(1)}
                                          else ok.reactions || jsonb_build_array(jsonb_build_object('emoji', ${emoji}, 'count', 1)) end)
                    else ${counted(-1)} end as reactions
        from ok where exists (select 1 from moved)),
      room as (
        update chat_room r set last_change_seq = r.last_change_seq + 1
        from ok where r.id = ok.room_id and exists (select 1 from moved)
        returning r.last_change_seq),
      -- change_seq alone moves (no indexed column): the message is listed in chat_message_change (messages/change-index.ts).
      updated as (
        update chat_message m set reactions = s.reactions, change_seq = room.last_change_seq
        from room, summary s, ok where m.id = ok.id and m.room_id = ok.room_id
        returning m.id, m.room_id, m.change_seq, m.reactions),
      ${listed(sql`updated`)},
      ${loggedChange(
        sql`(case when ${add} then 'reaction.added' else 'reaction.removed' end)`,
        sql`jsonb_build_object('chatRoomId', ok.room_id, 'messageId', ok.id, 'userId', ${userId}::text, 'emoji', ${emoji}::text)`,
      )}
      select (select count(*) from ok)::int as ok, (select count(*) from moved)::int as moved,
        coalesce((select change_seq from updated), ok.change_seq) as change_seq,
        coalesce((select reactions from updated), ok.reactions) as reactions,
        (select emojis from own) as own,
        ok.id, ok.room_id, ok.seq, ok.sender_id, ok.type, ok.content, ok.mentions, ok.client_message_id, ok.has_media,
        ok.created_at, ok.edited_at, ok.deleted_by, ok.pinned_at, ok.pinned_by,
        rp.id as reply_id, rp.seq as reply_seq, rp.sender_id as reply_sender_id, rp.type as reply_type,
        rp.deleted_at as reply_deleted_at, left(rp.content, ${sql.raw(String(REPLY_PREVIEW_CODE_POINTS))}) as reply_content
      from (select 1) one
      left join ok on true
      left join chat_message rp on rp.room_id = ok.room_id and rp.seq = ok.reply_to_seq`;
});

export interface Reacted {
  row: MessageRow;
  moved: boolean;
  /** The caller's reactions on the message before this one. */
  ownBefore: string[];
}

/** undefined: not allowed as asked (see REACT); the caller's ordinary path says why. */
export async function reactInOneStatement(
  db: Executor,
  messageId: string,
  userId: string,
  emoji: string,
  add: boolean,
): Promise<Reacted | undefined> {
  const [r] = await REACT(db, [messageId, userId, emoji, add]);
  if (!r || Number(r.ok) === 0 || r.id === null) return undefined;
  const reactions = typeof r.reactions === 'string' ? (JSON.parse(r.reactions) as MessageRow['reactions']) : (r.reactions ?? []);
  return {
    moved: Number(r.moved) > 0,
    ownBefore: r.own ?? [],
    // The message as locked: live (a tombstone is refused), with the summary this statement wrote.
    row: messageRowOf({ ...r, id: r.id, deleted_at: null, change_seq: r.change_seq ?? 0, reactions }),
  };
}
