import type { AuthContext } from '../auth/tokens.js';
import { AppError, invalid, notFound } from '../errors.js';
import type { EventBus } from '../events.js';
import { decodeCursor, encodeCursor, isId } from '../ids.js';
import type { Executor } from '../db/client.js';
import {
  reactionKey,
  type MessageChangesService,
  type MessagePresenter,
  type MessageRow,
  type MessagesRepository,
} from '../messages/index.js';
import { reactInOneStatement } from './reactions.statement.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import { isReactionKey } from '../text/emoji.js';
import type { MessageView } from '../contract/messages.js';
import { MAX_REACTION_KEYS_PER_MESSAGE, type ReactionsInput, type ReactionsPageView } from '../contract/reactions.js';
import type { ReactionKey, ReactionsRepository } from './reactions.repository.js';

/** A statement that answers nothing, yet finds nothing to refuse, is tried again this many times at most. */
const MAX_ATTEMPTS = 5;

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

/**
 * Reactions: one row per (message, emoji, user), and the message's summary moved in the same statement under the
 * message's lock (reactions.statement.ts), so concurrent identical reactions count once and the counts never drift. Each change takes the
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
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // One statement, like a send: it writes only what the caller may write, and answers nothing otherwise.
      const done = isId(messageId) ? await reactInOneStatement(this.db, messageId, auth.userId, emoji, added) : undefined;
      if (done) {
        if (done.moved) this.announce(done.row, auth.userId, emoji, added);
        return this.presenter.withOwn(done.row, ownAfter(done.ownBefore, emoji, added));
      }
      await this.refusal(auth, messageId, emoji, added);
      // Nothing to refuse any more: the message or the room changed between the two reads. Again.
    }
    throw new AppError('UNAVAILABLE', 'the message kept changing; try again');
  }

  /** Why the statement wrote nothing, as the caller is told: 404 before 403 (the policy), a tombstone 404, the cap 409. */
  private async refusal(auth: AuthContext, messageId: string, emoji: string, added: boolean): Promise<void> {
    await this.changes.change(auth, messageId, 'react', async ({ locked }) => {
      const { row } = locked;
      if (row.deletedAt) throw notFound('Message');
      const known = row.reactions.some((r) => r.emoji === emoji);
      if (added && !known && row.reactions.length >= MAX_REACTION_KEYS_PER_MESSAGE) {
        throw new AppError('CONFLICT', `a message takes at most ${MAX_REACTION_KEYS_PER_MESSAGE} different reactions`);
      }
      return { row, changed: false };
    });
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
    await this.guard.messageReader(auth, message.roomId);
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
