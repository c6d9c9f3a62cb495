import { AsyncLocalStorage } from 'node:async_hooks';
import type { ReadRouting } from '../db/replicas.js';
import type { IncomingHttpHeaders, Server as HttpServer } from 'node:http';
import type { Ajv, ValidateFunction } from 'ajv';
import { Server, type Namespace, type ServerOptions, type Socket } from 'socket.io';
import { bearerToken } from '../auth/auth.hook.js';
import type { AuthContext, TokenVerifier } from '../auth/tokens.js';
import type { Config } from '../config.js';
import { AppError, toAckError } from '../errors.js';
import { toAppError, validationFailed } from '../http/errors.js';
import type { MessageChangesService } from '../messages/message-changes.service.js';
import type { MessagesService } from '../messages/messages.service.js';
import type { SuspensionsService } from '../moderation/suspensions.service.js';
import type { PinsService } from '../pins/pins.service.js';
import type { ReactionsService } from '../reactions/reactions.service.js';
import type { PresenceService } from '../presence/presence.service.js';
import type { ReadsService } from '../reads/reads.service.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import type { UsersService } from '../users/users.service.js';
import type { RateLimiter } from '../limits/rate-limiter.js';
import type { Log } from '../log.js';
import { redisConfigured } from '../config/database.js';
import {
  ClientEventSchemas,
  type Ack,
  type ClientToServerEvents,
  type ServerToClientEvents,
  type ServerToServerEvents,
} from '../contract/events.js';
import type { TypingTracker } from './typing.js';
import { runAt, type LongTimer } from '../timers.js';
import { coalesceWebSocketWrites } from './coalesce-writes.js';
import { RecoveryAdapter } from './recovery-adapter.js';

export interface SocketData {
  auth: AuthContext;
  /** Per room, the highest seq this socket acknowledged (or the room's last seq when it joined): replay starts there. */
  seen: Record<string, number>;
  /** Rooms this socket stopped with leave_chat; kept across recovery. */
  left: string[];
}

export type ChatNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, ServerToServerEvents, SocketData>;
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, ServerToServerEvents, SocketData>;

export const roomChannel = (roomId: string) => `room:${roomId}`;
export const userChannel = (userId: string) => `user:${userId}`;

export interface GatewayDeps {
  config: Config;
  verifier: TokenVerifier;
  ajv: Ajv;
  users: UsersService;
  messages: MessagesService;
  changes: MessageChangesService;
  reactions: ReactionsService;
  pins: PinsService;
  reads: ReadsService;
  presence: PresenceService;
  guard: RoomAccessGuard;
  /** Told of each write, so the user's next reads wait for a replica that holds it. */
  replicas: Pick<ReadRouting, 'wrote'>;
  /** Every write event is refused while its user is suspended; a change is told to the user's sockets and to the other instances. */
  suspensions: Pick<SuspensionsService, 'assertCanWrite' | 'suspendedEvent' | 'onChange' | 'refresh'>;
  /** The rooms of a user with their last seqs; the lookups of a burst of handshakes are joined into one query. */
  roomsOf(userId: string): Promise<Array<{ roomId: string; lastSeq: number }>>;
  typing: TypingTracker;
  /** The user's one write budget, shared with REST writes. */
  writeLimiter: RateLimiter;
  typingLimiter: RateLimiter;
  joinLimiter: RateLimiter;
  /** Re-sends what a recovered socket missed of new_message (those carry acks, so Socket.IO does not keep them). */
  replayMissed(socket: ChatSocket): Promise<void>;
  log: Pick<Log, 'error'>;
}

