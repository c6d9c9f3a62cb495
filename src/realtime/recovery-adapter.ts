import { randomBytes } from 'node:crypto';
import { Adapter, type BroadcastOptions, type PrivateSessionId, type Session } from 'socket.io-adapter';
import { expiryInterval, PacketIndex, replayable } from './packet-index.js';

type Persisted = Omit<Session, 'missedPackets'> & { disconnectedAt: number };

/**
 * The in-memory adapter with connection-state recovery (one instance; with Redis see stream-recovery.ts), kept as
 * Socket.IO's SessionAwareAdapter keeps it, except for how a session finds what it missed. Socket.IO's scans every
 * packet kept since the session's offset and tests each against the session's rooms. Every socket here receives a
 * kept packet of its own when it connects (`ready`, its first recovery offset), so after a network blip each of N
 * returning sockets scanned about N packets: N² tests, seconds of a blocked event loop at 10,000 sockets. Here the
 * packets are indexed by room (PacketIndex), and a session reads only its own rooms' packets after its offset.
 */
export class RecoveryAdapter extends Adapter {
  private readonly sessions = new Map<PrivateSessionId, Persisted>();
  /** How many sessions awaiting recovery hold each room. */
  private readonly awaited = new Map<string, number>();
  private readonly index = new PacketIndex();
  private nextId = 0;
  /** Offsets must not match a previous process's: its sessions are gone, and a match would replay the wrong packets. */
  private readonly prefix = randomBytes(6).toString('base64url');
  private readonly windowMs: number;
  private readonly timer: NodeJS.Timeout;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the adapter's constructor signature (socket.io-adapter)
  constructor(nsp: any) {
    super(nsp);
    this.windowMs = nsp.server.opts.connectionStateRecovery.maxDisconnectionDuration;
    this.timer = setInterval(() => this.expire(Date.now() - this.windowMs), expiryInterval(this.windowMs));
    this.timer.unref();
  }

  override close(): void {
    clearInterval(this.timer);
  }

  override persistSession(session: Omit<Session, 'missedPackets'>): void {
    this.forget(session.pid);
    this.sessions.set(session.pid, { ...session, disconnectedAt: Date.now() });
    for (const room of session.rooms) this.awaited.set(room, (this.awaited.get(room) ?? 0) + 1);
  }

  private forget(pid: PrivateSessionId): void {
    const session = this.sessions.get(pid);
    if (!session) return;
    this.sessions.delete(pid);
    for (const room of session.rooms) {
      const n = this.awaited.get(room)! - 1;
      if (n) this.awaited.set(room, n);
      else this.awaited.delete(room);
    }
  }

  /** Socket.IO awaits this; null (no recovery) is what its own adapter answers too, despite the declared type. */
  override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session> {
    return Promise.resolve(this.missed(pid, offset)) as Promise<Session>;
  }

  private missed(pid: PrivateSessionId, offset: string): Session | null {
    const session = this.sessions.get(pid);
    if (!session) return null;
    if (session.disconnectedAt + this.windowMs < Date.now()) {
      this.forget(pid);
      return null;
    }
    // An offset that is unknown (too old, or from another process) cannot say what was missed: no recovery.
    const missedPackets = this.index.missed(offset, session.rooms);
    if (!missedPackets) return null;
    const { disconnectedAt: _, ...kept } = session;
    return { ...kept, missedPackets };
  }

  override broadcast(packet: { type: number; id?: number; data: unknown[] }, opts: BroadcastOptions): void {
    if (replayable(packet, opts.flags) && this.awaitable(opts.rooms)) {
      const id = `${this.prefix}${(this.nextId++).toString(36)}`;
      // The offset goes last in the data: the client keeps it as the last packet it has processed.
      packet.data.push(id);
      this.index.add(id, opts.rooms, opts.except, packet.data);
    }
    super.broadcast(packet, opts);
  }

  /**
   * Whether a packet to `rooms` can ever be replayed: only to a session that holds one of them, which is either
   * awaiting recovery now or a socket connected now (its session will hold its rooms when it disconnects). A packet
   * to rooms with neither (most rooms of a large deployment at any moment; an erase's 100,000 `message_deleted` to
   * rooms nobody has open) would be kept for the whole window for no one: minutes of old-generation heap that every
   * full collection marks.
   */
  private awaitable(rooms: Set<string>): boolean {
    if (rooms.size === 0) return true;
    for (const room of rooms) if (this.rooms.has(room) || this.awaited.has(room)) return true;
    return false;
  }

  /** Drops sessions and packets older than `threshold`. */
  expire(threshold: number): void {
    for (const [pid, session] of this.sessions) if (session.disconnectedAt < threshold) this.forget(pid);
    this.index.expire(threshold);
  }
}
