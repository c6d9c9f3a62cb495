import type { Socket as NetSocket } from 'node:net';
import { Socket as EngineSocket, transports } from 'engine.io';

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
  flushOncePerBurst();
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

type Flushable = { flush(): void; onError(err: unknown): void; [patched]?: true };
let due = new Set<Flushable>();
let engineFlush: Flushable['flush'] = () => {};

/**
 * A socket's packets of one burst go out in one flush. Engine.io flushed at every packet: the first packet went out
 * alone and the rest waited for its write to complete, so a connect cost two writes (Socket.IO's CONNECT, then the
 * service's `ready`) and a recipient of two rooms' batches at once two as well. Now a socket asked to flush is flushed
 * once the code that is running has finished (a microtask), with everything queued for it by then; one set and one
 * callback for all sockets, nothing per socket. A microtask and not the next tick: the frames of a REST write's events
 * are still handed to the sockets before the write's HTTP answer is (its continuation is queued after the flush).
 */
function flushOncePerBurst(): void {
  const proto = EngineSocket.prototype as unknown as Flushable;
  if (proto[patched]) return;
  engineFlush = proto.flush;
  proto.flush = function (this: Flushable): void {
    if (due.size === 0) queueMicrotask(flushDue);
    due.add(this);
  };
  proto[patched] = true;
}

function flushDue(): void {
  const sockets = due;
  due = new Set();
  for (const socket of sockets) {
    try {
      engineFlush.call(socket);
    } catch (err) {
      // Thrown here it would stop the process; engine.io closes a socket whose transport failed.
      socket.onError(err);
    }
  }
}
