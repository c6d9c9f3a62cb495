import { ConfigError, loadConfig, type Config } from './config.js';
import { pino } from 'pino';
import { openConfigured } from './db/open.js';
import { PartitionsMismatch } from './db/partitions.js';
import { logDestination } from './log-format.js';
import { yieldHelperThreads } from './helper-threads.js';

/**
 * The accept queue asked of the kernel, which caps it at net.core.somaxconn (4096 on current Linux). Node's default
 * of 511 overflowed when 1,000 sockets came back at once after a blip: the kernel dropped the excess handshakes and
 * their clients waited a second for SYN retransmission. Operators size the queue with somaxconn.
 */
const LISTEN_BACKLOG = 65_535;

/** Start: read config, open and migrate the database, listen, and shut down cleanly on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  // Before anything starts a thread of its own (a PGlite worker keeps the loop's priority).
  const lowered = yieldHelperThreads();
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // The database opens and migrates (the embedded server starts, or PGlite's WebAssembly compiles) while the rest of
  // the service's modules load; buildApp gets it ready, so nothing is served before the migrations have run.
  // JSON lines, or readable ones on a terminal (LOG_FORMAT); both loggers share the one destination.
  const logStream = logDestination(config);
  const startLog = logStream ? pino({ level: config.logLevel }, logStream) : pino({ level: config.logLevel });
  const database = openConfigured(config, startLog).then(async (db) => {
    try {
      await db.migrate({ partitions: config.databasePartitions, log: (m) => startLog.info(m) });
    } catch (err) {
      await db.close();
      throw err;
    }
    return db;
  });
  // Awaited below; until then a failure must not count as an unhandled rejection.
  database.catch(() => {});
  const { buildApp } = await import('./app.js');
  const opened = await database;
  // A start that fails after the database opened stops the embedded server too, instead of leaving it to the next start.
  const app = await buildApp(config, { database: opened, ...(logStream ? { logStream } : {}) }).catch(async (err: unknown) => {
    await opened.close().catch(() => {});
    throw err;
  });
  const log = app.http.log;
  await app.http.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }).catch(async (err: unknown) => {
    await app.close().catch(() => {}); // e.g. the port is taken: stop the embedded server with the rest
    throw err;
  });
  log.info({ database: app.database.kind, publicUrl: config.publicUrl }, 'chat service ready');
  if (lowered) log.info({ threads: lowered }, "one core: V8's and libuv's helper threads run at the lowest priority");
  if (config.jwt.generated) {
    log.warn(
      `development JWT secret generated into ${config.dataDir}/jwt-secret; mint a token with: npm run token -- <userId> --name "Ada"`,
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    try {
      await app.close();
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  // A stray rejection in a library (a Redis command cut off by an outage, say) is logged; it must not stop a server
  // that recovers by itself.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  // A database of another shape than the settings say is the operator's to settle: what to do, without a stack.
  const text = err instanceof PartitionsMismatch ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`failed to start: ${text}\n`);
  process.exit(1);
});
