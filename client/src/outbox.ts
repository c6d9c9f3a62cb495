import { ChatError, isRefusal } from './errors.js';
import { backoff, type Rest } from './http.js';
import type { Message, SendInput } from './types.js';

interface Job {
  roomId: string;
  clientMessageId: string;
  input: SendInput;
  resolve(m: Message): void;
  reject(err: unknown): void;
}

export interface OutboxHooks {
  /** Resolves once the client is connected (or closed). */
  online(): Promise<void>;
  stored(roomId: string, m: Message): void;
  refused(roomId: string, clientMessageId: string): void;
}

/**
 * The client's sends, one at a time in the order they were made: a queued send is never overtaken. Each keeps its
 * clientMessageId through every retry, so the server stores it once whatever was lost on the way.
 */
export class Outbox {
  private readonly queue: Job[] = [];
  private running = false;
  closed = false;

  constructor(
    private readonly rest: Rest,
    private readonly hooks: OutboxHooks,
  ) {}

  enqueue(roomId: string, clientMessageId: string, input: SendInput): Promise<Message> {
    if (this.closed) return Promise.reject(new ChatError('CLOSED', 'the client is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ roomId, clientMessageId, input, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  get size(): number {
    return this.queue.length;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let attempt = 0; this.queue.length > 0 && !this.closed;) {
        await this.hooks.online();
        const job = this.queue[0]!;
        try {
          const message = await this.deliver(job);
          this.queue.shift();
          attempt = 0;
          this.hooks.stored(job.roomId, message);
          job.resolve(message);
        } catch (err) {
          if (this.closed) return;
          if (isRefusal(err)) {
            this.queue.shift();
            this.hooks.refused(job.roomId, job.clientMessageId);
            job.reject(err);
            continue;
          }
          await this.rest.waits.wait(backoff(attempt++));
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async deliver(job: Job): Promise<Message> {
    const { input } = job;
    const path = `/rooms/${encodeURIComponent(job.roomId)}/messages`;
    if (input.files?.length) {
      // Files travel with the message in one multipart request; a retry sends them again under the same
      // clientMessageId, and the server answers with the message it stored (keeping nothing of the repeat).
      const form = new FormData();
      form.append('content', input.content);
      form.append('clientMessageId', job.clientMessageId);
      if (input.replyToId != null) form.append('replyToId', input.replyToId);
      if (input.mentions) form.append('mentions', JSON.stringify(input.mentions));
      for (const file of input.files) form.append('media', file, (file as Blob & { name?: string }).name ?? 'file');
      return (await this.rest.request<Message>('POST', path, { form, ...(input.onProgress ? { onProgress: input.onProgress } : {}) })).body;
    }
    const body = {
      content: input.content,
      clientMessageId: job.clientMessageId,
      ...(input.replyToId != null ? { replyToId: input.replyToId } : {}),
      ...(input.mentions ? { mentions: input.mentions } : {}),
    };
    return (await this.rest.request<Message>('POST', path, { body })).body;
  }

  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new ChatError('CLOSED', 'the client was closed before the message was sent'));
  }
}
