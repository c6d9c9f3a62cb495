import type { Server as HttpServer } from 'node:http';
import type { Ajv, ValidateFunction } from 'ajv';
import { Server, type Namespace, type ServerOptions, type Socket } from 'socket.io';
import { bearerToken } from '../auth/auth.hook.js';
import type { AuthContext, TokenVerifier } from '../auth/tokens.js';
import type { Config } from '../config.js';
import { AppError, toAckError } from '../errors.js';
import { toAppError } from '../http/errors.js';
import type { MessagesService } from '../messages/messages.service.js';
import type { PresenceService } from '../presence/presence.service.js';
import type { ReadsService } from '../reads/reads.service.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import type { UsersService } from '../users/users.service.js';
import type { RateLimiter } from './rate-limiter.js';
import type { Ack, ClientToServerEvents, ServerToClientEvents } from './realtime.events.js';
import { SocketSchemas } from './realtime.schemas.js';
import type { TypingTracker } from './typing.js';

export interface SocketData {
  auth: AuthContext;
  /** Per room, the highest seq this socket acknowledged (or the room's last seq when it joined): replay starts there. */
  seen: Record<string, number>;
  /** Rooms this socket stopped with leave_chat; kept across recovery. */
  left: string[];
}

export type ChatNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

export const roomChannel = (roomId: string) => `room:${roomId}`;
export const userChannel = (userId: string) => `user:${userId}`;

export interface GatewayDeps {
  config: Config;
  verifier: TokenVerifier;
  ajv: Ajv;
  users: UsersService;
  messages: MessagesService;
  reads: ReadsService;
  presence: PresenceService;
  guard: RoomAccessGuard;
  /** The rooms of a user with their last seqs; the lookups of a burst of handshakes are joined into one query. */
  roomsOf(userId: string): Promise<Array<{ roomId: string; lastSeq: number }>>;
  typing: TypingTracker;
  writeLimiter: RateLimiter;
  typingLimiter: RateLimiter;
  /** Re-sends what a recovered socket missed of new_message (those carry acks, so Socket.IO does not keep them). */
  replayMissed(socket: ChatSocket): Promise<void>;
  log: { error(obj: object, msg: string): void };
}

/** Socket.IO on the HTTP server, namespace /chat: handshake auth, room channels, and thin event handlers. */
export function createSocketServer(httpServer: HttpServer, config: Config, adapter?: ServerOptions['adapter']): Server {
  return new Server(httpServer, {
    ...(adapter ? { adapter } : {}),
    maxHttpBufferSize: config.realtime.maxPayloadBytes,
    connectionStateRecovery: { maxDisconnectionDuration: config.realtime.recoveryWindowMs, skipMiddlewares: false },
    cors: { origin: config.corsOrigins === '*' ? true : config.corsOrigins, credentials: false },
  });
}

/** Event handlers still running; shutdown waits for them so every accepted send is acknowledged. */
const inFlight = new WeakMap<ChatNamespace, { count: number; draining: boolean; idle: Array<() => void> }>();

/** Refuses new client events (UNAVAILABLE) and resolves once the running ones have answered. */
export function drain(nsp: ChatNamespace): Promise<void> {
  const state = inFlight.get(nsp);
  if (!state) return Promise.resolve();
  state.draining = true;
  if (state.count === 0) return Promise.resolve();
  return new Promise((resolve) => state.idle.push(resolve));
}

export function attachChatNamespace(io: Server, deps: GatewayDeps): ChatNamespace {
  const nsp = io.of('/chat') as ChatNamespace;
  inFlight.set(nsp, { count: 0, draining: false, idle: [] });
  nsp.use((socket, next) => {
    authenticateSocket(socket as ChatSocket, deps).then(
      () => next(),
      (err: unknown) => {
        const appErr = toAppError(err);
        if (appErr.code === 'INTERNAL') deps.log.error({ err }, 'socket handshake failed');
        next(new Error(appErr.code));
      },
    );
  });
  nsp.on('connection', (socket) => onConnection(nsp, socket, deps));
  return nsp;
}

async function authenticateSocket(socket: ChatSocket, deps: GatewayDeps): Promise<void> {
  const given = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
  const token = typeof given === 'string' ? given : bearerToken(socket.handshake.headers.authorization);
  if (!token) throw new AppError('UNAUTHORIZED', 'Missing token');
  const auth = await deps.verifier.verify(token);
  await deps.users.remember(auth);
  const rooms = await deps.roomsOf(auth.userId);
  // A recovered session keeps what it had seen and left; anything else starts now.
  const same = socket.recovered && socket.data.auth?.userId === auth.userId;
  const seen: Record<string, number> = same ? socket.data.seen : {};
  const left = new Set(same ? socket.data.left : []);
  const current = new Set(rooms.map((r) => roomChannel(r.roomId)));
  for (const r of rooms) if (seen[r.roomId] === undefined) seen[r.roomId] = r.lastSeq;
  for (const channel of socket.rooms) if (channel.startsWith('room:') && !current.has(channel)) socket.leave(channel);
  socket.data = { auth, seen, left: [...left] };
  // Joined before `connect` fires, so a message sent right after connecting is never missed.
  socket.join([userChannel(auth.userId), ...[...current].filter((c) => !left.has(c))]);
}

