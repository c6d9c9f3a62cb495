import type { Message, MessageDeletedEvent, PendingMessage, ReactionUpdatedEvent, SendInput, TimelineMessage } from './types.js';

/**
 * One room's messages as the client holds them: a contiguous run of seqs [low, high], each message once, in its latest
 * state. Applying a message is an upsert that keeps the higher changeSeq, so a live event, a replay and a REST page can
 * arrive in any order and any number of times and the result is the same.
 */
export class Timeline {
  private readonly byId = new Map<string, Message>();
  /** The held run of seqs; empty when high < low. */
  low = 1;
  high = 0;
  /** The room's change-log position this timeline has applied everything up to. */
  lastChangeSeq = 0;
  pending: PendingMessage[] = [];
  private cached: TimelineMessage[] | undefined;

  constructor(private readonly me: string) {}

  /** Replaces what is held with a contiguous page (ascending seq). */
  reset(page: Message[], emptyAt: number): void {
    this.byId.clear();
    this.low = page[0]?.seq ?? emptyAt + 1;
    this.high = page.at(-1)?.seq ?? emptyAt;
    for (const m of page) this.byId.set(m.id, m);
    for (const m of page) this.settlePending(m);
    this.cached = undefined;
  }

  /** Older messages, right below what is held (ascending). */
  prepend(page: Message[]): void {
    const fitting = page.filter((m) => m.seq < this.low);
    if (fitting.length === 0) return;
    for (const m of fitting) this.byId.set(m.id, m);
    this.low = Math.min(this.low, fitting[0]!.seq);
    this.cached = undefined;
  }

  /**
   * Applies a message as the server showed it. Answers 'gap' for a new message beyond high + 1 (the caller catches
   * up), 'outside' for one below what is held, else whether anything changed.
   */
  apply(m: Message, broadcast = false): 'changed' | 'same' | 'gap' | 'outside' {
    if (m.seq < this.low) return 'outside';
    if (m.seq > this.high + 1) return 'gap';
    const held = this.byId.get(m.id);
    if (held && held.changeSeq >= m.changeSeq) return 'same';
    // A broadcast's `me` is false for everyone; a REST answer's is the client's own.
    this.byId.set(m.id, held && broadcast ? keepOwnReactions(held, m) : m);
    if (m.seq === this.high + 1) this.high = m.seq;
    this.settlePending(m);
    this.cached = undefined;
    return 'changed';
  }

  applyDeleted(e: MessageDeletedEvent): boolean {
    const held = this.byId.get(e.id);
    if (!held || held.changeSeq >= e.changeSeq) return false;
    this.byId.set(e.id, tombstoneOf(held, e));
    this.cached = undefined;
    return true;
  }

  applyReaction(e: ReactionUpdatedEvent): boolean {
    const held = this.byId.get(e.messageId);
    if (!held || held.changeSeq >= e.changeSeq) return false;
    const mine = new Set(held.reactions.filter((r) => r.me).map((r) => r.emoji));
    if (e.userId === this.me) {
      if (e.added) mine.add(e.emoji);
      else mine.delete(e.emoji);
    }
    const reactions = e.reactions.map((r) => ({ emoji: r.emoji, count: r.count, me: mine.has(r.emoji) }));
    this.byId.set(held.id, { ...held, reactions, changeSeq: e.changeSeq });
    this.cached = undefined;
    return true;
  }

  get(id: string): Message | undefined {
    return this.byId.get(id);
  }

  has(seq: number): boolean {
    return seq >= this.low && seq <= this.high;
  }

  addPending(p: PendingMessage): void {
    this.pending.push(p);
    this.cached = undefined;
  }

  removePending(clientMessageId: string): void {
    const before = this.pending.length;
    this.pending = this.pending.filter((p) => p.clientMessageId !== clientMessageId);
    if (this.pending.length !== before) this.cached = undefined;
  }

  /** Ascending seq, each message once; pending sends last, in the order they were made. */
  messages(): TimelineMessage[] {
    if (!this.cached) {
      const stored = [...this.byId.values()].filter((m) => m.seq >= this.low && m.seq <= this.high).sort((a, b) => a.seq - b.seq);
      this.cached = [...stored, ...this.pending];
    }
    return this.cached;
  }

  /** The stored copy of one of our sends replaces its pending copy. */
  private settlePending(m: Message): void {
    if (m.senderId === this.me && m.clientMessageId !== null) this.removePending(m.clientMessageId);
  }
}

/** Broadcasts carry `me: false`; what the client knows of its own reactions is kept. */
function keepOwnReactions(held: Message, next: Message): Message {
  if (!held.reactions.some((r) => r.me)) return next;
  const mine = new Set(held.reactions.filter((r) => r.me).map((r) => r.emoji));
  return { ...next, reactions: next.reactions.map((r) => ({ ...r, me: mine.has(r.emoji) })) };
}

/** A message as a delete leaves it (API.md, tombstone): its place, sender and times; no content, files, reactions or pin. */
export function tombstoneOf(m: Message, e: MessageDeletedEvent): Message {
  return {
    ...m,
    content: '',
    mentions: [],
    media: [],
    reactions: [],
    pinnedAt: null,
    pinnedBy: null,
    editedAt: null,
    deletedAt: e.deletedAt,
    deletedBy: e.deletedBy,
    changeSeq: e.changeSeq,
  };
}

/** The optimistic copy of a send, shown at once in its room until the stored message (same clientMessageId) replaces it. */
export function pendingMessage(roomId: string, senderId: string, clientMessageId: string, input: SendInput): PendingMessage {
  return {
    id: `pending:${clientMessageId}`,
    chatRoomId: roomId,
    seq: null,
    pending: true,
    senderId,
    type: 'text',
    content: input.content,
    mentions: input.mentions ?? [],
    replyToId: input.replyToId ?? null,
    replyTo: null,
    media: [],
    clientMessageId,
    createdAt: new Date().toISOString(),
    editedAt: null,
    deletedAt: null,
    deletedBy: null,
    changeSeq: 0,
    pinnedAt: null,
    pinnedBy: null,
    reactions: [],
  };
}
