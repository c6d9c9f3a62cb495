import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Server as SocketServer } from 'socket.io';
import { authenticate } from './auth/auth.hook.js';
import { devSignInFeature } from './auth/dev-token.routes.js';
import { createTokenVerifier, type TokenVerifier } from './auth/tokens.js';
import type { Config } from './config.js';
import { SHARED_SCHEMAS } from './contract/components.js';
import { type Database, type Executor } from './db/client.js';
import { openConfigured } from './db/open.js';
import { memoryFences, redisFences } from './db/replica-fences.js';
import { openReplicas, primaryOnly, type ReadRouting } from './db/replicas.js';
import { AppError } from './errors.js';
import { EventBus } from './events.js';
import type { Feature } from './feature.js';
import { isOutage } from './http/errors.js';
import { registerHealth } from './http/health.js';
import { createMetrics, registerMetrics, type Metrics } from './http/metrics.js';
import { limiterStore } from './http/rate-limit-store.js';
import { createHttpServer, type HttpServerOptions } from './http/server.js';
import { createValidatorCompiler } from './http/validation.js';
import { webAppFeature } from './http/web-app.js';
import type { RateLimiter } from './limits/rate-limiter.js';
import type { Log } from './log.js';
import { createMediaService, mediaFeature, registerMultipart } from './media/index.js';
import { EventLogRepository } from './event-log/event-log.repository.js';
import {
  MessageChangesRepository,
  MessageChangesService,
  MessagePresenter,
  MessagesRepository,
  MessagesService,
  messagesFeature,
} from './messages/index.js';
import { PinsRepository, PinsService, pinsFeature } from './pins/index.js';
import { ReactionsRepository, ReactionsService, reactionsFeature } from './reactions/index.js';
import type { Resolver } from './net/outbound.js';
import { createNotifications } from './notifications/index.js';
import { PresenceRepository, PresenceService, presenceFeature } from './presence/index.js';
import { ReadsRepository, ReadsService, readsFeature } from './reads/index.js';
import { realtimeFeature, type ChatNamespace, type RealtimeFeature } from './realtime/index.js';
import { RoomAccessGuard, RoomPresenter, RoomsRepository, RoomsService, roomsFeature } from './rooms/index.js';
import { SearchRepository, SearchService, searchFeature } from './search/index.js';
import { adminFeature, createAdmin } from './admin/index.js';
import {
  BlocksRepository,
  BlocksService,
  blocksFeature,
  ReportsRepository,
  ReportsService,
  reportsFeature,
  SuspensionsRepository,
  SuspensionsService,
  suspendedWrites,
  documentSuspendedWrites,
  suspensionsFeature,
} from './moderation/index.js';
import { createSharedState, type SharedState } from './shared-state.js';
import { UsersRepository, UsersService, usersFeature } from './users/index.js';
import { adminRoomViews, createWebhooks } from './webhooks/index.js';

export const API_PREFIX = '/api/v1/chat';

export interface App {
  http: FastifyInstance;
  database: Database;
  bus: EventBus;
  services: Services;
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
  /** Where the built web app is instead of the repository's web/dist (tests serve a fake build). */
  webDir?: string;
}

export type Services = ReturnType<typeof buildServices>;