function onConnection(nsp: ChatNamespace, socket: ChatSocket, deps: GatewayDeps): void {
  const { auth } = socket.data;
  deps.presence.connected(auth.userId);
  let expiry: NodeJS.Timeout | undefined;
  if (auth.exp !== undefined) {
    // Disconnected at expiry; the client reconnects with a fresh token.
    expiry = setTimeout(() => socket.disconnect(true), Math.max(0, auth.exp * 1000 - Date.now()));
    expiry.unref();
  }
  socket.on('disconnect', () => {
    if (expiry) clearTimeout(expiry);
    deps.typing.socketGone(socket.id);
    deps.presence.disconnected(auth.userId);
  });
  if (socket.recovered) void deps.replayMissed(socket).catch((err: unknown) => deps.log.error({ err }, 'replay failed'));

  const on = handlerFactory(socket, deps, inFlight.get(nsp)!);
  on('send_message', async (p) => {
    await deps.writeLimiter.hit(`${auth.userId}:write`);
    const { message } = await deps.messages.send(auth, p.chatRoomId, {
      content: p.content,
      ...(p.replyToId !== undefined ? { replyToId: p.replyToId } : {}),
      ...(p.mentions !== undefined ? { mentions: p.mentions } : {}),
      ...(p.clientMessageId !== undefined ? { clientMessageId: p.clientMessageId } : {}),
      ...(p.mediaIds !== undefined ? { mediaIds: p.mediaIds } : {}),
    });
    return message;
  });
  on('mark_as_read', async (p) => {
    await deps.writeLimiter.hit(`${auth.userId}:write`);
    return deps.reads.markRoomRead(auth, p.chatRoomId, p.messageId);
  });
  on('typing_start', async (p) => {
    await deps.typingLimiter.hit(`${auth.userId}:typing`);
    await deps.guard.member(auth, p.chatRoomId);
    await deps.typing.start(auth.userId, p.chatRoomId, socket.id);
    return null;
  });
  on('typing_stop', async (p) => {
    await deps.typingLimiter.hit(`${auth.userId}:typing`);
    await deps.guard.member(auth, p.chatRoomId);
    await deps.typing.stop(auth.userId, p.chatRoomId);
    return null;
  });
  on('join_chat', async (p) => {
    const { room } = await deps.guard.member(auth, p.chatRoomId);
    socket.data.left = socket.data.left.filter((c) => c !== roomChannel(room.id));
    socket.data.seen[room.id] ??= room.lastSeq;
    socket.join(roomChannel(room.id));
    return null;
  });
  on('leave_chat', async (p) => {
    const { room } = await deps.guard.member(auth, p.chatRoomId);
    if (!socket.data.left.includes(roomChannel(room.id))) socket.data.left.push(roomChannel(room.id));
    socket.leave(roomChannel(room.id));
    return null;
  });
  // Gives the client a recovery offset at once: Socket.IO only recovers a client that has received a broadcast.
  nsp.to(socket.id).emit('ready', { userId: auth.userId, recovered: socket.recovered });
}

type Payload<E extends keyof ClientToServerEvents> = Parameters<ClientToServerEvents[E]>[0];
type Result<E extends keyof ClientToServerEvents> = Parameters<ClientToServerEvents[E]>[1] extends Ack<infer T> | undefined ? T : never;

/** Validates the payload, runs the handler, and answers the ack with `{ ok, data }` or `{ ok: false, error }`. */
function handlerFactory(socket: ChatSocket, deps: GatewayDeps, state: { count: number; draining: boolean; idle: Array<() => void> }) {
  return <E extends keyof ClientToServerEvents>(event: E, handler: (payload: Payload<E>) => Promise<Result<E>>) => {
    const validate = compiled(deps.ajv, event);
    socket.on(event, (async (payload: unknown, ack?: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (r: unknown) => void) : () => {};
      if (state.draining) return reply(toAckError(new AppError('UNAVAILABLE', 'The server is restarting; retry on reconnect')));
      state.count += 1;
      try {
        if (!validate(payload)) {
          const errors = (validate.errors ?? []).map((e) => ({ path: e.instancePath || '/', message: e.message ?? 'is invalid' }));
          throw new AppError('VALIDATION_FAILED', errors.map((e) => `${e.path} ${e.message}`).join('; '), { errors });
        }
        reply({ ok: true, data: await handler(payload as Payload<E>) });
      } catch (err) {
        const appErr = toAppError(err);
        if (appErr.code === 'INTERNAL') deps.log.error({ err, event }, 'socket handler failed');
        reply(toAckError(appErr));
      } finally {
        state.count -= 1;
        if (state.count === 0 && state.draining) state.idle.splice(0).forEach((resolve) => resolve());
      }
    }) as never);
  };
}

const validators = new WeakMap<Ajv, Map<string, ValidateFunction>>();
function compiled(ajv: Ajv, event: keyof typeof SocketSchemas): ValidateFunction {
  let byEvent = validators.get(ajv);
  if (!byEvent) validators.set(ajv, (byEvent = new Map()));
  let v = byEvent.get(event);
  if (!v) byEvent.set(event, (v = ajv.compile(SocketSchemas[event])));
  return v;
}
