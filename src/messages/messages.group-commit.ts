import type { MessagesRepository, Written } from './messages.repository.js';
import type { NewMessage } from './write.statements.js';

type Stored = Written | undefined;
type Queued = { row: NewMessage; resolve: (stored: Stored) => void; reject: (err: unknown) => void };

/** More than this waits for the next statement: it bounds the statement's size and the wait of the first in line. */
const MAX_BATCH = 200;

/**
 * The least time between the starts of a lane's statements. A send statement has a fixed cost whatever it carries
 * (about 0.45 ms of the database's CPU on the bench machine, against ~0.04 ms for each message in it), and at a
 * moderate rate a lane that writes whatever is waiting writes one message at a time: at 1,000 sends/s the database
 * then spent as much CPU as at its maximum, on the machine the service shares with it, and the tails grew from the
 * queueing. Spaced, sends that arrive within 2 ms share a statement; a send that finds its lane quiet for longer
 * is written at once, so a quiet room gains nothing and a busy one at most 2 ms.
 */
export const WRITE_SPACING_MS = 2;

/** The lane of a room: the same for every send of the room, so its seqs stay in arrival order (FNV-1a of the id). */
export function laneOf(roomId: string, lanes: number): number {
  if (lanes <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < roomId.length; i++) h = Math.imul(h ^ roomId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
}

export interface GroupCommitOptions {
  /** Writers with a statement in flight at once, rooms spread over them (default 1). */
  lanes?: number;
  /** The least time between the starts of one lane's statements (default WRITE_SPACING_MS). */
  spacingMs?: number;
}

/**
 * Group commit for text messages. A send that finds its lane idle (and its last statement started over `spacingMs`
 * ago) is written at once, alone; sends that arrive while the lane's statement is in flight, or within `spacingMs` of
 * its start, are written together by its next one (one statement, one commit), in arrival order. Each send is answered
 * after the commit that stored it. A retried clientMessageId is answered in its batch (RETRIED); if a batch fails (the
 * same new clientMessageId twice in it, say), its messages are written again one by one, in the same order, so each
 * gets its own answer and the others are stored.
 *
 * Rooms can be spread over `lanes` writers, each with its own statement in flight; a room always goes to the same
 * lane, so its messages keep their arrival order, and rooms of different lanes never wait for each other. A second
 * lane pays where the database has cores of its own (a PostgreSQL server at DATABASE_URL): one statement's commit
 * waits on the disk while the other's runs. Where the database shares the service's machine (the embedded server,
 * PGlite's one connection) it only splits batches, and each statement costs the shared CPU its fixed part again.
 */
export class GroupCommit {
  private readonly lanes: Lane[];

  constructor(messages: MessagesRepository, opts: GroupCommitOptions = {}) {
    const spacing = opts.spacingMs ?? WRITE_SPACING_MS;
    this.lanes = Array.from({ length: Math.max(1, opts.lanes ?? 1) }, () => new Lane(messages, spacing));
  }

  insert(row: NewMessage): Promise<Stored> {
    return this.lanes[laneOf(row.roomId, this.lanes.length)]!.insert(row);
  }
}

class Lane {
  private queue: Queued[] = [];
  private writing = false;
  private lastStart = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly messages: MessagesRepository,
    private readonly spacingMs: number,
  ) {}

  insert(row: NewMessage): Promise<Stored> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (!this.writing) void this.write();
    });
  }

  private async write(): Promise<void> {
    this.writing = true;
    while (this.queue.length) {
      const wait = this.lastStart + this.spacingMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      this.lastStart = performance.now();
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
