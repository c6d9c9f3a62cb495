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
import { createHttpServer, type HttpServerOptions } from './http/server.js';
import { limiterStore } from './http/rate-limit-store.js';
import { createMediaService, mediaFileRoutes, mediaRoutes, registerMultipart } from './media/index.js';
import { createNotifications, notificationsRoutes } from './notifications/index.js';
import type { Resolver } from './net/outbound.js';
import { MessagePresenter } from './messages/messages.presenter.js';
import { messagesRoutes } from './messages/messages.routes.js';
import { MessagesRepository } from './messages/messages.repository.js';
import { MessagesService } from './messages/messages.service.js';
import { readsRoutes } from './reads/reads.routes.js';
import { ReadsRepository } from './reads/reads.repository.js';
import { ReadsService } from './reads/reads.service.js';
import { RoomAccessGuard } from './rooms/rooms.access.js';
import { roomsRoutes } from './rooms/rooms.routes.js';
import { RoomsRepository } from './rooms/rooms.repository.js';
import { RoomPresenter } from './rooms/rooms.presenter.js';
import { RoomsService } from './rooms/rooms.service.js';
import { searchRoutes } from './search/search.routes.js';
import { SearchRepository } from './search/search.repository.js';
import { SearchService } from './search/search.service.js';
import { UsersRepository } from './users/users.repository.js';
import { UsersService } from './users/users.service.js';
import { usersRoutes } from './users/users.routes.js';
import { presenceRoutes } from './presence/presence.routes.js';
import { PresenceRepository } from './presence/presence.repository.js';
import { PresenceService } from './presence/presence.service.js';
import type { ChatNamespace } from './realtime/gateway.js';
import { startRealtime } from './realtime/realtime.module.js';
import { createSharedState, type SharedState } from './cluster.js';
import { RealtimeRepository } from './realtime/realtime.repository.js';
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
  shared: SharedState;
  /** Stops taking requests, lets in-flight ones finish, closes the database. */
  close(): Promise<void>;
}

export interface BuildOptions {
  /**
   * An already-open, migrated database (main.ts opens it while the modules load; tests); otherwise one is opened from
   * config and migrated.
   */
  database?: Database;
  /** How the hosts of user-given URLs (push endpoints) resolve; the system resolver unless given (tests, no network). */
  resolve?: Resolver;
  /** Where the log goes instead of stdout (tests that read it). */
  logStream?: HttpServerOptions['logStream'];
}

function buildServices(
  config: Config,
  database: Database,
  bus: EventBus,
  shared: SharedState,
  onError: (err: unknown) => void,
  resolve?: Resolver,
) {
  const { db } = database;
  const roomsRepo = new RoomsRepository(db);
  const messagesRepo = new MessagesRepository(db);
  const usersRepo = new UsersRepository(db);
  const guard = new RoomAccessGuard(roomsRepo);
  const media = createMediaService(config, db, guard);
  const presenter = new MessagePresenter(media);
  const messages = new MessagesService(db, messagesRepo, roomsRepo, guard, bus, media, presenter);
  // Rooms show their last message through this read, without importing the messages module.
  const roomPresenter = new RoomPresenter(roomsRepo, (ids) => messages.lastMessages(ids));
  return {
    users: new UsersService(usersRepo),
    rooms: new RoomsService(db, roomsRepo, usersRepo, guard, bus, roomPresenter),
    messages,
    reads: new ReadsService(new ReadsRepository(db), messagesRepo, guard, bus),
    search: new SearchService(new SearchRepository(db, messagesRepo), guard, presenter),
    presence: new PresenceService(new PresenceRepository(db), shared.presence, bus, config.realtime.presenceGraceMs, onError),
    media,
    notifications: createNotifications(config, db, bus, shared.presence, resolve),
    guard,
    repos: { rooms: roomsRepo, messages: messagesRepo, realtime: new RealtimeRepository(db) },
  };
}

