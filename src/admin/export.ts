import { sql } from 'drizzle-orm';
import { anyOf, queryRows, type Executor } from '../db/client.js';

/** Rows read per query: the document is written page by page, never held whole. */
const PAGE = 500;

type Row = Record<string, unknown>;

/** Dates as ISO strings (PGlite gives Date, node-postgres too for timestamptz; text stays text). */
function clean(row: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = v instanceof Date ? v.toISOString() : v;
  return out;
}

/**
 * The JSON document of everything stored about a user (GET /admin/users/:userId/export), as a sequence of text
 * chunks: each list is read by keyset pages, so memory stays bounded by one page whatever the user's history.
 */
export async function* exportUser(db: Executor, userId: string): AsyncGenerator<string> {
  const [user] = await queryRows<Row>(
    db,
    sql`select id, name, picture, role, show_presence as "showPresence", last_seen_at as "lastSeenAt", erased_at as "erasedAt"
        from chat_user where id = ${userId}`,
  );
  yield `{"exportedAt":${JSON.stringify(new Date().toISOString())},"user":${JSON.stringify(clean(user ?? { id: userId }))}`;

  yield* list(
    'rooms',
    pages<{ room_id: string }>((after) =>
      queryRows(
        db,
        sql`select p.room_id as "roomId", r.type, r.name, p.role, p.joined_at as "joinedAt", p.last_read_seq as "lastReadSeq",
            p.last_read_at as "lastReadAt", p.last_delivered_seq as "lastDeliveredSeq", p.last_delivered_at as "lastDeliveredAt",
            p.muted, p.muted_until as "mutedUntil", p.hide_previews as "hidePreviews", p.room_id
          from chat_participant p join chat_room r on r.id = p.room_id
          where p.user_id = ${userId} ${after ? sql`and p.room_id > ${after.room_id}` : sql``}
          order by p.room_id limit ${PAGE}`,
      ),
    ),
    ['room_id'],
  );

  yield* list('messages', messagePages(db, userId), ['room_id']);

  yield* list(
    'reactions',
    pages<{ message_id: string; emoji: string }>((after) =>
      queryRows(
        db,
        sql`select r.message_id as "messageId", m.room_id as "roomId", r.emoji, r.created_at as "createdAt", r.message_id
          from chat_reaction r join chat_message m on m.id = r.message_id
          where r.user_id = ${userId} ${after ? sql`and (r.message_id, r.emoji) > (${after.message_id}::uuid, ${after.emoji})` : sql``}
          order by r.message_id, r.emoji limit ${PAGE}`,
      ),
    ),
    ['message_id'],
  );

  yield* list(
    'reads',
    pages<{ room_id: string; kind: string; upToSeq: number }>((after) =>
      queryRows(
        db,
        sql`select room_id as "roomId", kind, up_to_seq as "upToSeq", at, room_id
          from message_read_receipt
          where user_id = ${userId}
            ${after ? sql`and (room_id, kind, up_to_seq) > (${after.room_id}::uuid, ${after.kind}, ${after.upToSeq})` : sql``}
          order by room_id, kind, up_to_seq limit ${PAGE}`,
      ),
    ),
    ['room_id'],
  );

  yield* list(
    'reports',
    once(() =>
      queryRows(
        db,
        sql`select id, message_id as "messageId", room_id as "roomId", reason, details, status, action, created_at as "createdAt",
            resolved_at as "resolvedAt" from message_report where reporter_id = ${userId} order by created_at, id`,
      ),
    ),
  );
  yield* list(
    'blocks',
    once(() =>
      queryRows(
        db,
        sql`select blocked_id as "userId", created_at as "createdAt" from user_block where blocker_id = ${userId} order by created_at`,
      ),
    ),
  );
  // The endpoint is the user's browser's address at its push service; the keys are secrets of that channel, not data about them.
  yield* list(
    'pushSubscriptions',
    once(() =>
      queryRows(
        db,
        sql`select id, endpoint, expires_at as "expiresAt", created_at as "createdAt", updated_at as "updatedAt"
          from push_subscription where user_id = ${userId} order by created_at`,
      ),
    ),
  );
  const [suspension] = await queryRows<Row>(
    db,
    sql`select until, reason, created_at as "createdAt" from user_suspension where user_id = ${userId}`,
  );
  yield `,"suspension":${JSON.stringify(suspension ? clean(suspension) : null)}}`;
}

/** `,"name":[row,row,…]`, with the keyset-only columns left out. */
async function* list(name: string, rows: AsyncIterable<Row[]>, hidden: string[] = []): AsyncGenerator<string> {
  yield `,${JSON.stringify(name)}:[`;
  let first = true;
  for await (const page of rows) {
    const parts = page.map((r) => {
      const shown = clean(r);
      for (const h of hidden) delete shown[h];
      return JSON.stringify(shown);
    });
    if (parts.length === 0) continue;
    yield (first ? '' : ',') + parts.join(',');
    first = false;
  }
  yield ']';
}

async function* pages<K>(read: (after: K | undefined) => Promise<Row[]>): AsyncGenerator<Row[]> {
  let after: K | undefined;
  for (;;) {
    const page = await read(after);
    yield page;
    if (page.length < PAGE) return;
    after = page[page.length - 1] as K;
  }
}

async function* once(read: () => Promise<Row[]>): AsyncGenerator<Row[]> {
  yield await read();
}

/** Their messages (the sender index, by room and seq), each page with its messages' earlier versions and files. */
async function* messagePages(db: Executor, userId: string): AsyncGenerator<Row[]> {
  let after: { room: string; seq: number } | undefined;
  for (;;) {
    const page = await queryRows<Row & { id: string; room_id: string; seq: number | string }>(
      db,
      sql`select id, room_id as "roomId", seq, type, content, mentions, reply_to_seq as "replyToSeq",
            client_message_id as "clientMessageId", created_at as "createdAt", edited_at as "editedAt",
            deleted_at as "deletedAt", deleted_by as "deletedBy", pinned_at as "pinnedAt", reactions, room_id
          from chat_message where sender_id = ${userId}
            ${after ? sql`and (room_id, seq) > (${after.room}::uuid, ${after.seq})` : sql``}
          order by room_id, seq limit ${PAGE}`,
    );
    const ids = page.map((m) => m.id);
    const edits = await queryRows<{ message_id: string; content: string; mentions: string[]; edited_at: Date | string }>(
      db,
      sql`select message_id, content, mentions, edited_at from chat_message_edit
          where message_id = ${anyOf(ids, 'uuid')} order by edited_at, id`,
    );
    const files = await queryRows<Row & { message_id: string }>(
      db,
      sql`select message_id, id, kind, mime_type as "mimeType", size, file_name as "fileName", width, height,
            duration_ms as "durationMs", created_at as "createdAt"
          from chat_media where message_id = ${anyOf(ids, 'uuid')} order by position`,
    );
    yield page.map((m) => ({
      ...m,
      seq: Number(m.seq),
      edits: edits
        .filter((e) => e.message_id === m.id)
        .map((e) => ({ content: e.content, mentions: e.mentions, editedAt: new Date(e.edited_at).toISOString() })),
      files: files.filter((f) => f.message_id === m.id).map(({ message_id: _, ...f }) => clean(f)),
    }));
    if (page.length < PAGE) return;
    const last = page[page.length - 1]!;
    after = { room: last.room_id, seq: Number(last.seq) };
  }
}
