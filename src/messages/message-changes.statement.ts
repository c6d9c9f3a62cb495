import { sql } from 'drizzle-orm';
import type { Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import { newId } from '../ids.js';
import { baseFollows, unlisted } from './change-index.js';
import type { Applied } from './message-changes.repository.js';
import { MESSAGE_SELECT, messageRowOf, REPLY_JOIN, type MessageRow, type RawMessage } from './messages.repository.js';
import { blockedInDirectRoom, isParticipant, loggedChange } from './write.statements.js';

/** The message as locked, beside what the statement did (ok = 0: nothing written). */
type ChangedRow = { [K in keyof RawMessage]: RawMessage[K] | null } & {
  ok: number;
  new_change_seq: number | string | null;
  at: Date | string | null;
  own: string[] | null;
  room_type: string | null;
};

/**
 * The locked row is the version this statement's snapshot holds: no change committed between the snapshot and the
 * lock. Every change that writes beside the message (a reaction, an earlier version) also writes the message row
 * under the same lock, so this also says the snapshot's reactions and versions are the current ones; otherwise the
 * statement writes nothing and the ordinary path, whose statements each read after the lock, does the change.
 */
const UNCHANGED_SINCE_SNAPSHOT = sql`t.locked_version = (select s.xmin::text from chat_message s where s.room_id = t.room_id and s.id = t.id)`;

/** What both statements answer: the message as it was locked (its reply preview too) and what the change wrote. */
const ANSWER = sql`select (select count(*) from ok)::int as ok, (select change_seq from room) as new_change_seq,
    now()::timestamptz(3) as at, (select room_type from room) as room_type,
    array(select x.emoji from chat_reaction x join ok on x.message_id = ok.id where x.user_id = ok.caller) as own,
    ${MESSAGE_SELECT}
  from (select 1) one left join ok m on true ${REPLY_JOIN}`;

/**
 * An edit by its sender in one statement, as a send and a reaction are written: the message locked (NO KEY UPDATE, as
 * every change), the caller's part in the room, a block in a direct room, the tombstone, the edit window and the
 * mentions checked under that lock, the version it replaces kept, the room's next changeSeq taken and the event logged.
 * Everything else (a stranger, a window passed, an empty text, no such message) writes nothing and answers ok = 0: the
 * service then takes the ordinary path, which tells which.
 */
export const EDIT = hotStatement<ChangedRow>(
  'chat_edit',
  ['uuid', 'text', 'text', 'tsvector', 'jsonb', 'timestamptz', 'uuid'],
  (messageId, userId, content, searchDoc, mentions, notBefore, versionId) => {
    const kind = sql`(case when cardinality(ok.new_mentions) > 0 then 'message.edited' else 'message.revised' end)`;
    return sql`with target as materialized (
        select m.*, m.xmin::text as locked_version from chat_message m
        where m.id = ${messageId} and m.sender_id = ${userId}
          and ${isParticipant(sql`m.room_id`, userId)}
          and not ${blockedInDirectRoom(sql`m.room_id`, userId)}
        for no key update of m),
      wanted as materialized (
        select t.*, case when ${mentions} is null then t.mentions
          else array(select e.x from jsonb_array_elements_text(${mentions}) with ordinality e(x, i) order by e.i) end as next_mentions
        from target t
        where t.deleted_at is null and (${notBefore} is null or t.created_at >= ${notBefore}) and ${UNCHANGED_SINCE_SNAPSHOT}),
      ok as materialized (
        select w.*, ${userId} as caller,
          -- Kept mentions are not checked again (someone mentioned who left since stays mentioned, as in the text).
          array(select n.x from unnest(w.next_mentions) with ordinality n(x, i)
                where not n.x = any(w.mentions) and n.x <> w.sender_id order by n.i) as new_mentions
        from wanted w
        where ${mentions} is null or not exists (
          select 1 from unnest(w.next_mentions) n(x)
          where not exists (select 1 from chat_participant p where p.room_id = w.room_id and p.user_id = n.x))),
      kept as (
        insert into chat_message_edit (id, message_id, content, mentions, edited_at)
        select ${versionId}, ok.id, ok.content, ok.mentions, now() from ok),
      room as (
        update chat_room r set last_change_seq = r.last_change_seq + 1 from ok where r.id = ok.room_id
        returning r.last_change_seq as change_seq, r.type as room_type),
      updated as (
        update chat_message m set content = ${content}, mentions = ok.next_mentions, search_doc = ${searchDoc},
          edited_at = now(), change_seq = room.change_seq, ${baseFollows(sql`room.change_seq`)}
        from ok, room where m.id = ok.id),
      ${unlisted(sql`ok`)},
      ${loggedChange(
        kind,
        sql`jsonb_build_object('messageId', ok.id, 'roomId', ok.room_id, 'senderId', ok.sender_id, 'roomType', room.room_type,
              'newMentions', to_jsonb(ok.new_mentions))`,
      )}
      ${ANSWER}`;
  },
);

/**
 * A delete by its sender in one statement: the message locked, the caller's part in the room checked, its reactions
 * and earlier versions erased, the row made a tombstone (its pin given back to the room's count) with the room's next
 * changeSeq, and the event logged. A message with files, a tombstone, anyone but its sender, or no such message: ok = 0,
 * and the ordinary path does it (files are listed for removal there) or tells why not.
 */
export const DELETE = hotStatement<ChangedRow>('chat_delete', ['uuid', 'text'], (messageId, userId) => {
  return sql`with target as materialized (
        select m.*, m.xmin::text as locked_version from chat_message m
        where m.id = ${messageId} and m.sender_id = ${userId}
          and ${isParticipant(sql`m.room_id`, userId)}
        for no key update of m),
      ok as materialized (
        select t.*, ${userId} as caller from target t where t.deleted_at is null and not t.has_media and ${UNCHANGED_SINCE_SNAPSHOT}),
      reactions_gone as (delete from chat_reaction x using ok where x.message_id = ok.id),
      versions_gone as (delete from chat_message_edit v using ok where v.message_id = ok.id),
      room as (
        update chat_room r set last_change_seq = r.last_change_seq + 1,
          pinned_count = greatest(0, r.pinned_count - (case when ok.pinned_at is null then 0 else 1 end))
        from ok where r.id = ok.room_id
        returning r.last_change_seq as change_seq, r.type as room_type),
      updated as (
        update chat_message m set content = '', mentions = '{}', search_doc = ''::tsvector, reactions = '[]'::jsonb,
          has_media = false, edited_at = null, pinned_at = null, pinned_by = null, deleted_at = now(), deleted_by = ${userId},
          change_seq = room.change_seq, ${baseFollows(sql`room.change_seq`)}
        from ok, room where m.id = ok.id),
      ${unlisted(sql`ok`)},
      ${loggedChange(sql`'message.deleted'`, sql`jsonb_build_object('messageId', ok.id, 'roomId', ok.room_id, 'seq', ok.seq)`)}
      ${ANSWER}`;
});

/** A change the statement made: the message as it was locked, what the change wrote, the caller's reactions, the room's type. */
export interface StatementChange {
  before: MessageRow;
  applied: Applied;
  ownEmoji: string[];
  roomType: string;
}

function changed(r: ChangedRow | undefined): StatementChange | undefined {
  if (!r || Number(r.ok) === 0 || r.id === null || r.new_change_seq === null) return undefined;
  return {
    before: messageRowOf(r as RawMessage),
    applied: { changeSeq: Number(r.new_change_seq), at: new Date(r.at!) },
    ownEmoji: r.own ?? [],
    roomType: r.room_type!,
  };
}

export interface EditStatementInput {
  content: string;
  searchDoc: string;
  /** Distinct, in the caller's order; undefined keeps the message's. */
  mentions: string[] | undefined;
  /** The oldest creation time still editable; null when edits have no window. */
  notBefore: Date | null;
}

/** undefined: not written (see EDIT); the ordinary path says why, or does it. */
export async function editInOneStatement(
  db: Executor,
  messageId: string,
  userId: string,
  input: EditStatementInput,
): Promise<StatementChange | undefined> {
  const [r] = await EDIT(db, [
    messageId,
    userId,
    input.content,
    input.searchDoc,
    input.mentions === undefined ? null : JSON.stringify(input.mentions),
    input.notBefore?.toISOString() ?? null,
    newId(),
  ]);
  return changed(r);
}

/** undefined: not written (see DELETE); the ordinary path says why, or does it. */
export async function deleteInOneStatement(db: Executor, messageId: string, userId: string): Promise<StatementChange | undefined> {
  const [r] = await DELETE(db, [messageId, userId]);
  return changed(r);
}
