import type { AuthContext } from '../auth/tokens.js';
import { AppError, invalid, notFound } from '../errors.js';
import type { EventBus } from '../events.js';
import { decodeCursor, encodeCursor, isId } from '../ids.js';
import type { Executor } from '../db/client.js';
import {
  afterChange,
  reactionKey,
  type MessageChangesService,
  type MessagePresenter,
  type MessageRow,
  type MessagesRepository,
} from '../messages/index.js';
import { reactInOneStatement } from './reactions.statement.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import { isReactionKey } from '../text/emoji.js';
import type { MessageView, ReactionSummarySchema } from '../contract/messages.js';
import { MAX_REACTION_KEYS_PER_MESSAGE, type ReactionsInput, type ReactionsPageView } from '../contract/reactions.js';
import type { ReactionKey, ReactionsRepository } from './reactions.repository.js';
import type { Static } from '@sinclair/typebox';

type Summary = Array<Static<typeof ReactionSummarySchema>>;

function checkedEmoji(emoji: string): string {
  if (!isReactionKey(emoji)) throw invalid('emoji must be one emoji or a :shortcode: of 1–32 [a-z0-9_+-]', '/emoji');
  return emoji;
}

/** The caller's reactions after this one came or went. */
function ownAfter(before: Iterable<string>, emoji: string, added: boolean): Set<string> {
  const own = new Set(before);
  if (added) own.add(emoji);
  else own.delete(emoji);
  return own;
}

/** The summary after one user's reaction came or went: counts move, an emoji at 0 leaves, a new one goes last. */
function summaryAfter(summary: Summary, emoji: string, added: boolean): Summary {
  const found = summary.some((r) => r.emoji === emoji);
  if (added) return found ? summary.map((r) => (r.emoji === emoji ? { emoji, count: r.count + 1 } : r)) : [...summary, { emoji, count: 1 }];
  return summary.flatMap((r) => (r.emoji !== emoji ? [r] : r.count > 1 ? [{ emoji, count: r.count - 1 }] : []));
}

/**
 * Reactions: one row per (message, emoji, user), and the message's summary moved in the same transaction under the
 * message's lock, so concurrent identical reactions count once and the counts never drift. Each change takes the
 * room's next changeSeq like any change of a message; a repeat changes nothing and announces nothing.
 */
export class ReactionsService {
  constructor(
    private readonly db: Executor,
    private readonly repo: ReactionsRepository,
    private readonly changes: MessageChangesService,
    private readonly messages: MessagesRepository,
    private readonly guard: RoomAccessGuard,
    private readonly presenter: MessagePresenter,
    private readonly bus: EventBus,
  ) {}

  add(auth: AuthContext, messageId: string, emoji: string): Promise<MessageView> {
    return this.react(auth, messageId, checkedEmoji(emoji), true);
  }

  remove(auth: AuthContext, messageId: string, emoji: string): Promise<MessageView> {
    return this.react(auth, messageId, checkedEmoji(emoji), false);
  }

  private async react(auth: AuthContext, messageId: string, emoji: string, added: boolean): Promise<MessageView> {
    // The common case costs one statement, like a send; anything it cannot settle takes the path below, which says why.
    const fast = isId(messageId) ? await reactInOneStatement(this.db, messageId, auth.userId, emoji, added) : undefined;
    if (fast) {
      if (fast.moved) this.announce(fast.row, auth.userId, emoji, added);
      return this.presenter.withOwn(fast.row, ownAfter(fast.ownBefore, emoji, added));
    }
    const { row, changed, locked } = await this.changes.change(auth, messageId, 'react', async ({ locked, repo, tx }) => {
      const old = locked.row;
      if (old.deletedAt) throw notFound('Message');
      // The summary is read under the message's lock: it counts every reaction committed before ours.
      const known = old.reactions.some((r) => r.emoji === emoji);
      if (added && !known && old.reactions.length >= MAX_REACTION_KEYS_PER_MESSAGE) {
        throw new AppError('CONFLICT', `a message takes at most ${MAX_REACTION_KEYS_PER_MESSAGE} different reactions`);
      }
      const reactions = this.repo.with(tx);
      const moved = added ? await reactions.add(old.id, emoji, auth.userId) : await reactions.remove(old.id, emoji, auth.userId);
      if (!moved) return { row: old, changed: false };
      const set = { reactions: summaryAfter(old.reactions, emoji, added) };
      const applied = await repo.apply(old, set);
      if (!applied) throw notFound('Message');
      return { row: afterChange(old, set, applied), changed: true };
    });
    if (changed) this.announce(row, auth.userId, emoji, added);
    // The caller's own reactions were read with the locked row; this one came or went since.
    return this.presenter.withOwn(row, ownAfter(locked.ownEmoji, emoji, added));
  }

  private announce(row: MessageRow, userId: string, emoji: string, added: boolean): void {
    this.bus.publish('reaction.updated', {
      chatRoomId: row.roomId,
      messageId: row.id,
      changeSeq: row.changeSeq,
      emoji,
      userId,
      added,
      count: row.reactions.find((r) => r.emoji === emoji)?.count ?? 0,
      reactions: row.reactions.map((r) => ({ emoji: r.emoji, count: r.count })),
    });
  }

  /** Who reacted, first reactions first; `emoji` narrows to one. */
  async list(auth: AuthContext, messageId: string, q: ReactionsInput): Promise<ReactionsPageView> {
    const message = isId(messageId) ? await this.messages.locate(messageId) : undefined;
    if (!message) throw notFound('Message');
    await this.guard.reader(auth, message.roomId);
    const emoji = q.emoji === undefined ? undefined : checkedEmoji(q.emoji);
    const after = q.cursor === undefined ? null : decodeCursor<ReactionKey>(q.cursor, { at: 'time', emoji: 'string', userId: 'string' });
    if (after === null && q.cursor !== undefined) throw invalid('cursor is not valid', '/cursor');
    const limit = q.limit ?? 50;
    const rows = await this.repo.list(messageId, emoji, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map((r) => ({ emoji: r.emoji, userId: r.userId, createdAt: r.createdAt.toISOString() })),
      nextCursor:
        rows.length > limit && last ? encodeCursor({ at: last.createdAt.getTime(), emoji: last.emoji, userId: last.userId }) : null,
    };
  }

  /** For the message presenter: which of these messages `userId` reacted to, and with what. */
  async ownReactions(userId: string, messageIds: string[]): Promise<Set<string>> {
    return new Set((await this.repo.mine(userId, messageIds)).map((r) => reactionKey(r.messageId, r.emoji)));
  }
}
