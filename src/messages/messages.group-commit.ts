import type { MessagesRepository, Written } from './messages.repository.js';
import type { NewMessage } from './write.statements.js';

type Stored = Written | undefined;
type Queued = { row: NewMessage; resolve: (stored: Stored) => void; reject: (err: unknown) => void };

/** More than this waits for the next statement: it bounds the statement's size and the wait of the first in line. */
const MAX_BATCH = 200;

/** The lane of a room: the same for every send of the room, so its seqs stay in arrival order (FNV-1a of the id). */
export function laneOf(roomId: string, lanes: number): number {
  if (lanes <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < roomId.length; i++) h = Math.imul(h ^ roomId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
}

/**
 * Group commit for text messages. A send that finds its lane idle is written at once, alone; sends that arrive while
 * the lane's statement is in flight are written together by its next one (one statement, one commit), in arrival
 * order. Each send is answered after the commit that stored it. A retried clientMessageId is answered in its batch
 * (RETRIED); if a batch fails (the same new clientMessageId twice in it, say), its messages are written again one by
 * one, in the same order, so each gets its own answer and the others are stored.
 *
 * Rooms are spread over `lanes` writers, each with its own statement in flight. One writer was busy 80 % of the time
 * at half the fan-out bench's maximum, with one or two messages per statement: the statement's fixed cost (a round
 * trip and a commit) queued every send behind the one before. A room always goes to the same lane, so its messages
 * keep their arrival order; rooms of different lanes never wait for each other. With one connection (PGlite) a second
 * lane would only split batches, so that engine keeps one.
 */
export class GroupCommit {
  private readonly lanes: Lane[];

  constructor(messages: MessagesRepository, lanes = 1) {
    this.lanes = Array.from({ length: Math.max(1, lanes) }, () => new Lane(messages));
  }

  insert(row: NewMessage): Promise<Stored> {
    return this.lanes[laneOf(row.roomId, this.lanes.length)]!.insert(row);
  }
}

class Lane {
  private queue: Queued[] = [];
  private writing = false;

  constructor(private readonly messages: MessagesRepository) {}

  insert(row: NewMessage): Promise<Stored> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (!this.writing) void this.write();
    });
  }

  private async write(): Promise<void> {
    this.writing = true;
    while (this.queue.length) {
      const batch = this.queue.splice(0, MAX_BATCH);
      try {
        const stored = await this.messages.insertMany(batch.map((b) => b.row));
        for (const b of batch) b.resolve(stored.get(b.row.id));
      } catch (err) {
        if (batch.length === 1) batch[0]!.reject(err);
        else for (const b of batch) await this.messages.insertNext(b.row).then(b.resolve, b.reject);
      }
    }
    this.writing = false;
  }
}