/** Socket.IO on the HTTP server, namespace /chat: handshake auth, room channels, and thin event handlers. */
export function createSocketServer(httpServer: HttpServer, config: Config, adapter?: ServerOptions['adapter']): Server {
  coalesceWebSocketWrites();
  return new Server(httpServer, {
    // One instance keeps its sessions in memory, indexed by room (recovery-adapter.ts); Redis brings its own.
    adapter: adapter ?? RecoveryAdapter,
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
  guardRecovery(nsp, deps);
  watchSuspensions(nsp, deps);
  nsp.use((socket, next) => {
    authenticateSocket(socket as ChatSocket, deps)
      .then(async () => {
        const { userId } = (socket as ChatSocket).data.auth;
        if (!(await deps.presence.admit(userId, deps.config.realtime.maxSocketsPerUser))) {
          throw new AppError('RATE_LIMITED', `At most ${deps.config.realtime.maxSocketsPerUser} live sockets per user`);
        }
        counted.add(socket);
        next();
        // Socket.IO connects an accepted socket on the next tick, unless its client went away meanwhile: then it
        // never connects nor disconnects, and its place is given back here.
        setImmediate(() => {
          if (!socket.connected) release(socket as ChatSocket, deps);
        });
      })
      .catch((err: unknown) => {
        const appErr = toAppError(err);
        if (appErr.code === 'INTERNAL') deps.log.error({ err }, 'socket handshake failed');
        next(new Error(appErr.code));
      });
  });
  nsp.on('connection', (socket) => onConnection(nsp, socket, deps));
  return nsp;
}

/** Sockets counted against their user's MAX_SOCKETS_PER_USER (and presence) and not yet given back. */
const counted = new WeakSet<object>();

function release(socket: ChatSocket, deps: GatewayDeps): void {
  if (counted.delete(socket)) deps.presence.disconnected(socket.data.auth.userId);
}

function handshakeToken(auth: unknown, headers: IncomingHttpHeaders): string | undefined {
  const given = (auth as { token?: unknown } | undefined)?.token;
  return typeof given === 'string' ? given : bearerToken(headers.authorization);
}

/** Socket.IO's private hook where a recovered session is restored, before any middleware runs. */
type NamespaceInternals = {
  _createSocket?: (client: { request: { headers: IncomingHttpHeaders } }, auth: Record<string, unknown>) => Promise<unknown>;
};
type Session = { data?: Partial<SocketData>; rooms: string[]; missedPackets: unknown[][] };
type UserRooms = Awaited<ReturnType<GatewayDeps['roomsOf']>>;

/**
 * The rooms read to filter a restored session, keyed by the session's data (which becomes the socket's `data`): the
 * handshake's auth step uses them instead of reading them again, one statement less per returning socket in a storm.
 */
const roomsAtRestore = new WeakMap<object, UserRooms>();

/**
 * Connection-state recovery hands a socket its old session (its id, rooms, data and the packets it missed) in the
 * socket's constructor, before the auth middleware runs: a client presenting someone else's recovery `pid` would be
 * given their session. So a session is restored only for a handshake whose token is valid and names the session's
 * user, and only with the rooms the user is still in: packets of rooms they were removed from meanwhile are dropped.
 */
function guardRecovery(nsp: ChatNamespace, deps: GatewayDeps): void {
  const internals = nsp as unknown as NamespaceInternals;
  const create = internals._createSocket?.bind(nsp);
  if (!create) throw new Error('socket.io internals changed: Namespace._createSocket is gone, recovery cannot be guarded');
  const verifiedUser = new AsyncLocalStorage<string | null>();
  internals._createSocket = async (client, auth) => {
    if (typeof auth?.['pid'] !== 'string') return create(client, auth);
    const token = handshakeToken(auth, client.request.headers);
    const userId = token
      ? await deps.verifier.verify(token).then(
          (a) => a.userId,
          () => null,
        )
      : null;
    return verifiedUser.run(userId, () => create(client, auth));
  };
  const adapter = nsp.adapter as unknown as { restoreSession(pid: string, offset: string): Promise<Session | null> };
  const restore = adapter.restoreSession.bind(adapter);
  adapter.restoreSession = async (pid, offset) => {
    const userId = verifiedUser.getStore();
    if (!userId) return null;
    const session = await restore(pid, offset);
    if (!session || session.data?.auth?.userId !== userId) return null;
    const rooms = await deps.roomsOf(userId);
    if (session.data) roomsAtRestore.set(session.data, rooms);
    const current = new Set(rooms.map((r) => roomChannel(r.roomId)));
    session.rooms = session.rooms.filter((channel) => !channel.startsWith('room:') || current.has(channel));
    session.missedPackets = session.missedPackets.filter((packet) => stillFor(userId, current, packet));
    return session;
  };
}

/** A missed event about a room is kept only while the user is still in it (or it tells them they were removed). */
function stillFor(userId: string, current: Set<string>, [event, payload]: unknown[]): boolean {
  const p = payload as { chatRoomId?: unknown; userId?: unknown } | null;
  if (typeof p !== 'object' || p === null || typeof p.chatRoomId !== 'string') return true;
  if (event === 'participant_removed' && p.userId === userId) return true;
  return current.has(roomChannel(p.chatRoomId));
}

async function authenticateSocket(socket: ChatSocket, deps: GatewayDeps): Promise<void> {
  const token = handshakeToken(socket.handshake.auth, socket.handshake.headers);
  if (!token) throw new AppError('UNAUTHORIZED', 'Missing token');
  const auth = await deps.verifier.verify(token);
  await deps.users.remember(auth);
  // A recovered session (guardRecovery: always the same user) keeps what it had seen and left; anything else starts now.
  const same = socket.recovered && socket.data.auth?.userId === auth.userId;
  const restored = same ? roomsAtRestore.get(socket.data) : undefined;
  if (restored) roomsAtRestore.delete(socket.data);
  const rooms = restored ?? (await deps.roomsOf(auth.userId));
  const seen: Record<string, number> = {};
  const left = new Set(same ? socket.data.left : []);
  const current = new Set(rooms.map((r) => roomChannel(r.roomId)));
  for (const r of rooms) seen[r.roomId] = same ? (socket.data.seen[r.roomId] ?? r.lastSeq) : r.lastSeq;
  const wanted = new Set([userChannel(auth.userId), ...[...current].filter((c) => !left.has(c))]);
  // Whatever a restored session held beyond that (rooms left since, another user's channel) is dropped.
  for (const channel of socket.rooms) if (channel !== socket.id && !wanted.has(channel)) socket.leave(channel);
  socket.data = { auth, seen, left: [...left].filter((c) => current.has(c)) };
  // Joined before `connect` fires, so a message sent right after connecting is never missed.
  socket.join([...wanted]);
}

function onConnection(nsp: ChatNamespace, socket: ChatSocket, deps: GatewayDeps): void {
  const { auth } = socket.data;
  // Disconnected at expiry, however far away; the client reconnects with a fresh token.
  const expiry: LongTimer | undefined = auth.exp === undefined ? undefined : runAt(auth.exp * 1000, () => socket.disconnect(true));
  socket.on('disconnect', () => {
    expiry?.clear();
    deps.typing.socketGone(socket.id);
    release(socket, deps);
  });
  if (socket.recovered) void deps.replayMissed(socket).catch((err: unknown) => deps.log.error({ err }, 'replay failed'));

  // One listener per socket for every client event: the handlers are defined once, for all sockets (a closure per
  // event and socket was a third of a socket's heap).
  const state = inFlight.get(nsp)!;
  socket.onAny((event: string, payload?: unknown, ack?: unknown) => void dispatch(socket, deps, state, event, payload, ack));
  // Gives the client a recovery offset at once: Socket.IO only recovers a client that has received a broadcast.
  nsp.to(socket.id).emit('ready', { userId: auth.userId, recovered: socket.recovered });
  const suspended = deps.suspensions.suspendedEvent(auth.userId);
  if (suspended) socket.emit('suspended', suspended);
}

/**
 * A suspension made or lifted here: the user's sockets on every instance hear of it at once (through the adapter), and
 * the other instances reload theirs (a signal only: the database says what is in force, whatever the order of signals).
 */
function watchSuspensions(nsp: ChatNamespace, deps: GatewayDeps): void {
  const clustered = redisConfigured(deps.config);
  deps.suspensions.onChange((userId, suspension) => {
    if (suspension) nsp.to(userChannel(userId)).emit('suspended', { until: suspension.until, reason: suspension.reason });
    // The in-memory adapter has no one to tell (and warns when asked).
    if (clustered) nsp.serverSideEmit('chat:suspensions');
  });
  nsp.on('chat:suspensions', () => void deps.suspensions.refresh());
}

/** Client events that write nothing: following a room live. Any other event (typing too) is a write. */
const NOT_WRITES: ReadonlySet<string> = new Set<keyof ClientToServerEvents>(['join_chat', 'leave_chat']);

type Payload<E extends keyof ClientToServerEvents> = Parameters<ClientToServerEvents[E]>[0];
type Result<E extends keyof ClientToServerEvents> = Parameters<ClientToServerEvents[E]>[1] extends Ack<infer T> | undefined ? T : never;

type Handler<E extends keyof ClientToServerEvents> = (socket: ChatSocket, deps: GatewayDeps, payload: Payload<E>) => Promise<Result<E>>;
type Handlers = { [E in keyof ClientToServerEvents]: Handler<E> };

/** A write: the user's write budget first, as its REST route spends it; the ack waits for the user's read fence. */
const write =
  <E extends keyof ClientToServerEvents>(handler: Handler<E>): Handler<E> =>
  async (socket, deps, p) => {
    await deps.writeLimiter.hit(socket.data.auth.userId);
    const result = await handler(socket, deps, p);
    await deps.replicas.wrote(socket.data.auth.userId);
    return result;
  };

/** Typing is bounded by its own budget, and needs the right to send in the room. */
const typing =
  (start: boolean): Handler<'typing_start'> =>
  async (socket, deps, p) => {
    const { userId } = socket.data.auth;
    await deps.typingLimiter.hit(`${userId}:typing`);
    await deps.guard.authorize(socket.data.auth, p.chatRoomId, 'send');
    if (start) await deps.typing.start(userId, p.chatRoomId, socket.id);
    else await deps.typing.stop(userId, p.chatRoomId);
    return null;
  };

/** Following a room live or not: the join budget, and the right to see the room live. */
const follow =
  (join: boolean): Handler<'join_chat'> =>
  async (socket, deps, p) => {
    await deps.joinLimiter.hit(socket.data.auth.userId);
    const { room } = await deps.guard.authorize(socket.data.auth, p.chatRoomId, 'join-live');
    const channel = roomChannel(room.id);
    if (join) {
      socket.data.left = socket.data.left.filter((c) => c !== channel);
      socket.data.seen[room.id] ??= room.lastSeq;
      socket.join(channel);
    } else {
      if (!socket.data.left.includes(channel)) socket.data.left.push(channel);
      socket.leave(channel);
    }
    return null;
  };

/** Every client event, for every socket: the same service methods as the REST routes, so the same events follow. */
const HANDLERS: Handlers = {
  send_message: write(async (socket, deps, p) => {
    const { message } = await deps.messages.send(socket.data.auth, p.chatRoomId, {
      content: p.content,
      ...(p.replyToId !== undefined ? { replyToId: p.replyToId } : {}),
      ...(p.mentions !== undefined ? { mentions: p.mentions } : {}),
      ...(p.clientMessageId !== undefined ? { clientMessageId: p.clientMessageId } : {}),
      ...(p.mediaIds !== undefined ? { mediaIds: p.mediaIds } : {}),
    });
    return message;
  }),
  mark_as_read: write((socket, deps, p) => deps.reads.markRoomRead(socket.data.auth, p.chatRoomId, p.messageId)),
  edit_message: write((socket, deps, p) =>
    deps.changes.edit(socket.data.auth, p.messageId, { content: p.content, ...(p.mentions !== undefined ? { mentions: p.mentions } : {}) }),
  ),
  delete_message: write((socket, deps, p) => deps.changes.delete(socket.data.auth, p.messageId)),
  add_reaction: write((socket, deps, p) => deps.reactions.add(socket.data.auth, p.messageId, p.emoji)),
  remove_reaction: write((socket, deps, p) => deps.reactions.remove(socket.data.auth, p.messageId, p.emoji)),
  pin_message: write((socket, deps, p) => deps.pins.pin(socket.data.auth, p.chatRoomId, p.messageId, true)),
  unpin_message: write((socket, deps, p) => deps.pins.pin(socket.data.auth, p.chatRoomId, p.messageId, false)),
  typing_start: typing(true),
  typing_stop: typing(false),
  join_chat: follow(true),
  leave_chat: follow(false),
};

/**
 * One client event: validates the payload, runs its handler, and answers the ack with `{ ok, data }` or
 * `{ ok: false, error }`. An event no handler knows is ignored, as Socket.IO ignores an event without a listener.
 */
async function dispatch(
  socket: ChatSocket,
  deps: GatewayDeps,
  state: { count: number; draining: boolean; idle: Array<() => void> },
  event: string,
  payload: unknown,
  ack: unknown,
): Promise<void> {
  if (!Object.hasOwn(HANDLERS, event)) return;
  const name = event as keyof ClientToServerEvents;
  const reply = typeof ack === 'function' ? (ack as (r: unknown) => void) : () => {};
  if (state.draining) return reply(toAckError(new AppError('UNAVAILABLE', 'The server is restarting; retry on reconnect')));
  state.count += 1;
  try {
    // The one socket check of suspensions, before the payload is even looked at (as over REST).
    if (!NOT_WRITES.has(name)) deps.suspensions.assertCanWrite(socket.data.auth.userId);
    // Worded as REST words its body errors (a pattern says what it requires, never the regex).
    const validate = compiled(deps.ajv, name);
    if (!validate(payload)) throw validationFailed(validate.errors ?? [], 'payload');
    const handler = HANDLERS[name] as Handler<typeof name>;
    reply({ ok: true, data: await handler(socket, deps, payload as never) });
  } catch (err) {
    const appErr = toAppError(err);
    if (appErr.code === 'INTERNAL') deps.log.error({ err, event: name }, 'socket handler failed');
    reply(toAckError(appErr));
  } finally {
    state.count -= 1;
    if (state.count === 0 && state.draining) state.idle.splice(0).forEach((resolve) => resolve());
  }
}

const validators = new WeakMap<Ajv, Map<string, ValidateFunction>>();
function compiled(ajv: Ajv, event: keyof typeof ClientEventSchemas): ValidateFunction {
  let byEvent = validators.get(ajv);
  if (!byEvent) validators.set(ajv, (byEvent = new Map()));
  let v = byEvent.get(event);
  if (!v) byEvent.set(event, (v = ajv.compile(ClientEventSchemas[event])));
  return v;
}
