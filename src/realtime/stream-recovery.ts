import type { ServerOptions } from 'socket.io';
import type { Session } from 'socket.io-adapter';
import { expiryInterval, PacketIndex, replayable } from './packet-index.js';

type AdapterFactory = NonNullable<ServerOptions['adapter']>;

/** socket.io-adapter's MessageType.BROADCAST. */
export const CLUSTER_BROADCAST = 3;
/** Packets of the stream kept in memory at most (a busy cluster's recovery window may hold more: those go the slow way). */
const KEPT_PACKETS = 50_000;

/** A message between instances as a Redis adapter hands it to the cluster adapter's `onMessage` (socket.io-adapter). */
export interface ClusterMessage {
  uid?: string;
  nsp?: string;
  type: number;
  data?: {
    packet?: { type: number; id?: number; data: unknown[] };
    opts?: { rooms: string[]; except?: string[]; flags?: { volatile?: boolean } };
    requestId?: unknown;
  };
}

/** What this module reaches of the Redis streams adapter (its cluster adapter's hooks). */
interface StreamsAdapter {
  nsp: { name: string; server: { opts: { connectionStateRecovery: { maxDisconnectionDuration: number } } } };
  onMessage(message: ClusterMessage, offset?: string): unknown;
  restoreSession(pid: string, offset: string): Promise<Session | null>;
  close(): unknown;
}

/**
 * The Redis streams adapter restores a session by reading the whole stream after the session's offset (XRANGE to the
 * end, up to its 100,000 entries) and decoding every entry, for each returning socket: 1,000 sockets coming back to
 * one instance after a blip took 13–33 s, up to 24 s of it the event loop's (a profile: the adapter's decode,
 * ioredis's reply parsing and the collector). Every instance already reads every entry of the stream as it is written, so each
 * keeps the recent broadcasts of its namespace indexed by room (PacketIndex), as the single instance does, and a
 * session whose offset is among them is restored from memory: the adapter is still asked for the session itself
 * (from Redis, with its rooms) and for what came after the newest entry this instance has read. An offset older than
 * what is kept goes the adapter's own way. Packets with an acknowledgement and volatile ones are not replayed, as
 * Socket.IO's own in-memory store does not replay them (the service re-sends missed messages itself).
 */
export function indexedStreamRecovery(factory: AdapterFactory): AdapterFactory {
  // A function, not an arrow: Socket.IO calls the adapter with `new`, and the object it returns is the adapter.
  return function indexedAdapter(nsp: unknown) {
    const adapter = new (factory as unknown as new (nsp: unknown) => StreamsAdapter)(nsp);
    const index = new PacketIndex(KEPT_PACKETS);
    const windowMs = adapter.nsp.server.opts.connectionStateRecovery.maxDisconnectionDuration;
    const timer = setInterval(() => index.expire(Date.now() - windowMs), expiryInterval(windowMs));
    timer.unref();

    const onMessage = adapter.onMessage.bind(adapter);
    adapter.onMessage = (message, offset) => {
      // Every entry of the stream comes here in stream order, this instance's own too (before it is ignored as such).
      const packet = message.data?.packet;
      const opts = message.data?.opts;
      const kept =
        offset !== undefined &&
        message.type === CLUSTER_BROADCAST &&
        message.nsp === adapter.nsp.name &&
        message.data?.requestId === undefined &&
        packet !== undefined &&
        opts !== undefined &&
        replayable(packet, opts.flags);
      // Copied before the adapter appends the offset to the packet it delivers.
      if (kept) index.add(offset, opts.rooms, opts.except, [...packet.data, offset]);
      return onMessage(message, offset);
    };

    const restore = adapter.restoreSession.bind(adapter);
    adapter.restoreSession = async (pid, offset) => {
      const newest = index.latest();
      if (newest === undefined || !index.has(offset)) return restore(pid, offset);
      // The session, and what the stream holds after the newest entry read here (not yet read: it also comes live).
      const session = await restore(pid, newest);
      if (!session) return session;
      const kept = index.missed(offset, session.rooms, newest);
      // Dropped from memory meanwhile (a burst of 50,000 packets): the session is taken, so no recovery; the client
      // catches up as after any longer absence.
      if (!kept) return null;
      return { ...session, missedPackets: [...kept, ...session.missedPackets] };
    };

    const close = adapter.close.bind(adapter);
    adapter.close = () => {
      clearInterval(timer);
      return close();
    };
    return adapter;
  } as unknown as AdapterFactory;
}