/** The composition root: config → database → services → HTTP. main.ts and the tests both build the app here. */
export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<App> {
  const database = opts.database ?? (await openDatabase({ url: config.databaseUrl, dataDir: `${config.dataDir}/db` }));
  if (!opts.database) await database.migrate();

  const validators = createValidatorCompiler(SHARED_SCHEMAS);
  const http = await createHttpServer(config, validators, opts.logStream ? { logStream: opts.logStream } : {});
  let lastRedisError = '';
  const shared = await createSharedState(config, (err) => {
    // One line per distinct failure, not one per reconnect attempt.
    if (err.message !== lastRedisError) http.log.warn({ err: err.message }, 'redis connection error');
    lastRedisError = err.message;
  });
  const bus = new EventBus((err, event) => http.log.error({ err, event }, 'event handler failed'));
  const services = buildServices(config, database, bus, shared, (err) => http.log.error({ err }, 'presence update failed'), opts.resolve);
  // The S3 or Cloudinary SDK loads only when that driver is configured, but then here, so a start still fails on it.
  await services.media.storage.prepare?.();
  const metrics = createMetrics();
  bus.on('message.created', () => metrics.messagesSent.inc());
  registerMetrics(http, metrics);
  registerHealth(http, database, shared.redis);

  const verifier = createTokenVerifier(config);
  // One write budget per user, spent by REST writes and socket writes alike, on every instance.
  const writeLimiter = shared.limiter('writes', config.rateLimitWritesPerMinute, 60_000);
  await http.register(
    async (api) => {
      api.addHook('onRequest', authenticate(verifier, services.users));
      await api.register(rateLimit, {
        hook: 'preHandler',
        max: config.rateLimitWritesPerMinute,
        timeWindow: 60_000,
        keyGenerator: (req) => req.auth.userId,
        store: limiterStore(writeLimiter),
        // Reads are cheap keyset queries; the limit guards writes.
        allowList: (req) => req.method === 'GET' || req.method === 'HEAD',
        errorResponseBuilder: (_req, ctx) =>
          new AppError('RATE_LIMITED', `Too many writes; retry in ${Math.ceil(ctx.ttl / 1000)} s`, {
            retryAfter: Math.ceil(ctx.ttl / 1000),
          }),
      });
      await registerMultipart(api, config);
      await api.register(roomsRoutes, { rooms: services.rooms });
      await api.register(messagesRoutes, { messages: services.messages, media: services.media, maxFiles: config.media.maxFiles });
      await api.register(readsRoutes, { reads: services.reads });
      await api.register(searchRoutes, {
        search: services.search,
        limiter: shared.limiter('search', config.search.perMinute, 60_000),
        engine: database.kind,
        timeoutMs: config.search.timeoutMs,
      });
      await api.register(presenceRoutes, { presence: services.presence });
      await api.register(usersRoutes, { users: services.users });
      await api.register(mediaRoutes, { media: services.media, maxFiles: config.media.maxFiles });
      await api.register(notificationsRoutes, { subscriptions: services.notifications.subscriptions });
    },
    { prefix: API_PREFIX },
  );
  await http.register(mediaFileRoutes, { storage: services.media.storage });
  await http.ready();
  services.media.start(http.log);
  await services.notifications.start(http.log);

  const realtime = startRealtime(http.server, {
    config,
    shared,
    verifier,
    writeLimiter,
    ajv: validators.strict,
    bus,
    services,
    repos: services.repos,
    log: http.log,
  });

  let closed = false;
  return {
    http,
    database,
    bus,
    services,
    io: realtime.io,
    chat: realtime.chat,
    shared,
    async close() {
      if (closed) return;
      closed = true;
      // Sockets first (their sends under way are answered), then in-flight requests finish in http.close().
      await realtime.close();
      await http.close();
      // After the last sends (their notifications are queued), before the database closes.
      await services.notifications.stop();
      await services.presence.close();
      await services.media.stop();
      writeLimiter.close();
      await shared.close();
      await database.close();
    },
  };
}
