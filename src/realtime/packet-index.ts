/** socket.io-parser's PacketType.EVENT. */
export const EVENT_PACKET = 2;

/**
 * Whether Socket.IO keeps a broadcast for recovery: an event without an acknowledgement (its callback does not survive
 * a reconnect) that is not volatile. The one rule for both stores (recovery-adapter.ts, stream-recovery.ts).
 */
export function replayable(packet: { type: number; id?: number } | undefined, flags: { volatile?: boolean } | undefined): boolean {
  return packet?.type === EVENT_PACKET && packet.id === undefined && flags?.volatile === undefined;
}

/**
 * How often kept packets older than the recovery window are dropped: a quarter of the window, at most a minute, so a
 * packet outlives the window by at most that (every minute, a two-minute window kept packets for up to three).
 */
export function expiryInterval(windowMs: number): number {
  return Math.min(60_000, Math.max(1_000, Math.floor(windowMs / 4)));
}

/**
 * A kept packet: its recovery offset, where it went, and its data as the client gets it (the offset last), as JSON.
 * Kept for the whole recovery window (minutes; at a steady fan-out hundreds of thousands, mostly `message_delivered`),
 * so each lives in the old generation, and every full collection marks what it holds: as a string its data is one
 * object with nothing to trace, where the parsed data, and a Set for its rooms and one for the exceptions, were about
 * ten. Socket.IO sends the same JSON (the events carry no binary), and a restore, which is rare, parses it back.
 */
interface Kept {
  seq: number;
  id: string;
  rooms: readonly string[];
  except: readonly string[];
  json: string;
  at: number;
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * The packets kept for connection-state recovery, in the order they were sent, indexed by the rooms they went to, so
 * a returning session reads only its own rooms' packets after its offset. Socket.IO's adapters scan every packet kept
 * since the offset instead, testing each against the session's rooms: a storm of N returning sockets cost about N
 * times the packets kept (see recovery-adapter.ts and stream-recovery.ts).
 */
export class PacketIndex {
  private readonly packets: Kept[] = [];
  private readonly byId = new Map<string, Kept>();
  /** Packets to every socket of the namespace (no room named). */
  private readonly toAll: Kept[] = [];
  private readonly byRoom = new Map<string, Kept[]>();
  private nextSeq = 0;

  constructor(private readonly maxPackets = Infinity) {}

  add(id: string, rooms: Iterable<string>, except: Iterable<string> | undefined, data: unknown[], at = Date.now()): void {
    const excepted = except ? [...except] : NONE;
    const kept: Kept = {
      seq: this.nextSeq++,
      id,
      rooms: [...rooms],
      except: excepted.length ? excepted : NONE,
      json: JSON.stringify(data),
      at,
    };
    this.packets.push(kept);
    this.byId.set(id, kept);
    if (kept.rooms.length === 0) this.toAll.push(kept);
    for (const room of kept.rooms) {
      const list = this.byRoom.get(room);
      if (list) list.push(kept);
      else this.byRoom.set(room, [kept]);
    }
    if (this.packets.length > this.maxPackets) this.drop(this.packets.length - this.maxPackets);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** The offset of the newest packet kept. */
  latest(): string | undefined {
    return this.packets.at(-1)?.id;
  }

  /**
   * The data of every packet after `from` (up to `until`, when given) that went to one of `rooms` or to everyone, and
   * to none of them as an exception; undefined when `from` (or `until`) is not kept (too old, or unknown).
   */
  missed(from: string, rooms: string[], until?: string): unknown[][] | undefined {
    const first = this.byId.get(from);
    if (!first) return undefined;
    const bound = until === undefined ? undefined : this.byId.get(until);
    if (until !== undefined && !bound) return undefined;
    const last = bound ? bound.seq : Infinity;
    const found: Kept[] = [];
    const lists = [this.toAll];
    for (const room of rooms) {
      const list = this.byRoom.get(room);
      if (list) lists.push(list);
    }
    for (const list of lists) {
      for (let i = after(list, first.seq); i < list.length && list[i]!.seq <= last; i++) found.push(list[i]!);
    }
    found.sort((a, b) => a.seq - b.seq);
    const missed: unknown[][] = [];
    let previous = -1;
    for (const p of found) {
      // A packet to several of the session's rooms is in each of their lists.
      if (p.seq === previous) continue;
      previous = p.seq;
      if (!rooms.some((room) => p.except.includes(room))) missed.push(JSON.parse(p.json) as unknown[]);
    }
    return missed;
  }

  /** Drops the packets kept since before `threshold`. */
  expire(threshold: number): void {
    let n = 0;
    while (n < this.packets.length && this.packets[n]!.at < threshold) n++;
    this.drop(n);
  }

  /** Drops the `n` oldest packets; each list is in send order, so what goes is at its front. */
  private drop(n: number): void {
    if (n <= 0) return;
    const gone = this.packets.splice(0, n);
    const lastSeq = gone.at(-1)!.seq;
    const rooms = new Set<string>();
    for (const p of gone) {
      this.byId.delete(p.id);
      for (const room of p.rooms) rooms.add(room);
    }
    this.toAll.splice(0, after(this.toAll, lastSeq));
    for (const room of rooms) {
      const list = this.byRoom.get(room)!;
      const cut = after(list, lastSeq);
      if (cut === list.length) this.byRoom.delete(room);
      else list.splice(0, cut);
    }
  }
}

/** The index of the first packet of `list` (in seq order) with a seq above `seq`. */
function after(list: Kept[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
