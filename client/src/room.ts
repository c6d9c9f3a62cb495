import { Emitter } from './emitter.js';
import { ChatError } from './errors.js';
import type { Rest } from './http.js';
import { Timeline } from './timeline.js';
import type { Message, MessageDeletedEvent, ReactionUpdatedEvent, Room, SendInput, TimelineMessage } from './types.js';

type Page = { data: Message[]; hasMore: boolean; hasOlder: boolean; hasNewer: boolean };
type ChangesPage = { data: Message[]; lastChangeSeq: number; hasMore: boolean };

/** What a room needs of its client. */
export interface RoomHost {
  rest: Rest;
  userId: string;
  send(roomId: string, input: SendInput): Promise<Message>;
  emitTyping(roomId: string, typing: boolean): void;
  roomView(roomId: string): Room | undefined;
  markedRead(roomId: string, lastReadSeq: number): void;
}

const TYPING_RENEW_MS = 3000;
const TYPING_IDLE_MS = 5000;
const OTHERS_TYPING_TTL_MS = 6000;
const PAGE = 50;

/**
 * An open room: its timeline kept equal to the server's. Live events are applied as they come; a gap in `seq` or
 * `changeSeq` (or a reconnect) starts a catch-up — new messages through `messages?after=`, then everything else through
 * `changes?after=` — which pages to the end however far behind the room is.
 */
export class ChatRoom extends Emitter<{ change: () => void }> {
  private readonly tl: Timeline;
  private syncing: Promise<void> | undefined;
  private again = false;
  private readonly typers = new Map<string, ReturnType<typeof setTimeout>>();
  private typingSince = 0;
  private typingStop: ReturnType<typeof setTimeout> | undefined;
  /** Read positions of the participants, kept from message_read events. */
  readonly readers = new Map<string, number>();
  /** Delivery positions of the participants (their apps received everything up to this seq), from message_delivered. */
  readonly delivered = new Map<string, number>();
  /** The latest page is held (a UI may draw it while `openRoom` finishes its catch-up). */
  loaded = false;
  closed = false;

  constructor(
    readonly id: string,
    private readonly host: RoomHost,
  ) {
    super();
    this.tl = new Timeline(host.userId);
  }

  get messages(): TimelineMessage[] {
    return this.tl.messages();
  }

  get typing(): string[] {
    return [...this.typers.keys()];
  }

  get unreadCount(): number {
    return this.host.roomView(this.id)?.unreadCount ?? 0;
  }

  /** The first seq the client's user has not read, or null when everything is read. */
  get firstUnreadSeq(): number | null {
    const room = this.host.roomView(this.id);
    const me = room?.participants.find((p) => p.userId === this.host.userId);
    if (!room || !me || me.lastReadSeq >= room.lastSeq) return null;
    return me.lastReadSeq + 1;
  }

  /**
   * The latest page, then whatever changed meanwhile. The replay starts at a change position read before the page (a
   * later one could step over a change made in between): the room entry the client already holds is one, so the page
   * need not wait for the room's own request. Without an entry (a room opened by link before the list came), the room
   * is read first.
   */
  async load(): Promise<Room> {
    const fresh = this.host.rest.request<Room>('GET', `/rooms/${enc(this.id)}`).then((r) => r.body);
    fresh.catch(() => {}); // awaited below; a failed page must not leave it unhandled meanwhile
    const before = this.host.roomView(this.id) ?? (await fresh);
    this.takePositions(before.participants);
    const page = (await this.host.rest.request<Page>('GET', `/rooms/${enc(this.id)}/messages?limit=${PAGE}`)).body;
    this.tl.reset(page.data, before.lastSeq);
    this.tl.lastChangeSeq = before.lastChangeSeq;
    this.loaded = true;
    // The latest page can be shown now; what changed while it was read follows at once (the sync emits again).
    this.emit('change');
    const room = await fresh;
    this.takePositions(room.participants);
    // Every message stored after that position is in the change log too, so new messages need no request of their own.
    await this.sync(true);
    return room;
  }

