import type { ReadRouting } from '../db/replicas.js';
import type { Server as HttpServer } from 'node:http';
import type { Ajv } from 'ajv';
import type { Server, ServerOptions } from 'socket.io';
import type { TokenVerifier } from '../auth/tokens.js';
import type { Config } from '../config.js';
import type { EventBus } from '../events.js';
import type { RateLimiter, RateLimiterFactory } from '../limits/rate-limiter.js';
import type { Log } from '../log.js';
import type { MessageChangesService } from '../messages/message-changes.service.js';
import type { MessagesService } from '../messages/messages.service.js';
import type { SuspensionsService } from '../moderation/suspensions.service.js';
import type { PinsService } from '../pins/pins.service.js';
import type { ReactionsService } from '../reactions/reactions.service.js';
import type { PresenceService } from '../presence/presence.service.js';
import type { ReadsService } from '../reads/reads.service.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import type { RoomsService } from '../rooms/rooms.service.js';
import type { UsersService } from '../users/users.service.js';
import { BatchLoader } from '../batch-loader.js';
import { Fanout } from './fanout.js';
import { attachChatNamespace, createSocketServer, drain, roomChannel, userChannel, type ChatNamespace } from './gateway.js';
import type { RealtimeRepository } from './realtime.repository.js';
import { TypingTracker, type TypingStore } from './typing.js';

export interface RealtimeDeps {
  config: Config;
  /** What instances share (shared-state.ts chooses memory or Redis): typing state, budgets, the Socket.IO adapter. */
  shared: {
    typing: TypingStore;
    limiter: RateLimiterFactory;
    /** Undefined keeps Socket.IO's in-memory adapter (one instance). */
    socketAdapter: ServerOptions['adapter'] | undefined;
  };
  verifier: TokenVerifier;
  /** The per-user write budget shared with REST (app.ts owns it). */
  writeLimiter: RateLimiter;
  ajv: Ajv;
  bus: EventBus;
  services: {
    users: UsersService;
    rooms: RoomsService;
    messages: MessagesService;
    changes: MessageChangesService;
    reactions: ReactionsService;
    pins: PinsService;
    reads: ReadsService;
    presence: PresenceService;
    guard: RoomAccessGuard;
    suspensions: SuspensionsService;
    replicas: Pick<ReadRouting, 'wrote'>;
  };
  repo: RealtimeRepository;
  log: Pick<Log, 'error'>;
}

export interface Realtime {
  io: Server;
  chat: ChatNamespace;
  /** Answers the client events under way, then disconnects every socket (clients reconnect elsewhere). */
  close(): Promise<void>;
}

/** Socket.IO on the HTTP server: the /chat gateway, the fan-out of domain events, typing and rate limits. */
export function startRealtime(httpServer: HttpServer, deps: RealtimeDeps): Realtime {
  const { config, shared, services, log } = deps;
  const onError = (err: unknown) => log.error({ err }, 'realtime background work failed');
  const io = createSocketServer(httpServer, config, shared.socketAdapter);
  const typing = new TypingTracker(
    shared.typing,
    config.realtime.typingTimeoutMs,
    (e) => chat.to(roomChannel(e.chatRoomId)).except(userChannel(e.userId)).emit('user_typing', e),
    onError,
  );
  const { writeLimiter } = deps;
  // Typing is throttled by the tracker; this only stops a client that floods regardless.
  const typingLimiter = shared.limiter('socket-typing', 120, 60_000);
  // Each join or leave is a membership lookup.
  const joinLimiter = shared.limiter('socket-joins', config.realtime.joinsPerMinute, 60_000);
  const roomsOf = new BatchLoader((userIds: string[]) => deps.repo.roomsOf(userIds));
  const chat: ChatNamespace = attachChatNamespace(io, {
    config,
    verifier: deps.verifier,
    ajv: deps.ajv,
    users: services.users,
    messages: services.messages,
    changes: services.changes,
    reactions: services.reactions,
    pins: services.pins,
    reads: services.reads,
    presence: services.presence,
    guard: services.guard,
    suspensions: services.suspensions,
    replicas: services.replicas,
    roomsOf: async (userId) => (await roomsOf.one(userId)) ?? [],
    typing,
    writeLimiter,
    typingLimiter,
    joinLimiter,
    replayMissed: (socket) => fanout.replayMissed(socket),
    log,
  });
  const fanout = new Fanout(chat, {
    bus: deps.bus,
    rooms: services.rooms,
    messages: services.messages,
    reads: services.reads,
    repo: deps.repo,
    clustered: shared.socketAdapter !== undefined,
    log,
  });
  return {
    io,
    chat,
    async close() {
      await drain(chat);
      // io.close() also stops the HTTP listener; the sockets see a transport close and reconnect (to another instance).
      await new Promise<void>((resolve) => void io.close(() => resolve()));
      typing.close();
      typingLimiter.close();
      joinLimiter.close();
      await fanout.close();
    },
  };
}
