import { sql } from 'drizzle-orm';
import {
  pgTable,
  text,
  uuid,
  bigint,
  integer,
  timestamp,
  boolean,
  primaryKey,
  index,
  unique,
  uniqueIndex,
  foreignKey,
  check,
  customType,
  jsonb,
} from 'drizzle-orm/pg-core';

/** PostgreSQL's tsvector; filled by the message repository from our own tokenizer (see text/tokenize.ts). */
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

// Millisecond precision: a JS Date round-trips exactly, so time-based keyset cursors are exact.
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date', precision: 3 });
const seq = (name: string) => bigint(name, { mode: 'number' });

/** Users are whoever valid tokens say they are; this keeps the name/picture of the latest token seen. */
export const chatUser = pgTable('chat_user', {
  id: text('id').primaryKey(),
  name: text('name'),
  picture: text('picture'),
  /** The role of the latest token seen; tells whether a user may be added to a support room as staff. */
  role: text('role').notNull().default('user'),
  lastSeenAt: ts('last_seen_at'),
  /** false: appears offline to everyone else, with no last-seen time, and causes no presence events. */
  showPresence: boolean('show_presence').notNull().default(true),
  updatedAt: ts('updated_at').notNull().defaultNow(),
  /** Set by an erase (admin/): the profile stays anonymised (no name, no picture) whatever later tokens say. */
  erasedAt: ts('erased_at'),
});

export const chatRoom = pgTable(
  'chat_room',
  {
    id: uuid('id').primaryKey(),
    type: text('type').notNull(),
    name: text('name'),
    description: text('description'),
    businessId: text('business_id'),
    status: text('status'),
    createdBy: text('created_by').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    /** The last message's seq; bumped under the row lock to hand out the next one (dense per room). */
    lastSeq: seq('last_seq').notNull().default(0),
    /** Orders room lists: the last message's time, else the creation time. */
    lastActivityAt: ts('last_activity_at').notNull().defaultNow(),
    /** JSON of the sorted pair, '["<userA>","<userB>"]', for direct rooms: the unique index keeps one direct room per pair. */
    directKey: text('direct_key'),
    /** The room's latest change (messages created, edited, deleted, reacted to, pinned): taken under the same row lock as last_seq. */
    lastChangeSeq: seq('last_change_seq').notNull().default(0),
    /** Pinned messages, kept with each pin and unpin: the cap of 50 is checked under the room's row lock. */
    pinnedCount: integer('pinned_count').notNull().default(0),
    /** Members send at most one message per this many seconds (0: off); owners, admins and staff are exempt. */
    slowModeS: integer('slow_mode_s').notNull().default(0),
    /** Retention (admin/) has turned every message up to this seq into a tombstone: its next batch starts above. */
    retainedThroughSeq: seq('retained_through_seq').notNull().default(0),
  },
  (t) => [
    check('chat_room_slow_mode_check', sql`${t.slowModeS} between 0 and 3600`),
    check('chat_room_type_check', sql`${t.type} in ('direct', 'group', 'business', 'support')`),
    check(
      'chat_room_status_check',
      sql`(${t.type} = 'support') = (${t.status} is not null) and (${t.status} is null or ${t.status} in ('open', 'closed'))`,
    ),
    check('chat_room_direct_key_check', sql`(${t.type} = 'direct') = (${t.directKey} is not null)`),
    check('chat_room_business_check', sql`(${t.type} = 'business') = (${t.businessId} is not null)`),
    uniqueIndex('chat_room_direct_key_uq')
      .on(t.directKey)
      .where(sql`${t.directKey} is not null`),
    // One open support room per user, even under concurrent opening.
    uniqueIndex('chat_room_open_support_uq')
      .on(t.createdBy)
      .where(sql`${t.type} = 'support' and ${t.status} = 'open'`),
    index('chat_room_support_queue_idx')
      .on(t.status, t.lastActivityAt.desc(), t.id.desc())
      .where(sql`${t.type} = 'support'`),
    // The rooms in slow mode, few: the send statement's slow-mode check reads them (as a hashed set, for a batch) here,
    // instead of a sequential scan of every room per statement (6.3 ms a send at 20,000 rooms without it, 0.6 with).
    index('chat_room_slow_mode_idx')
      .on(t.id)
      .where(sql`${t.slowModeS} > 0`),
  ],
);

