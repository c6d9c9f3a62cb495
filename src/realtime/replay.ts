import type { MessageView } from '../contract/messages.js';
import { BatchLoader } from '../batch-loader.js';
import type { RealtimeRepository } from './realtime.repository.js';

const REPLAY_LIMIT_PER_ROOM = 100;
/** How long a replayed page is kept for the sockets of the same storm: pages up to a known seq never change. */
const PAGE_TTL_MS = 2_000;

/**
 * The messages a replay reads, as clients see them. Satisfied by MessagesService: replays read through the service,
 * so whatever it withholds from a message (or a message from a reader) a replay withholds too.
 */
export interface MissedMessages {
  /** afterSeq < seq <= upToSeq, oldest first, at most `limit`. */
  missedSince(roomId: string, afterSeq: number, upToSeq: number, limit: number): Promise<MessageView[]>;
}

/**
 * What recovered sockets missed while away. After a network blip, hundreds of sockets of the same rooms come back
 * within a second, all asking the same questions: so the last seqs asked for together are read in one query, and
 * a page (room, after seq, up to seq) is read and presented once and shared by every socket that needs it.
 */
export class Replayer {
  private readonly lastSeqs: BatchLoader<string, number>;
  private readonly pages = new Map<string, { at: number; views: Promise<MessageView[]> }>();

  constructor(
    repo: RealtimeRepository,
    private readonly messages: MissedMessages,
  ) {
    this.lastSeqs = new BatchLoader((ids) => repo.lastSeqs(ids));
  }

  /** The messages above `seen` in each room, oldest first per room (at most a page per room). */
  async missed(seen: Record<string, number>): Promise<Array<{ roomId: string; messages: MessageView[] }>> {
    const roomIds = Object.keys(seen);
    if (roomIds.length === 0) return [];
    const last = await this.lastSeqs.get(roomIds);
    const moved = roomIds.filter((id) => (last.get(id) ?? 0) > (seen[id] ?? 0));
    return Promise.all(moved.map(async (roomId) => ({ roomId, messages: await this.page(roomId, seen[roomId] ?? 0, last.get(roomId)!) })));
  }

  private page(roomId: string, after: number, upTo: number): Promise<MessageView[]> {
    const now = Date.now();
    for (const [key, page] of this.pages) if (now - page.at > PAGE_TTL_MS) this.pages.delete(key);
    const key = `${roomId}\n${after}\n${upTo}`;
    let page = this.pages.get(key);
    if (!page) {
      const views = this.messages.missedSince(roomId, after, upTo, REPLAY_LIMIT_PER_ROOM);
      // A failed read is not shared with the sockets that come after.
      views.catch(() => this.pages.delete(key));
      this.pages.set(key, (page = { at: now, views }));
    }
    return page.views;
  }
}