/** The services, each on its own repositories; what one feature reads of another is injected as a function. */
function buildServices(
  config: Config,
  engine: Database['kind'],
  replicas: ReadRouting,
  bus: EventBus,
  shared: SharedState,
  log: Pick<Log, 'error'>,
  resolve?: Resolver,
) {
  // Every repository reads the primary, except within a service's read scope on a replica (db/replicas.ts).
  const { db } = replicas;
  const roomsRepo = new RoomsRepository(db);
  const messagesRepo = new MessagesRepository(db);
  const usersRepo = new UsersRepository(db);
  const guard = new RoomAccessGuard(roomsRepo);
  const media = createMediaService(config, db, guard);
  // `me` of a message's reactions is read through the reactions module, which is built on the presenter: bound late.
  const presenter = new MessagePresenter(media, (userId, ids) => reactions.ownReactions(userId, ids));
  const blocks = new BlocksService(new BlocksRepository(db));
  // Blocks are checked in the write statements themselves; moderation/ tells why a write was refused.
  const directWrite = (on: Executor, roomId: string, userId: string) => blocks.assertDirectWrite(roomId, userId, on);
  const messages = new MessagesService(
    db,
    messagesRepo,
    roomsRepo,
    guard,
    bus,
    media,
    presenter,
    {
      directWrite,
      slowMode: shared.windows,
    },
    replicas,
    // A second writer pays only where the database has cores of its own (messages.group-commit.ts).
    engine === 'postgres' && config.databaseUrl ? 2 : 1,
  );
  const eventLog = new EventLogRepository(db);
  const changes = new MessageChangesService(
    db,
    new MessageChangesRepository(db),
    messagesRepo,
    roomsRepo,
    guard,
    bus,
    media,
    presenter,
    eventLog,
    config.messageEditWindowS,
    replicas,
    directWrite,
  );
  const reactions: ReactionsService = new ReactionsService(db, new ReactionsRepository(db), changes, messagesRepo, guard, presenter, bus);
  // Each instance keeps the suspensions in force in memory (no query per write) and reloads them every second.
  const suspensions = new SuspensionsService(new SuspensionsRepository(db), 1000);
  // Rooms show their last message through this read, without importing the messages module.
  const roomPresenter = new RoomPresenter(roomsRepo, (ids, viewerId) => messages.lastMessages(ids, viewerId));
  const onPresenceError = (err: unknown) => log.error({ err }, 'presence update failed');
  return {
    users: new UsersService(usersRepo),
    rooms: new RoomsService(db, roomsRepo, usersRepo, guard, bus, roomPresenter, replicas, (userId, otherId) =>
      blocks.assertDirectAllowed(userId, otherId),
    ),
    blocks,
    messages,
    changes,
    reactions,
    pins: new PinsService(new PinsRepository(db), changes, guard, presenter, eventLog),
    reads: new ReadsService(new ReadsRepository(db), messagesRepo, guard, bus, replicas),
    search: new SearchService(new SearchRepository(db, messagesRepo), guard, presenter, replicas),
    replicas,
    presence: new PresenceService(new PresenceRepository(db), shared.presence, bus, config.realtime.presenceGraceMs, onPresenceError),
    media,
    // A notification previews a message as the presenter shows it to clients.
    notifications: createNotifications(config, db, shared.presence, (ids) => messages.viewsByIds(ids), resolve),
    // Webhook bodies show messages as participants see them, and rooms as an admin does.
    webhooks: createWebhooks(
      config,
      db,
      { messages: (ids) => messages.viewsByIds(ids), rooms: adminRoomViews(roomsRepo, roomPresenter) },
      resolve,
    ),
    guard,
    // Purge, export, erase jobs and retention: every batch delete goes through the messages' one tombstone path.
    admin: createAdmin(config, db, { changes, rooms: roomsRepo, media, bus, replicas, engine }),
    suspensions,
    reports: new ReportsService(db, new ReportsRepository(db), messagesRepo, guard, presenter, changes, suspensions, eventLog),
  };
}

interface Parts {
  config: Config;
  database: Database;
  shared: SharedState;
  services: Services;
  writeLimiter: RateLimiter;
  metrics: Metrics;
  http: FastifyInstance;
  realtime: RealtimeFeature;
  webDir: string | undefined;
}

/**
 * Every part, in the one order in which routes are registered and parts start; they stop in the reverse order. So
 * sockets stop first (their sends under way are answered), then in-flight requests finish as HTTP closes, then the
 * notifications (after the last sends, which are in the event log), presence and media stop, and the shared state and
 * the database close last.
 */
function parts({ config, database, shared, services, writeLimiter, metrics, http, realtime, webDir }: Parts): Feature[] {
  const searchLimiter = shared.limiter('search', config.search.perMinute, 60_000);
  return [
    { name: 'database', stop: () => database.close() },
    { name: 'read replicas', stop: () => services.replicas.close() },
    { name: 'shared state', stop: () => shared.close() },
    { name: 'write budget', stop: () => writeLimiter.close() },
    { name: 'metrics', subscribers: (bus) => bus.on('message.created', () => metrics.messagesSent.inc()) },
    roomsFeature(services.rooms),
    messagesFeature(services.messages, services.changes, services.media, config.media.maxFiles),
    reactionsFeature(services.reactions),
    pinsFeature(services.pins),
    blocksFeature(services.blocks),
    suspensionsFeature(services.suspensions),
    reportsFeature(services.reports),
    readsFeature(services.reads),
    searchFeature(services.search, searchLimiter, { engine: database.kind, timeoutMs: config.search.timeoutMs }),
    usersFeature(services.users),
    mediaFeature(services.media, config.media.maxFiles),
    presenceFeature(services.presence),
    devSignInFeature(config, API_PREFIX),
    webAppFeature(webDir),
    adminFeature(services.admin),
    services.notifications,
    services.webhooks,
    { name: 'http', stop: () => http.close() },
    realtime,
  ];
}

/** REST writes spend the user's one write budget, which socket writes spend too, on every instance. */
function writeBudget(config: Config, limiter: RateLimiter): RateLimitPluginOptions {
  return {
    hook: 'preHandler',
    max: config.rateLimitWritesPerMinute,
    timeWindow: 60_000,
    keyGenerator: (req) => req.auth.userId,
    store: limiterStore(limiter),
    // Reads are cheap keyset queries; the limit guards writes.
    allowList: (req) => req.method === 'GET' || req.method === 'HEAD',
    errorResponseBuilder: (_req, ctx) =>
      new AppError('RATE_LIMITED', `Too many writes; retry in ${Math.ceil(ctx.ttl / 1000)} s`, { retryAfter: Math.ceil(ctx.ttl / 1000) }),
  };
}

