import { and, asc, eq, gt, or, sql } from 'drizzle-orm';
import { anyOf, type Executor } from '../db/client.js';
import { hotStatement } from '../db/prepared.js';
import { chatReaction } from '../db/schema.js';

/** `me` of every REST page of messages (history, the change log): prepared once, the ids as one JSON array. */
const MINE = hotStatement<{ message_id: string; emoji: string }>(
  'chat_reactions_mine',
  ['text', 'jsonb'],
  (userId, messageIds) => sql`select message_id, emoji from chat_reaction
    where user_id = ${userId} and message_id = ${anyOf(messageIds, 'uuid')}`,
);

export interface ReactionRow {
  emoji: string;
  userId: string;
  createdAt: Date;
}

/** A position in the list of who reacted: (createdAt, emoji, userId) of the last row of a page. */
export type ReactionKey = {
  at: number;
  emoji: string;
  userId: string;
};

/** The reaction rows: one per (message, emoji, user). The per-message summary is the message's (see MessageChangesRepository). */
export class ReactionsRepository {
  constructor(private readonly db: Executor) {}

  with(tx: Executor): ReactionsRepository {
    return new ReactionsRepository(tx);
  }

  /** Who reacted to a message (with `emoji` only, if given), first reactions first, after `after`. */
  async list(messageId: string, emoji: string | undefined, after: ReactionKey | null, limit: number): Promise<ReactionRow[]> {
    const afterAt = after && new Date(after.at);
    return this.db
      .select({ emoji: chatReaction.emoji, userId: chatReaction.userId, createdAt: chatReaction.createdAt })
      .from(chatReaction)
      .where(
        and(
          eq(chatReaction.messageId, messageId),
          emoji === undefined ? undefined : eq(chatReaction.emoji, emoji),
          after
            ? or(
                gt(chatReaction.createdAt, afterAt!),
                and(
                  eq(chatReaction.createdAt, afterAt!),
                  sql`(${chatReaction.emoji}, ${chatReaction.userId}) > (${after.emoji}, ${after.userId})`,
                ),
              )
            : undefined,
        ),
      )
      .orderBy(asc(chatReaction.createdAt), asc(chatReaction.emoji), asc(chatReaction.userId))
      .limit(limit);
  }

  /** The (message, emoji) pairs `userId` reacted with among these messages. */
  async mine(userId: string, messageIds: string[]): Promise<Array<{ messageId: string; emoji: string }>> {
    if (messageIds.length === 0) return [];
    return (await MINE(this.db, [userId, JSON.stringify(messageIds)])).map((r) => ({ messageId: r.message_id, emoji: r.emoji }));
  }
}
