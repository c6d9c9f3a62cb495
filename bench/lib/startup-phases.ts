/**
 * Where an embedded start's time goes, run by the bench in a process of its own:
 *   node --import tsx bench/lib/startup-phases.ts <DATA_DIR>
 * prints JSON: Node + tsx boot, loading the app's module graph (what src/main.ts imports), opening the embedded
 * database on the prepared directory (starting the PostgreSQL server and connecting, or opening PGlite), the migration
 * check, and the rest of buildApp (routes, schemas, Socket.IO) and listen.
 * A diagnostic beside the start-to-ready number, not part of it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

const boot = performance.now();
const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: startup-phases.ts <DATA_DIR>');
// The engine is the one the prepared directory holds, as the bench's run left it (the bench's own environment does not say).
const embeddedEngine = existsSync(path.join(dataDir, 'pg', 'PG_VERSION')) ? 'postgres' : 'pglite';
const t0 = performance.now();
const { buildApp } = await import('../../src/app.js');
const { loadConfig } = await import('../../src/config.js');
const t1 = performance.now();
const { openConfigured } = await import('../../src/db/open.js');
const database = await openConfigured({ databaseUrl: undefined, embeddedEngine, dataDir });
const t2 = performance.now();
await database.migrate();
const t3 = performance.now();
const config = loadConfig({
  ...process.env,
  DATA_DIR: dataDir,
  EMBEDDED_ENGINE: embeddedEngine,
  DATABASE_URL: '',
  LOG_LEVEL: 'silent',
  PORT: '0',
  HOST: '127.0.0.1',
});
const app = await buildApp(config, { database });
const t4 = performance.now();
await app.http.listen({ port: 0, host: '127.0.0.1' });
const t5 = performance.now();
// Closes the database too (and with it stops the embedded server).
await app.close();
process.stdout.write(
  JSON.stringify({
    engine: embeddedEngine,
    nodeAndTsxBootMs: boot,
    importAppMs: t1 - t0,
    // The name predates the embedded server (scenarios/startup.ts reads it): the time to open the embedded database.
    openPgliteMs: t2 - t1,
    migrateMs: t3 - t2,
    buildAppMs: t4 - t3,
    listenMs: t5 - t4,
  }) + '\n',
);
process.exit(0);
