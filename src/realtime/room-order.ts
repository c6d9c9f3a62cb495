/**
 * Keeps the socket events of each room in the order they were published. A broadcast through a cluster adapter goes
 * out to this instance's sockets only once Redis has taken it (its recovery offset), while a new_message is delivered
 * here at once: without a queue, a send right after an edit would reach local sockets before the edit, out of
 * changeSeq order. Emits of a room run one after the other; a room with nothing in flight emits synchronously.
 */
export class RoomOrder {
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly onError: (err: unknown) => void) {}

  run(roomId: string, emit: () => unknown): void {
    const tail = this.tails.get(roomId);
    if (tail) return this.track(roomId, tail.then(emit));
    try {
      const result = emit();
      if (result instanceof Promise) this.track(roomId, result);
    } catch (err) {
      this.onError(err);
    }
  }

  private track(roomId: string, work: Promise<unknown>): void {
    const tail: Promise<void> = work.then(
      () => undefined,
      (err: unknown) => this.onError(err),
    );
    this.tails.set(roomId, tail);
    void tail.then(() => {
      if (this.tails.get(roomId) === tail) this.tails.delete(roomId);
    });
  }
}

/** How long a change waits for the one before it (in flight on this instance or another) before it goes anyway. */
export const GAP_WAIT_MS = 300;
/** A room quiet for this long is forgotten: nothing can still be in flight for it. */
const IDLE_MS = 5 * 60_000;

interface RoomState {
  /** The highest changeSeq released to sockets. */
  last: number;
  waiting: Map<number, () => unknown>;
  timer: NodeJS.Timeout | undefined;
  touchedAt: number;
}

/**
 * Releases the change events of each room (new_message, message_updated, message_deleted, reaction_updated) to this
 * instance's sockets in changeSeq order. Changes commit in changeSeq order (the room's row lock), but their events are
 * published after the commit by whichever request made them, on whichever instance: a send can overtake an edit being
 * presented, and an event of another instance can arrive late. An event whose predecessor has not been released waits
 * for it, at most GAP_WAIT_MS (it may never come: a process died between commit and publish); clients that see a gap
 * catch up through GET /rooms/:id/changes anyway. Released events go through RoomOrder, so an asynchronous broadcast
 * is not overtaken either.
 */
export class ChangeOrder {
  private readonly rooms = new Map<string, RoomState>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly out: RoomOrder,
    private readonly waitMs = GAP_WAIT_MS,
  ) {
    this.sweeper = setInterval(() => this.forgetIdle(), 60_000);
    this.sweeper.unref();
  }

  submit(roomId: string, changeSeq: number, emit: () => unknown): void {
    let room = this.rooms.get(roomId);
    // The first change seen of a room (since start, or since it went quiet) has nothing before it to wait for.
    if (!room) this.rooms.set(roomId, (room = { last: changeSeq - 1, waiting: new Map(), timer: undefined, touchedAt: 0 }));
    room.touchedAt = Date.now();
    // A late one (released past already) or a repeat goes at once: holding it back would not put it in order.
    if (changeSeq <= room.last + 1) {
      room.last = Math.max(room.last, changeSeq);
      this.out.run(roomId, emit);
      this.releaseReady(roomId, room);
      return;
    }
    room.waiting.set(changeSeq, emit);
    room.timer ??= setTimeout(() => this.giveUpWaiting(roomId, room), this.waitMs);
  }

  private releaseReady(roomId: string, room: RoomState): void {
    for (let next = room.waiting.get(room.last + 1); next; next = room.waiting.get(room.last + 1)) {
      room.waiting.delete(room.last + 1);
      room.last += 1;
      this.out.run(roomId, next);
    }
    if (room.waiting.size === 0 && room.timer) {
      clearTimeout(room.timer);
      room.timer = undefined;
    }
  }

  /** The missing change did not come in time: what waits goes out in order, and the next gap waits afresh. */
  private giveUpWaiting(roomId: string, room: RoomState): void {
    room.timer = undefined;
    const next = Math.min(...room.waiting.keys());
    room.last = next - 1;
    this.releaseReady(roomId, room);
    if (room.waiting.size > 0) room.timer = setTimeout(() => this.giveUpWaiting(roomId, room), this.waitMs);
  }

  private forgetIdle(): void {
    const before = Date.now() - IDLE_MS;
    for (const [id, room] of this.rooms) if (room.waiting.size === 0 && room.touchedAt < before) this.rooms.delete(id);
  }

  /** Releases everything still waiting, in order (shutdown). */
  close(): void {
    clearInterval(this.sweeper);
    for (const [id, room] of this.rooms) {
      if (room.timer) clearTimeout(room.timer);
      room.timer = undefined;
      while (room.waiting.size > 0) {
        room.last = Math.min(...room.waiting.keys()) - 1;
        this.releaseReady(id, room);
      }
    }
  }
}
