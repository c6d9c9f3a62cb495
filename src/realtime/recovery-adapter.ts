import { randomBytes } from 'node:crypto';
import { Adapter, type BroadcastOptions, type PrivateSessionId, type Room, type Session } from 'socket.io-adapter';

/** socket.io-parser's EVENT packet type: only events are kept for recovery, as Socket.IO's own adapter does. */
const EVENT = 2;
const EXPIRE_EVERY_MS = 60_000;

interface Stored {
  seq: number;
  id: string;
  opts: BroadcastOptions;
  data: unknown[];
  emittedAt: number;
}

type Persisted = Omit<Session, 'missedPackets'> & { disconnectedAt: number };

/**
 * The in-memory adapter with connection-state recovery (one instance; Redis brings its own), kept as Socket.IO's
 * SessionAwareAdapter keeps it, except for how a session finds what it missed. Socket.IO's scans every packet kept since
 * the session's offset and tests each against the session's rooms. Every socket here receives a kept packet of its
 * own when it connects (`ready`, its first recovery offset), so after a network blip each of N returning sockets
 * scanned about N packets: N² tests, seconds of a blocked event loop at 10,000 sockets. Here each packet is indexed
 * under the rooms it went to, and a session reads only its own rooms' packets after its offset.
 */
export class RecoveryAdapter extends Adapter {
  private readonly sessions = new Map<PrivateSessionId, Persisted>();
  /** Every kept packet, oldest first; the front is cut as packets outlive the recovery window. */
  private readonly packets: Stored[] = [];
  private readonly byId = new Map<string, Stored>();
  /** Packets to every socket of the namespace (no room named). */
  private readonly toAll: Stored[] = [];
  private readonly byRoom = new Map<Room, Stored[]>();
  private nextSeq = 0;
  /** Offsets must not match a previous process's: its sessions are gone, and a match would replay the wrong packets. */
  private readonly prefix = randomBytes(6).toString('base64url');
  private readonly windowMs: number;
  private readonly timer: NodeJS.Timeout;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the adapter's constructor signature (socket.io-adapter)
  constructor(nsp: any) {
    super(nsp);
    this.windowMs = nsp.server.opts.connectionStateRecovery.maxDisconnectionDuration;
    this.timer = setInterval(() => this.expire(Date.now() - this.windowMs), EXPIRE_EVERY_MS);
    this.timer.unref();
  }

  override close(): void {
    clearInterval(this.timer);
  }

  override persistSession(session: Omit<Session, 'missedPackets'>): void {
    this.sessions.set(session.pid, { ...session, disconnectedAt: Date.now() });
  }

  /** Socket.IO awaits this; null (no recovery) is what its own adapter answers too, despite the declared type. */
  override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session> {
    return Promise.resolve(this.missed(pid, offset)) as Promise<Session>;
  }

  private missed(pid: PrivateSessionId, offset: string): Session | null {
    const session = this.sessions.get(pid);
    if (!session) return null;
    if (session.disconnectedAt + this.windowMs < Date.now()) {
      this.sessions.delete(pid);
      return null;
    }
    const from = this.byId.get(offset);
    // An offset that is unknown (too old, or from another process) cannot say what was missed: no recovery.
    if (!from) return null;
    const lists = [this.toAll];
    for (const room of session.rooms) {
      const list = this.byRoom.get(room);
      if (list) lists.push(list);
    }
    const found: Stored[] = [];
    for (const list of lists) for (let i = after(list, from.seq); i < list.length; i++) found.push(list[i]!);
    found.sort((a, b) => a.seq - b.seq);
    const missedPackets: unknown[][] = [];
    let last = -1;
    for (const p of found) {
      // A packet to several of the session's rooms is in each of their lists.
      if (p.seq === last) continue;
      last = p.seq;
      if (!session.rooms.some((room) => p.opts.except?.has(room))) missedPackets.push(p.data);
    }
    const { disconnectedAt: _, ...kept } = session;
    return { ...kept, missedPackets };
  }

  override broadcast(packet: { type: number; id?: number; data: unknown[] }, opts: BroadcastOptions): void {
    // A packet with an acknowledgement cannot be replayed (its callback does not survive), nor can a volatile one.
    if (packet.type === EVENT && packet.id === undefined && opts.flags?.volatile === undefined) {
      const seq = this.nextSeq++;
      const id = `${this.prefix}${seq.toString(36)}`;
      // The offset goes last in the data: the client keeps it as the last packet it has processed.
      packet.data.push(id);
      const stored: Stored = { seq, id, opts, data: packet.data, emittedAt: Date.now() };
      this.packets.push(stored);
      this.byId.set(id, stored);
      if (opts.rooms.size === 0) this.toAll.push(stored);
      for (const room of opts.rooms) {
        const list = this.byRoom.get(room);
        if (list) list.push(stored);
        else this.byRoom.set(room, [stored]);
      }
    }
    super.broadcast(packet, opts);
  }

  /** Drops sessions and packets older than `threshold`; each list is in send order, so what goes is at its front. */
  expire(threshold: number): void {
    for (const [pid, session] of this.sessions) if (session.disconnectedAt < threshold) this.sessions.delete(pid);
    let n = 0;
    while (n < this.packets.length && this.packets[n]!.emittedAt < threshold) n++;
    if (n === 0) return;
    const gone = this.packets.splice(0, n);
    const lastSeq = gone.at(-1)!.seq;
    for (const p of gone) this.byId.delete(p.id);
    this.toAll.splice(0, after(this.toAll, lastSeq));
    const rooms = new Set(gone.flatMap((p) => [...p.opts.rooms]));
    for (const room of rooms) {
      const list = this.byRoom.get(room)!;
      const cut = after(list, lastSeq);
      if (cut === list.length) this.byRoom.delete(room);
      else list.splice(0, cut);
    }
  }
}

/** The index of the first packet of `list` (in seq order) with a seq above `seq`. */
function after(list: Stored[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.seq <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