export const chatParticipant = pgTable(
  'chat_participant',
  {
    roomId: uuid('room_id')
      .notNull()
      .references(() => chatRoom.id, { onDelete: 'cascade' }),
    userId: text('user_id').notNull(),
    role: text('role').notNull(),
    joinedAt: ts('joined_at').notNull().defaultNow(),
    lastReadSeq: seq('last_read_seq').notNull().default(0),
    lastReadAt: ts('last_read_at'),
    lastDeliveredSeq: seq('last_delivered_seq').notNull().default(0),
    lastDeliveredAt: ts('last_delivered_at'),
    muted: boolean('muted').notNull().default(false),
    mutedUntil: ts('muted_until'),
    /** Notifications for this room carry no message text for this participant (shared screens, lock screens). */
    hidePreviews: boolean('hide_previews').notNull().default(false),
  },
  (t) => [
    primaryKey({ columns: [t.roomId, t.userId] }),
    index('chat_participant_user_idx').on(t.userId, t.roomId),
    check('chat_participant_role_check', sql`${t.role} in ('owner', 'admin', 'member', 'agent')`),
    check('chat_participant_seq_check', sql`${t.lastReadSeq} >= 0 and ${t.lastDeliveredSeq} >= 0`),
  ],
);

export const chatMessage = pgTable(
  'chat_message',
  {
    id: uuid('id').primaryKey(),
    roomId: uuid('room_id')
      .notNull()
      .references(() => chatRoom.id, { onDelete: 'cascade' }),
    seq: seq('seq').notNull(),
    senderId: text('sender_id').notNull(),
    type: text('type').notNull(),
    content: text('content').notNull(),
    mentions: text('mentions')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** A reply points at (room_id, seq) of its target: the foreign key keeps replies inside the room. */
    replyToSeq: seq('reply_to_seq'),
    clientMessageId: text('client_message_id'),
    hasMedia: boolean('has_media').notNull().default(false),
    createdAt: ts('created_at').notNull().defaultNow(),
    editedAt: ts('edited_at'),
    deletedAt: ts('deleted_at'),
    deletedBy: text('deleted_by'),
    /** The room's change_seq of this message's latest change (see the room's last_change_seq). Not indexed: see below. */
    changeSeq: seq('change_seq').notNull().default(0),
    /**
     * Where the change log finds the message (chat_message_base_change_idx): its change_seq as of its last write to an
     * indexed column (the send, an edit, a delete, a pin). A reaction moves only change_seq and is listed in
     * chat_message_change instead, so it touches no indexed column and can be a HOT update (no new entry in any
     * index, the two text indexes included; migration 0020). No fillfactor below 100 for it: at 90 the reactions'
     * p99 gained under a millisecond and the edits' doubled (PostgreSQL 15, 300,000 messages, one at a time).
     */
    baseChangeSeq: seq('base_change_seq').notNull().default(0),
    pinnedAt: ts('pinned_at'),
    pinnedBy: text('pinned_by'),
    /**
     * The reactions' summary, `[{ emoji, count }]` in order of each emoji's first use: kept in the transaction that
     * changes the chat_reaction rows (under this row's lock), so reads never count.
     */
    reactions: jsonb('reactions')
      .$type<Array<{ emoji: string; count: number }>>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    searchDoc: tsvector('search_doc').notNull(),
  },
  (t) => [
    // Not unique on purpose: a unique index usable by a foreign key would make every change a key update, whose row
    // lock conflicts with the reply foreign key checks of concurrent sends.
    index('chat_message_base_change_idx').on(t.roomId, t.baseChangeSeq),
    index('chat_message_pinned_idx')
      .on(t.roomId, t.pinnedAt.desc(), t.id.desc())
      .where(sql`${t.pinnedAt} is not null`),
    // Unread counts subtract the deleted messages above a read position: usually none, found without a scan.
    index('chat_message_deleted_idx')
      .on(t.roomId, t.seq)
      .where(sql`${t.deletedAt} is not null`),
    // A constraint (not just an index) so the reply foreign key below can reference it.
    unique('chat_message_room_seq_uq').on(t.roomId, t.seq),
    uniqueIndex('chat_message_client_id_uq')
      .on(t.roomId, t.senderId, t.clientMessageId)
      .where(sql`${t.clientMessageId} is not null`),
    foreignKey({ name: 'chat_message_reply_fk', columns: [t.roomId, t.replyToSeq], foreignColumns: [t.roomId, t.seq] }),
    // One user's messages: a purge (one room), an export and an erase (every room) read them without a scan.
    index('chat_message_sender_idx').on(t.senderId, t.roomId, t.seq),
    // An erase finds where others' rows name the user without reading every message (a full scan held the erase's
    // last batch for about a second a million messages, on the core the sends need). Only the few rows concerned are
    // in them: messages with mentions, written in place (no pending list to flush into a send), and deletions by
    // someone, not by the system (an erase's or retention's tombstones would fill it).
    index('chat_message_mentions_idx')
      .using('gin', t.mentions)
      .with({ fastupdate: false })
      .where(sql`cardinality(${t.mentions}) > 0`),
    index('chat_message_deleted_by_idx')
      .on(t.deletedBy)
      .where(sql`${t.deletedBy} is not null and ${t.deletedBy} <> 'system'`),
    check('chat_message_type_check', sql`${t.type} in ('text', 'image', 'video', 'audio', 'document', 'system')`),
    check('chat_message_seq_check', sql`${t.seq} > 0`),
    // GIN takes new entries into a pending list and moves them into the index inside whichever insert overflows it:
    // at the default 4 MB, one send statement in ~3 s at 1,000 sends/s took 50–170 ms, and every send behind it
    // waited. At the smallest list each move is a few ms (bench/probes/send-tail.ts; migration 0016).
    // Only live messages: search never returns a deleted one, and a tombstone (an erase's or retention's, thousands a
    // batch) would otherwise put its empty text into both pending lists for the next sends to flush (migration 0019).
    index('chat_message_search_idx')
      .using('gin', t.searchDoc)
      .with({ gin_pending_list_limit: 64 })
      .where(sql`${t.deletedAt} is null`),
    index('chat_message_content_trgm_idx')
      .using('gin', sql`${t.content} gin_trgm_ops`)
      .with({ gin_pending_list_limit: 64 })
      .where(sql`${t.deletedAt} is null`),
  ],
);

