import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { authenticate } from './auth/auth.hook.js';
import { createTokenVerifier } from './auth/tokens.js';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/client.js';
import { AppError } from './errors.js';
import { EventBus } from './events.js';
import { registerHealth } from './http/health.js';
import { createMetrics, registerMetrics } from './http/metrics.js';
import { createHttpServer } from './http/server.js';
import { messagesRoutes } from './messages/messages.routes.js';
import { MessagesRepository } from './messages/messages.repository.js';
import { MessagesService } from './messages/messages.service.js';
import { readsRoutes } from './reads/reads.routes.js';
import { ReadsRepository } from './reads/reads.repository.js';
import { ReadsService } from './reads/reads.service.js';
import { RoomAccessGuard } from './rooms/rooms.access.js';
import { roomsRoutes } from './rooms/rooms.routes.js';
import { RoomsRepository } from './rooms/rooms.repository.js';
import { RoomsService } from './rooms/rooms.service.js';
import { searchRoutes } from './search/search.routes.js';
import { SearchRepository } from './search/search.repository.js';
import { SearchService } from './search/search.service.js';
import { UsersRepository } from './users/users.repository.js';
import { UsersService } from './users/users.service.js';
import { presenceRoutes } from './presence/presence.routes.js';
import { PresenceRepository } from './presence/presence.repository.js';
import { PresenceService } from './presence/presence.service.js';
import { Fanout } from './realtime/fanout.js';
import { attachChatNamespace, createSocketServer, type ChatNamespace } from './realtime/gateway.js';
import { RateLimiter } from './realtime/rate-limiter.js';
import { RealtimeRepository } from './realtime/realtime.repository.js';
import { TypingTracker } from './realtime/typing.js';
import { createValidatorCompiler } from './http/validation.js';
import { SHARED_SCHEMAS } from './http/server.js';
import type { Server as SocketServer } from 'socket.io';

export const API_PREFIX = '/api/v1/chat';

export interface App {
  http: FastifyInstance;
  database: Database;
  bus: EventBus;
  services: ReturnType<typeof buildServices>;
  io: SocketServer;
  chat: ChatNamespace;
  /** Stops taking requests, lets in-flight ones finish, closes the database. */
  close(): Promise<void>;
}

export interface BuildOptions {
  /** An already-open, migrated database (tests); otherwise one is opened from config and migrated. */
  database?: Database;
}

function buildServices(config: Config, database: Database, bus: EventBus) {
  const { db } = database;
  const roomsRepo = new RoomsRepository(db);
  const messagesRepo = new MessagesRepository(db);
  const usersRepo = new UsersRepository(db);
  const guard = new RoomAccessGuard(roomsRepo);
  return {
    users: new UsersService(usersRepo),
    rooms: new RoomsService(db, roomsRepo, messagesRepo, usersRepo, guard, bus),
    messages: new MessagesService(db, messagesRepo, roomsRepo, guard, bus),
    reads: new ReadsService(new ReadsRepository(db), messagesRepo, guard, bus),
    search: new SearchService(new SearchRepository(db), guard),
    presence: new PresenceService(new PresenceRepository(db), bus, config.realtime.presenceGraceMs),
    guard,
    repos: { rooms: roomsRepo, messages: messagesRepo, realtime: new RealtimeRepository(db) },
  };
}

/** The composition root: config → database → services → HTTP. main.ts and the tests both build the app here. */
export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<App> {
  const database = opts.database ?? (await openDatabase({ url: config.databaseUrl, dataDir: `${config.dataDir}/db` }));
  if (!opts.database) await database.migrate();

  const http = await createHttpServer(config);
  const bus = new EventBus((err, event) => http.log.error({ err, event }, 'event handler failed'));
  const services = buildServices(config, database, bus);
  const metrics = createMetrics();
  bus.on('message.created', () => metrics.messagesSent.inc());
  registerMetrics(http, metrics);
  registerHealth(http, database);

  const verifier = createTokenVerifier(config);
  await http.register(
    async (api) => {
      api.addHook('onRequest', authenticate(verifier, services.users));
      await api.register(rateLimit, {
        hook: 'preHandler',
        max: config.rateLimitWritesPerMinute,
        timeWindow: 60_000,
        keyGenerator: (req) => req.auth.userId,
        // Reads are cheap keyset queries; the limit guards writes.
        allowList: (req) => req.method === 'GET' || req.method === 'HEAD',
        errorResponseBuilder: (_req, ctx) =>
          new AppError('RATE_LIMITED', `Too many writes; retry in ${Math.ceil(ctx.ttl / 1000)} s`, { retryAfter: Math.ceil(ctx.ttl / 1000) }),
      });
      await api.register(roomsRoutes, { rooms: services.rooms });
      await api.register(messagesRoutes, { messages: services.messages });
      await api.register(readsRoutes, { reads: services.reads });
      await api.register(searchRoutes, { search: services.search });
      await api.register(presenceRoutes, { presence: services.presence });
    },
    { prefix: API_PREFIX },
  );
  await http.ready();

  const io = createSocketServer(http.server, config);
  const fanoutLog = http.log;
  const typing = new TypingTracker(config.realtime.typingTimeoutMs, (e) => chat.to(`room:${e.chatRoomId}`).except(`user:${e.userId}`).emit('user_typing', e));
  const writeLimiter = new RateLimiter(config.rateLimitWritesPerMinute, 60_000);
  // Typing is throttled by the tracker; this only stops a client that floods regardless.
  const typingLimiter = new RateLimiter(120, 60_000);
  const chat = attachChatNamespace(io, {
    config,
    verifier,
    ajv: createValidatorCompiler(SHARED_SCHEMAS).strict,
    users: services.users,
    messages: services.messages,
    reads: services.reads,
    presence: services.presence,
    guard: services.guard,
    repo: services.repos.realtime,
    typing,
    writeLimiter,
    typingLimiter,
    replayMissed: (socket) => fanout.replayMissed(socket),
    log: fanoutLog,
  });
  const fanout = new Fanout(chat, {
    bus,
    rooms: services.rooms,
    messagesRepo: services.repos.messages,
    reads: services.reads,
    repo: services.repos.realtime,
    log: fanoutLog,
  });

  let closed = false;
  return {
    http,
    database,
    bus,
    services,
    io,
    chat,
    async close() {
      if (closed) return;
      closed = true;
      services.presence.close();
      typing.close();
      writeLimiter.close();
      typingLimiter.close();
      // Sockets first (io.close also stops the HTTP listener), then in-flight requests finish in http.close().
      await new Promise<void>((resolve) => void io.close(() => resolve()));
      await http.close();
      await fanout.close();
      await database.close();
    },
  };
}
