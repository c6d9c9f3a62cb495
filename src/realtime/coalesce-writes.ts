import type { Socket as NetSocket } from 'node:net';
import { transports } from 'engine.io';

const patched = Symbol('chat.coalesceWrites');

/**
 * One system call for the packets a WebSocket flushes together. Engine.io queues a socket's packets while its last
 * write is in flight and then sends them one frame at a time; `ws` writes each frame with its own `writev`, so a
 * recipient of a group-commit batch of k messages cost k system calls (and, on loopback or a busy NIC, k segments).
 * A profile of the fan-out put 29 % of the server's CPU in `writev`, and 11 % of engine.io's flushes held 2 or more
 * packets, carrying 47 % of all packets. Corking the TCP socket around the flush makes them one `writev`: the frames,
 * their order and their callbacks are unchanged (`ws` corks each frame itself; the outer cork only holds the flush).
 *
 * It patches the transport's prototype once rather than each connection, so no socket carries an extra closure.
 */
export function coalesceWebSocketWrites(): void {
  const proto = transports.websocket.prototype as unknown as {
    send(packets: unknown[]): void;
    socket?: { _socket?: NetSocket };
    [patched]?: true;
  };
  if (proto[patched]) return;
  const send = proto.send;
  proto.send = function (this: typeof proto, packets: unknown[]): void {
    const tcp = packets.length > 1 ? this.socket?._socket : undefined;
    if (!tcp || tcp.destroyed) return send.call(this, packets);
    tcp.cork();
    try {
      send.call(this, packets);
    } finally {
      tcp.uncork();
    }
  };
  proto[patched] = true;
}