/** Earlier versions of edited messages: `edited_at` is when the edit that replaced this version was made. */
export const chatMessageEdit = pgTable(
  'chat_message_edit',
  {
    id: uuid('id').primaryKey(),
    messageId: uuid('message_id')
      .notNull()
      .references(() => chatMessage.id, { onDelete: 'cascade' }),
    content: text('content').notNull(),
    mentions: text('mentions').array().notNull(),
    editedAt: ts('edited_at').notNull(),
  },
  (t) => [
    index('chat_message_edit_message_idx').on(t.messageId, t.editedAt.desc(), t.id.desc()),
    // An erase takes the user out of earlier versions' mentions (admin/erase.repository.ts): through this index, not by
    // reading every version, as for chat_message's mentions.
    index('chat_message_edit_mentions_idx')
      .using('gin', t.mentions)
      .with({ fastupdate: false })
      .where(sql`cardinality(${t.mentions}) > 0`),
  ],
);

/**
 * The change log's entries that chat_message_base_change_idx does not hold: a message whose latest change (a reaction)
 * left its indexed columns alone has one row here, at its change_seq; every other message has none. Kept so by the
 * statement that changes the message, under its row lock. Keyed by message: a reaction writes its row by upsert, which
 * finds the row a concurrent reaction committed after the statement's snapshot (a delete would not see it).
 */
export const chatMessageChange = pgTable(
  'chat_message_change',
  {
    messageId: uuid('message_id').primaryKey(),
    roomId: uuid('room_id')
      .notNull()
      .references(() => chatRoom.id, { onDelete: 'cascade' }),
    changeSeq: seq('change_seq').notNull(),
  },
  (t) => [index('chat_message_change_room_idx').on(t.roomId, t.changeSeq)],
);

/** Who reacted with what: one row per (message, emoji, user), so a repeated reaction is one row whatever the race. */
export const chatReaction = pgTable(
  'chat_reaction',
  {
    messageId: uuid('message_id')
      .notNull()
      .references(() => chatMessage.id, { onDelete: 'cascade' }),
    emoji: text('emoji').notNull(),
    userId: text('user_id').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.messageId, t.emoji, t.userId] }),
    index('chat_reaction_listing_idx').on(t.messageId, t.createdAt, t.emoji, t.userId),
    index('chat_reaction_user_idx').on(t.userId, t.messageId),
  ],
);