/** Each part's routes: under the API prefix behind authentication and the write budget, then those outside it. */
async function registerRoutes(
  http: FastifyInstance,
  all: Feature[],
  { config, verifier, services, writeLimiter }: { config: Config; verifier: TokenVerifier; services: Services; writeLimiter: RateLimiter },
): Promise<void> {
  await http.register(
    async (api) => {
      api.addHook('onRequest', authenticate(verifier, services.users));
      // Suspended users read but do not write: refused before validation and the write budget.
      api.addHook('preValidation', suspendedWrites(services.suspensions));
      api.addHook('onRoute', documentSuspendedWrites);
      await api.register(rateLimit, writeBudget(config, writeLimiter));
      if (config.databaseReadUrls.length > 0) api.addHook('onSend', fenceWrites(services.replicas));
      await registerMultipart(api, config);
      for (const part of all) await part.routes?.(api);
    },
    { prefix: API_PREFIX },
  );
  for (const part of all) await part.publicRoutes?.(http);
}

/**
 * After a successful write request, before its answer leaves: the user's next reads wait for a replica holding it.
 * A fence that cannot be stored (Redis away) is logged, not turned into an error: the write itself has committed.
 */
function fenceWrites(replicas: ReadRouting) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method === 'GET' || request.method === 'HEAD' || reply.statusCode >= 400 || !request.auth) return;
    await replicas.wrote(request.auth.userId).catch((err: unknown) => request.log.warn({ err }, 'read fence not stored'));
  };
}

/** Subscribes and starts the parts in order; the function returned stops them in reverse, each unsubscribed first. */
async function startParts(all: Feature[], bus: EventBus, log: Log): Promise<() => Promise<void>> {
  const unsubscribe = all.map((part) => part.subscribers?.(bus));
  for (const part of all) await part.start?.(log);
  return async () => {
    for (let i = all.length - 1; i >= 0; i--) {
      unsubscribe[i]?.();
      await all[i]!.stop?.();
    }
  };
}

/** The database given (main.ts opens it while the modules load; tests), or one opened from config and migrated. */
async function openMigrated(config: Config, given: Database | undefined): Promise<Database> {
  if (given) return given;
  const database = await openConfigured(config);
  try {
    await database.migrate({ partitions: config.databasePartitions });
  } catch (err) {
    await database.close();
    throw err;
  }
  return database;
}

/** The primary alone, or with the replicas of DATABASE_READ_URLS; users' fences are shared through Redis when there is one. */
async function readRouting(config: Config, database: Database, shared: SharedState, log: Log): Promise<ReadRouting> {
  if (config.databaseReadUrls.length === 0) return primaryOnly(database.db);
  return openReplicas(database.db, {
    urls: config.databaseReadUrls,
    maxLagMs: config.databaseReadMaxLagMs,
    pooler: config.databasePooler,
    fences: shared.redis ? redisFences(shared.redis, config.redisPrefix) : memoryFences(),
    log,
    isOutage,
  });
}

/** One line per distinct Redis failure, not one per reconnect attempt. */
function redisWarnings(log: Pick<Log, 'warn'>): (err: Error) => void {
  let last = '';
  return (err) => {
    if (err.message !== last) log.warn({ err: err.message }, 'redis connection error');
    last = err.message;
  };
}

/** The composition root: config → database → services → parts (routes, then start). main.ts and the tests build the app here. */
export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<App> {
  const database = await openMigrated(config, opts.database);
  const validators = createValidatorCompiler(SHARED_SCHEMAS);
  const http = await createHttpServer(config, validators, opts.logStream ? { logStream: opts.logStream } : {});
  const shared = await createSharedState(config, redisWarnings(http.log));
  const bus = new EventBus((err, event) => http.log.error({ err, event }, 'event handler failed'));
  const replicas = await readRouting(config, database, shared, http.log);
  const services = buildServices(config, database.kind, replicas, bus, shared, http.log, opts.resolve);
  const verifier = createTokenVerifier(config);
  // One write budget per user, spent by REST writes and socket writes alike, on every instance.
  const writeLimiter = shared.limiter('writes', config.rateLimitWritesPerMinute, 60_000);
  const realtime = realtimeFeature(http.server, database.db, {
    config,
    shared,
    verifier,
    writeLimiter,
    ajv: validators.strict,
    bus,
    services,
  });
  const metrics = createMetrics();
  replicas.registerMetrics(metrics.registry);
  const all = parts({ config, database, shared, services, writeLimiter, metrics, http, realtime, webDir: opts.webDir });
  registerMetrics(http, metrics);
  registerHealth(http, database, shared.redis);
  await registerRoutes(http, all, { config, verifier, services, writeLimiter });
  await http.ready();
  const stop = await startParts(all, bus, http.log);
  const { io, chat } = realtime.running();
  let closing: Promise<void> | undefined;
  return { http, database, bus, services, io, chat, shared, close: () => (closing ??= stop()) };
}
