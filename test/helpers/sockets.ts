import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents, AckResponse } from '../../src/contract/events.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * A real socket.io-client socket on /chat, resolved once connected (rejected with the connect_error message). With
 * `ready`, resolved once the server's 'ready' has arrived too: it is a broadcast, which through the Redis adapter lands
 * after a round trip, and only then does the client hold a recovery offset and the server owe it nothing more.
 */
export function connect(
  baseUrl: string,
  token: string | undefined,
  opts: { headers?: Record<string, string>; reconnection?: boolean; ready?: boolean } = {},
): Promise<ClientSocket> {
  const socket: ClientSocket = io(`${baseUrl}/chat`, {
    ...(token !== undefined ? { auth: { token } } : {}),
    ...(opts.headers ? { extraHeaders: opts.headers } : {}),
    transports: ['websocket'],
    reconnection: opts.reconnection ?? false,
    reconnectionDelay: 50,
    forceNew: true,
  });
  // Listened for from the start: 'ready' can arrive in the same read as the connect packet.
  const ready = opts.ready ? new Promise<unknown>((resolve) => socket.once('ready', resolve)) : undefined;
  return new Promise((resolve, reject) => {
    socket.once('connect', () => void (ready ?? Promise.resolve()).then(() => resolve(socket)));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** The next `event` matching `match`, or a rejection after `ms`. */
export function waitFor<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
  match: (payload: Parameters<ServerToClientEvents[E]>[0]) => boolean = () => true,
  ms = 5000,
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler as never);
      reject(new Error(`no ${String(event)} within ${ms} ms`));
    }, ms);
    const handler = (payload: Parameters<ServerToClientEvents[E]>[0]) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      socket.off(event, handler as never);
      resolve(payload);
    };
    socket.on(event, handler as never);
  });
}

/** Everything `socket` receives of `event` from now on. */
export function record<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
): Array<Parameters<ServerToClientEvents[E]>[0]> {
  const seen: Array<Parameters<ServerToClientEvents[E]>[0]> = [];
  socket.on(event, ((payload: Parameters<ServerToClientEvents[E]>[0]) => seen.push(payload)) as never);
  return seen;
}

/** Every event a socket receives, by name: for asserting that a stranger heard nothing. */
export function recordAll(socket: ClientSocket): Array<{ event: string; args: unknown[] }> {
  const seen: Array<{ event: string; args: unknown[] }> = [];
  socket.onAny((event: string, ...args: unknown[]) => {
    if (event !== 'ready') seen.push({ event, args });
  });
  return seen;
}

/** Emits a client event and resolves with its acknowledgement. */
export function call<E extends keyof ClientToServerEvents>(socket: ClientSocket, event: E, payload: unknown): Promise<AckResponse<any>> {
  return new Promise((resolve) => (socket.emit as (...a: unknown[]) => void)(event, payload, (res: AckResponse<any>) => resolve(res)));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