/**
 * Stored objects to remove: written in the transaction that lets go of them (a deleted message's files), removed once
 * the storage confirms; the media sweeper retries what is left, and the local file route refuses a key listed here.
 */
export const mediaGarbage = pgTable(
  'media_garbage',
  {
    storageKey: text('storage_key').primaryKey(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('media_garbage_due_idx').on(t.nextAttemptAt)],
);

/**
 * Read (and delivery) actions, not per-message rows: "user U reached seq S of room R at time T", one row each time
 * a watermark advances. readAt of a message = the earliest action whose up_to_seq >= its seq.
 *
 * No foreign key to the room: every row is written from the participant's row in the same statement (and that row
 * references the room), and rooms are never deleted. The key's check locked the room's row FOR KEY SHARE, the row
 * every send updates, so each delivery flush that overlapped a send of the room made a MultiXact of that row (~20 a
 * second at 150 sends/s in rooms of 10) and the flush cost a quarter more (6.5 → 4.9 ms for ~90 rows).
 */
export const messageReadReceipt = pgTable(
  'message_read_receipt',
  {
    roomId: uuid('room_id').notNull(),
    userId: text('user_id').notNull(),
    kind: text('kind').notNull(),
    upToSeq: seq('up_to_seq').notNull(),
    at: ts('at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.roomId, t.userId, t.kind, t.upToSeq] }),
    check('message_read_receipt_kind_check', sql`${t.kind} in ('read', 'delivered')`),
  ],
);

/**
 * Uploaded files. A row starts pending (message_id null) when the upload is stored, and is claimed by the message that
 * uses it; pending rows older than an hour are swept with their stored objects.
 */
export const chatMedia = pgTable(
  'chat_media',
  {
    id: uuid('id').primaryKey(),
    roomId: uuid('room_id')
      .notNull()
      .references(() => chatRoom.id, { onDelete: 'cascade' }),
    uploaderId: text('uploader_id').notNull(),
    messageId: uuid('message_id').references(() => chatMessage.id, { onDelete: 'cascade' }),
    /** Order within its message: the order of the mediaIds it was sent with. */
    position: integer('position').notNull().default(0),
    kind: text('kind').notNull(),
    mimeType: text('mime_type').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    fileName: text('file_name').notNull(),
    storageKey: text('storage_key').notNull(),
    thumbnailKey: text('thumbnail_key'),
    width: integer('width'),
    height: integer('height'),
    durationMs: integer('duration_ms'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('chat_media_message_idx')
      .on(t.messageId, t.position)
      .where(sql`${t.messageId} is not null`),
    // The sweep of unused uploads reads the oldest pending rows only.
    index('chat_media_pending_idx')
      .on(t.createdAt)
      .where(sql`${t.messageId} is null`),
    check('chat_media_kind_check', sql`${t.kind} in ('image', 'video', 'audio', 'document')`),
    check('chat_media_size_check', sql`${t.size} > 0`),
  ],
);

/** A browser's Web Push subscription. The endpoint is the browser's: it belongs to whoever registered it last. */
export const pushSubscription = pgTable(
  'push_subscription',
  {
    id: uuid('id').primaryKey(),
    userId: text('user_id').notNull(),
    endpoint: text('endpoint').notNull(),
    p256dh: text('p256dh').notNull(),
    auth: text('auth').notNull(),
    /** The browser's expirationTime, if it gave one: an expired subscription is not pushed to. */
    expiresAt: ts('expires_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('push_subscription_endpoint_uq').on(t.endpoint), index('push_subscription_user_idx').on(t.userId, t.updatedAt)],
);

/**
 * Notifications being gathered, one open row per (recipient, room): each message for an offline recipient joins the
 * open row, and a worker takes it once the coalesce window since `first_at` has passed. Taking it sets `claimed_until`
 * (later messages open a new row); a worker that died leaves a claim that expires, and another retakes the row.
 */
export const notificationOutbox = pgTable(
  'notification_outbox',
  {
    /** The notification's id, as sent. */
    id: uuid('id').primaryKey(),
    userId: text('user_id').notNull(),
    roomId: uuid('room_id')
      .notNull()
      .references(() => chatRoom.id, { onDelete: 'cascade' }),
    roomType: text('room_type').notNull(),
    firstAt: ts('first_at').notNull().defaultNow(),
    count: integer('count').notNull().default(1),
    mentioned: boolean('mentioned').notNull().default(false),
    /** The latest covered messages (bounded; `count` tells how many in all). */
    messageIds: uuid('message_ids').array().notNull(),
    /** Of the latest covered message: */
    lastSeq: seq('last_seq').notNull(),
    senderId: text('sender_id').notNull(),
    preview: text('preview').notNull(),
    claimedUntil: ts('claimed_until'),
  },
  (t) => [
    uniqueIndex('notification_outbox_open_uq')
      .on(t.userId, t.roomId)
      .where(sql`${t.claimedUntil} is null`),
    index('notification_outbox_open_idx')
      .on(t.firstAt)
      .where(sql`${t.claimedUntil} is null`),
    index('notification_outbox_claimed_idx')
      .on(t.claimedUntil)
      .where(sql`${t.claimedUntil} is not null`),
    // A deleted message is looked for in its room's notifications (retraction, and whether the notifications need
    // its delete at all: changes.repository.ts), once per message an erase or a purge deletes.
    index('notification_outbox_room_idx').on(t.roomId),
  ],
);

/**
 * One notification on its way to one target (the webhook, or one push subscription), with its retry state. The body
 * is fixed when the notification leaves, so every retry sends the same id and content.
 */
export const notificationDelivery = pgTable(
  'notification_delivery',
  {
    id: uuid('id').primaryKey(),
    notificationId: uuid('notification_id').notNull(),
    channel: text('channel').notNull(),
    subscriptionId: uuid('subscription_id').references(() => pushSubscription.id, { onDelete: 'cascade' }),
    payload: text('payload').notNull(),
    attempts: integer('attempts').notNull().default(0),
    /** When it is due; while a worker is sending it, the end of that worker's lease. */
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    index('notification_delivery_due_idx').on(t.nextAttemptAt),
    check(
      'notification_delivery_channel_check',
      sql`(${t.channel} = 'push') = (${t.subscriptionId} is not null) and ${t.channel} in ('push', 'webhook')`,
    ),
  ],
);

/**
 * The durable domain-event log (see event-log/): a row per change, written in the same statement or transaction as
 * the change itself, so a crash right after the commit loses no event. Read by consumers that promise "at least once"
 * (notifications, webhooks); live fan-out stays in memory. An id alone is not a position: identity values of
 * concurrent transactions commit out of order, so a position is an id with the snapshot of the read that reached it.
 */
export const domainEvent = pgTable('domain_event', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  type: text('type').notNull(),
  roomId: uuid('room_id'),
  payload: jsonb('payload').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
});

/**
 * Who reads the log, and which event types. A consumer with no position gets a pending row for each event of its
 * types (domain_event_pending); one with a position (`read_to`, `gaps`) reads the log itself: it has handled every
 * event of its types with an id up to `read_to`, except the ids in `gaps`, which had no row when it read past them
 * (event-log.repository.ts, LogPosition).
 */
export const domainEventConsumer = pgTable('domain_event_consumer', {
  name: text('name').primaryKey(),
  types: text('types').array().notNull(),
  readTo: bigint('read_to', { mode: 'number' }),
  gaps: jsonb('gaps').$type<Array<[number, string]>>(),
});

/**
 * What each consumer has still to handle: one row per (consumer, event), written with the event and deleted in the
 * transaction that handles it. Claimed with FOR UPDATE SKIP LOCKED, so any instance takes work and a crash gives it back.
 */
export const domainEventPending = pgTable(
  'domain_event_pending',
  {
    consumer: text('consumer').notNull(),
    eventId: bigint('event_id', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.eventId] })],
);

/**
 * Which users a message was notified to, and by which notification: written when the notification leaves, read when
 * the message is deleted (each of them is sent `message.retracted`), pruned after a week (a notification that old is
 * no longer shown).
 */
export const notificationSent = pgTable(
  'notification_sent',
  {
    messageId: uuid('message_id')
      .notNull()
      .references(() => chatMessage.id, { onDelete: 'cascade' }),
    userId: text('user_id').notNull(),
    notificationId: uuid('notification_id').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.userId, t.notificationId] }), index('notification_sent_created_idx').on(t.createdAt)],
);

