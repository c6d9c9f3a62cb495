import type { MessagesRepository, NewMessage, Written } from './messages.repository.js';

type Stored = Written | undefined;

/** More than this waits for the next statement: it bounds the statement's size and the wait of the first in line. */
const MAX_BATCH = 200;

/**
 * Group commit for text messages. A send that finds the writer idle is written at once, alone; sends that arrive
 * while a statement is in flight are written together by the next one (one statement, one commit), in arrival order.
 * Each send is answered after the commit that stored it. A retried clientMessageId is answered in its batch (RETRIED);
 * if a batch fails (the same new clientMessageId twice in it, say), its messages are written again one by one, in the
 * same order, so each gets its own answer and the others are stored.
 */
export class GroupCommit {
  private queue: Array<{ row: NewMessage; resolve: (stored: Stored) => void; reject: (err: unknown) => void }> = [];
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
