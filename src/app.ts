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

export const API_PREFIX = '/api/v1/chat';

export interface App {
  http: FastifyInstance;
  database: Database;
  bus: EventBus;
  services: ReturnType<typeof buildServices>;
  /** Stops taking requests, lets in-flight ones finish, closes the database. */
  close(): Promise<void>;
}

export interface BuildOptions {
  /** An already-open, migrated database (tests); otherwise one is opened from config and migrated. */
  database?: Database;
}

function buildServices(database: Database, bus: EventBus) {
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
    search: new SearchService(new SearchRepository(db)),
  };
}

/** The composition root: config → database → services → HTTP. main.ts and the tests both build the app here. */
export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<App> {
  const database = opts.database ?? (await openDatabase({ url: config.databaseUrl, dataDir: `${config.dataDir}/db` }));
  if (!opts.database) await database.migrate();

  const http = await createHttpServer(config);
  const bus = new EventBus((err, event) => http.log.error({ err, event }, 'event handler failed'));
  const services = buildServices(database, bus);
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
    },
    { prefix: API_PREFIX },
  );
  await http.ready();

  let closed = false;
  return {
    http,
    database,
    bus,
    services,
    async close() {
      if (closed) return;
      closed = true;
      await http.close();
      await database.close();
    },
  };
}