/** Whom a user blocks: the blocked user cannot open or write in a direct room with the blocker, nor notify them. */
export const userBlock = pgTable(
  'user_block',
  {
    blockerId: text('blocker_id').notNull(),
    blockedId: text('blocked_id').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.blockerId, t.blockedId] }),
    index('user_block_blocked_idx').on(t.blockedId, t.blockerId),
    check('user_block_self_check', sql`${t.blockerId} <> ${t.blockedId}`),
  ],
);

/** A suspended user reads but cannot write until `until` (null: until lifted); expiry is a comparison, not a job. */
export const userSuspension = pgTable('user_suspension', {
  userId: text('user_id').primaryKey(),
  until: ts('until'),
  reason: text('reason').notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
});

/** A participant's report of a message, with the message as it was when reported (kept when it is edited later). */
export const messageReport = pgTable(
  'message_report',
  {
    id: uuid('id').primaryKey(),
    messageId: uuid('message_id')
      .notNull()
      .references(() => chatMessage.id, { onDelete: 'cascade' }),
    roomId: uuid('room_id').notNull(),
    reporterId: text('reporter_id').notNull(),
    reason: text('reason').notNull(),
    details: text('details'),
    status: text('status').notNull().default('open'),
    /** What the admin did when resolving it. */
    action: text('action'),
    message: jsonb('message').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    resolvedAt: ts('resolved_at'),
    resolvedBy: text('resolved_by'),
  },
  (t) => [
    check('message_report_reason_check', sql`${t.reason} in ('spam', 'abuse', 'harassment', 'other')`),
    check('message_report_status_check', sql`${t.status} in ('open', 'resolved', 'dismissed')`),
    check('message_report_action_check', sql`${t.action} is null or ${t.action} in ('delete_message', 'suspend_sender')`),
    // One open report per reporter and message, whatever the race.
    uniqueIndex('message_report_open_uq')
      .on(t.messageId, t.reporterId)
      .where(sql`${t.status} = 'open'`),
    index('message_report_queue_idx').on(t.status, t.createdAt, t.id),
    index('message_report_reporter_idx').on(t.reporterId),
  ],
);