  /**
   * Converges with the server; one catch-up at a time, run again if something new was noticed meanwhile. `changesOnly`
   * starts with the change log (right after a latest page, new messages are in it).
   */
  sync(changesOnly = false): Promise<void> {
    // Before the latest page is held there is no position to catch up from (the load replays what happens meanwhile).
    if (!this.loaded) return Promise.resolve();
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        let messages = !changesOnly;
        do {
          this.again = false;
          if (messages) await this.pullMessages();
          messages = true;
          await this.pullChanges();
        } while (this.again && !this.closed);
      } finally {
        this.syncing = undefined;
        this.emit('change');
      }
    })();
    return this.syncing;
  }

  private async pullMessages(): Promise<void> {
    for (;;) {
      const page = (await this.host.rest.request<Page>('GET', `/rooms/${enc(this.id)}/messages?after=${this.tl.high}&limit=100`)).body;
      for (const m of page.data) this.tl.apply(m);
      if (!page.hasNewer || page.data.length === 0 || this.closed) return;
    }
  }

  private async pullChanges(): Promise<void> {
    for (let after = this.tl.lastChangeSeq; ;) {
      const page = (await this.host.rest.request<ChangesPage>('GET', `/rooms/${enc(this.id)}/changes?after=${after}&limit=200`)).body;
      for (const m of page.data) if (this.tl.apply(m) === 'gap') this.again = true;
      if (page.hasMore && page.data.length > 0) {
        after = page.data.at(-1)!.changeSeq;
        this.tl.lastChangeSeq = Math.max(this.tl.lastChangeSeq, after);
        continue;
      }
      this.tl.lastChangeSeq = Math.max(this.tl.lastChangeSeq, page.lastChangeSeq);
      return;
    }
  }

  /** A change event's changeSeq: the log position moves only without a gap; a gap asks for a catch-up. */
  private track(changeSeq: number): void {
    if (changeSeq === this.tl.lastChangeSeq + 1) this.tl.lastChangeSeq = changeSeq;
    else if (changeSeq > this.tl.lastChangeSeq + 1) void this.sync().catch(() => {});
  }

  /** @internal live events, from the client. */
  onNewMessage(m: Message): void {
    this.typers.delete(m.senderId);
    if (this.tl.apply(m) === 'gap') void this.sync().catch(() => {});
    this.track(m.changeSeq);
    this.emit('change');
  }

  /** @internal */
  onUpdated(m: Message): void {
    if (this.tl.apply(m, true) === 'gap') void this.sync().catch(() => {});
    this.track(m.changeSeq);
    this.emit('change');
  }

  /** @internal */
  onDeleted(e: MessageDeletedEvent): void {
    this.tl.applyDeleted(e);
    this.track(e.changeSeq);
    this.emit('change');
  }

  /** @internal */
  onReaction(e: ReactionUpdatedEvent): void {
    this.tl.applyReaction(e);
    this.track(e.changeSeq);
    this.emit('change');
  }

  /** @internal */
  onTyping(userId: string, isTyping: boolean): void {
    if (userId === this.host.userId) return;
    clearTimeout(this.typers.get(userId));
    if (isTyping)
      this.typers.set(
        userId,
        setTimeout(() => this.onTyping(userId, false), OTHERS_TYPING_TTL_MS),
      );
    else this.typers.delete(userId);
    this.emit('change');
  }

  /**
   * @internal The participants' positions as a room view from the server has them: after a reconnect the read and
   * delivery events of the time away are not replayed (unless the session was recovered), so the catch-up's room
   * list brings them. Positions only move forward.
   */
  takePositions(participants: ReadonlyArray<{ userId: string; lastReadSeq: number; lastDeliveredSeq: number }>): void {
    let moved = false;
    for (const p of participants) {
      if ((this.readers.get(p.userId) ?? 0) < p.lastReadSeq) {
        this.readers.set(p.userId, p.lastReadSeq);
        moved = true;
      }
      if ((this.delivered.get(p.userId) ?? 0) < p.lastDeliveredSeq) {
        this.delivered.set(p.userId, p.lastDeliveredSeq);
        moved = true;
      }
    }
    if (moved) this.emit('change');
  }

  /** @internal */
  onDelivered(userId: string, lastDeliveredSeq: number): void {
    if ((this.delivered.get(userId) ?? 0) >= lastDeliveredSeq) return;
    this.delivered.set(userId, lastDeliveredSeq);
    this.emit('change');
  }

  onRead(userId: string, lastReadSeq: number): void {
    this.readers.set(userId, Math.max(this.readers.get(userId) ?? 0, lastReadSeq));
    this.emit('change');
  }

  /** @internal an answer of the server to one of our own writes. */
  applyOwn(m: Message): void {
    if (this.tl.apply(m) === 'gap') void this.sync().catch(() => {});
    this.emit('change');
  }

  /** @internal */
  addPending(p: Parameters<Timeline['addPending']>[0]): void {
    this.tl.addPending(p);
    this.emit('change');
  }

  /** @internal */
  dropPending(clientMessageId: string): void {
    this.tl.removePending(clientMessageId);
    this.emit('change');
  }

  send(input: SendInput): Promise<Message> {
    return this.host.send(this.id, input);
  }

  async edit(id: string, content: string, mentions?: string[]): Promise<Message> {
    const body = mentions === undefined ? { content } : { content, mentions };
    return this.own(await this.host.rest.request<Message>('PATCH', `/messages/${enc(id)}`, { body }));
  }

  async delete(id: string): Promise<Message> {
    return this.own(await this.host.rest.request<Message>('DELETE', `/messages/${enc(id)}`));
  }

  async react(id: string, emoji: string): Promise<Message> {
    return this.own(await this.host.rest.request<Message>('PUT', `/messages/${enc(id)}/reactions/${enc(emoji)}`));
  }

  async unreact(id: string, emoji: string): Promise<Message> {
    return this.own(await this.host.rest.request<Message>('DELETE', `/messages/${enc(id)}/reactions/${enc(emoji)}`));
  }

  async pin(id: string): Promise<Message> {
    return this.own(await this.host.rest.request<Message>('PUT', `/rooms/${enc(this.id)}/pins/${enc(id)}`));
  }

  async unpin(id: string): Promise<Message> {
    return this.own(await this.host.rest.request<Message>('DELETE', `/rooms/${enc(this.id)}/pins/${enc(id)}`));
  }

  private own(res: { body: Message }): Message {
    this.applyOwn(res.body);
    return res.body;
  }

  /** The page before the oldest held message; false when there is nothing older. */
  async loadOlder(): Promise<boolean> {
    if (this.tl.low <= 1) return false;
    const page = (await this.host.rest.request<Page>('GET', `/rooms/${enc(this.id)}/messages?before=${this.tl.low}&limit=${PAGE}`)).body;
    this.tl.prepend(page.data);
    this.emit('change');
    return page.hasOlder;
  }

  /** Makes a message (by id or seq) part of the timeline: held already, or a page around it, then catches up to now. */
  async jumpTo(target: string | number): Promise<void> {
    if (typeof target === 'number' ? this.tl.has(target) : this.tl.get(target) !== undefined) return;
    if (typeof target !== 'string' && (!Number.isInteger(target) || target < 1))
      throw new ChatError('VALIDATION_FAILED', 'seq must be an integer ≥ 1');
    const query = typeof target === 'string' ? `around=${enc(target)}` : `after=${Math.max(0, target - Math.floor(PAGE / 2))}`;
    const page = (await this.host.rest.request<Page>('GET', `/rooms/${enc(this.id)}/messages?${query}&limit=${PAGE}`)).body;
    if (page.data.length === 0) throw new ChatError('NOT_FOUND', 'no such message in this room', 404);
    this.tl.reset(page.data, page.data[0]!.seq - 1);
    // Contiguous from the jump up to now: the catch-up pages everything after it.
    await this.sync();
  }

  async markRead(): Promise<void> {
    const res = await this.host.rest.request<{ lastReadSeq: number }>('PATCH', `/rooms/${enc(this.id)}/read`);
    this.readers.set(this.host.userId, res.body.lastReadSeq);
    this.host.markedRead(this.id, res.body.lastReadSeq);
    this.emit('change');
  }

  /** Throttled typing_start; a typing_stop follows by itself 5 s after the last call. */
  startTyping(): void {
    const now = Date.now();
    if (now - this.typingSince > TYPING_RENEW_MS) {
      this.typingSince = now;
      this.host.emitTyping(this.id, true);
    }
    clearTimeout(this.typingStop);
    this.typingStop = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping(): void {
    clearTimeout(this.typingStop);
    this.typingStop = undefined;
    if (this.typingSince === 0) return;
    this.typingSince = 0;
    this.host.emitTyping(this.id, false);
  }

  /** @internal */
  dispose(): void {
    this.closed = true;
    // Sends still queued were rejected with CLOSED: their pending copies go with them.
    for (const p of [...this.tl.pending]) this.tl.removePending(p.clientMessageId!);
    clearTimeout(this.typingStop);
    for (const t of this.typers.values()) clearTimeout(t);
    this.typers.clear();
    this.removeAllListeners();
  }
}

const enc = encodeURIComponent;
