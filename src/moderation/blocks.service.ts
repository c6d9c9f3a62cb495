import type { AuthContext } from '../auth/tokens.js';
import type { BlocksInput, BlocksPageView } from '../contract/blocks.js';
import type { Executor } from '../db/client.js';
import { AppError, invalid } from '../errors.js';
import { decodeCursor, encodeCursor } from '../ids.js';
import type { BlockKey, BlocksRepository } from './blocks.repository.js';

/**
 * The one refusal of a blocked write, the same whichever side blocked: neither learns more than that it is refused.
 * Rooms, messages and reactions throw this (through the functions app.ts wires to this service).
 */
export const blockedWrite = (): AppError => new AppError('FORBIDDEN', 'you cannot write to this user');

export class BlocksService {
  constructor(private readonly blocks: BlocksRepository) {}

  async block(auth: AuthContext, userId: string): Promise<void> {
    if (userId === auth.userId) throw invalid('you cannot block yourself', '/userId');
    await this.blocks.block(auth.userId, userId);
  }

  async unblock(auth: AuthContext, userId: string): Promise<void> {
    if (userId === auth.userId) throw invalid('you cannot block yourself', '/userId');
    await this.blocks.unblock(auth.userId, userId);
  }

  async list(auth: AuthContext, q: BlocksInput): Promise<BlocksPageView> {
    const limit = q.limit ?? 50;
    let after: BlockKey | undefined;
    if (q.cursor !== undefined) {
      const c = decodeCursor<{ t: number; u: string }>(q.cursor, { t: 'time', u: 'string' });
      if (!c) throw invalid('cursor is not valid', '/cursor');
      after = { at: new Date(c.t), userId: c.u };
    }
    const rows = await this.blocks.list(auth.userId, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map((r) => ({ userId: r.blockedId, createdAt: r.createdAt.toISOString() })),
      nextCursor: rows.length > limit && last ? encodeCursor({ t: last.createdAt.getTime(), u: last.blockedId }) : null,
    };
  }

  /** Opening a direct room with `otherId`: refused when either blocks the other. */
  async assertDirectAllowed(userId: string, otherId: string): Promise<void> {
    if (await this.blocks.between(userId, otherId)) throw blockedWrite();
  }

  /**
   * A write by `userId` in the direct room `roomId`: refused when they and the other participant block each other
   * either way. `on`: the caller's transaction, when it holds one.
   */
  async assertDirectWrite(roomId: string, userId: string, on?: Executor): Promise<void> {
    if (await (on ? this.blocks.with(on) : this.blocks).inRoom(roomId, userId)) throw blockedWrite();
  }

  /** Of these recipients, those who block the sender (notifications leave them out). */
  async blockersOf(senderId: string, userIds: string[]): Promise<Set<string>> {
    return this.blocks.blockersOf(senderId, userIds);
  }
}