/** An admin's outgoing webhook: every event of `events` (or all, `*`) is POSTed to `url`, signed with `secret`. */
export const webhook = pgTable('webhook', {
  id: uuid('id').primaryKey(),
  url: text('url').notNull(),
  events: text('events').array().notNull(),
  secret: text('secret').notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
});

/**
 * One event for one webhook, from the durable event log: the body is fixed when the row is written, so every retry
 * sends the same bytes with the same event id. Pending rows of one (webhook, room) go out one at a time in id order
 * (changeSeq order); a sender claims a row by setting `locked_until`, so a crash gives it back to any instance.
 */
export const webhookDelivery = pgTable(
  'webhook_delivery',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    webhookId: uuid('webhook_id')
      .notNull()
      .references(() => webhook.id, { onDelete: 'cascade' }),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    roomId: uuid('room_id'),
    body: text('body').notNull(),
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    lockedUntil: ts('locked_until'),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: ts('created_at').notNull().defaultNow(),
    deliveredAt: ts('delivered_at'),
  },
  (t) => [
    check('webhook_delivery_status_check', sql`${t.status} in ('pending', 'delivered', 'failed')`),
    uniqueIndex('webhook_delivery_event_uq').on(t.webhookId, t.eventId),
    index('webhook_delivery_due_idx')
      .on(t.nextAttemptAt)
      .where(sql`${t.status} = 'pending'`),
    index('webhook_delivery_queue_idx')
      .on(t.webhookId, t.roomId, t.id)
      .where(sql`${t.status} = 'pending'`),
    index('webhook_delivery_log_idx').on(t.webhookId, t.id.desc()),
  ],
);

/**
 * A background admin job (an erase): its progress is committed with each batch, so a job whose instance died is
 * taken again (after `locked_until`) and goes on where it stopped, repeating nothing.
 */
export const adminJob = pgTable(
  'admin_job',
  {
    id: uuid('id').primaryKey(),
    type: text('type').notNull(),
    subject: text('subject').notNull(),
    status: text('status').notNull().default('queued'),
    step: text('step'),
    progress: jsonb('progress')
      .$type<Record<string, unknown>>()
      .notNull()
      .default(sql`'{}'::jsonb`),
    error: text('error'),
    createdBy: text('created_by').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    finishedAt: ts('finished_at'),
    lockedUntil: ts('locked_until'),
  },
  (t) => [
    check('admin_job_status_check', sql`${t.status} in ('queued', 'running', 'done', 'failed')`),
    index('admin_job_due_idx')
      .on(t.createdAt)
      .where(sql`${t.status} in ('queued', 'running')`),
  ],
);
