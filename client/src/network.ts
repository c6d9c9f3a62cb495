import { io, type Manager, type Socket } from 'socket.io-client';

/** The longest wait between two reconnection attempts: once the network is back, the socket is within this of it. */
export const RETRY_MAX_MS = 1500;

/**
 * Reconnection attempts spread over [RETRY_MAX_MS / 2, RETRY_MAX_MS]. Socket.IO jitters each wait and then caps it, so
 * at its cap every wait is the cap exactly: clients cut off together (a server restart, a proxy's) would come back in
 * step, all at once, every time. Drawing the cap afresh before each attempt keeps them apart and still bounds the wait.
 */
function spreadRetries(manager: Manager): void {
  const draw = () => void manager.reconnectionDelayMax(Math.round(RETRY_MAX_MS * (0.5 + Math.random() / 2)));
  draw();
  manager.on('reconnect_attempt', draw);
}

/**
 * The client's one socket, on the `/chat` namespace, not connected yet. `auth` is asked before every attempt.
 * A WebSocket first, in one request (polling first takes four, and then upgrades); long-polling in the same attempt
 * where the WebSocket fails. Waits between attempts double from 250 ms (jittered) and stay under RETRY_MAX_MS.
 */
export function openSocket<S extends Socket>(url: string, auth: (cb: (data: object) => void) => void): S {
  const socket = io(`${url.replace(/\/+$/, '')}/chat`, {
    autoConnect: false,
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
    reconnectionDelay: 250,
    auth,
  });
  spreadRetries(socket.io);
  return socket as S;
}

/**
 * In a browser, the page's own word on the network: a WebSocket can outlive a network that went away (and sit there
 * until a ping times out), so `offline` is acted on at once, and `online` brings the connection back. Elsewhere: nothing.
 */
export function watchNetwork(onOffline: () => void, onOnline: () => void): (() => void) | undefined {
  const target = globalThis as unknown as Partial<Pick<Window, 'addEventListener' | 'removeEventListener'>>;
  if (typeof target.addEventListener !== 'function' || typeof navigator === 'undefined' || !('onLine' in navigator)) return undefined;
  target.addEventListener('offline', onOffline);
  target.addEventListener('online', onOnline);
  return () => {
    target.removeEventListener?.('offline', onOffline);
    target.removeEventListener?.('online', onOnline);
  };
}
